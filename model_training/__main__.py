"""``python -m model_training train|baseline``: the whole path from corpora to the app's bundle."""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from app.adapt import Norm, Population, frames_for, pooled
from app.features import WHISPER, FeatureSettings, hop_frames, window_frames, windows
from app.offline import GATE_SECONDS
from model_training import (
    augment,
    calibration,
    channels,
    corpora,
    crossfit,
    crossval,
    data,
    evaluate,
    splits,
)
from model_training.train import TrainSettings


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.conditions is None:  # not given: every channel, but a cross-validation only if asked
        args.conditions = [] if args.run is cross_validate else list(channels.BY_NAME)
    args.argv = sys.argv[1:] if argv is None else argv
    ours = signal.getsignal(signal.SIGINT) is signal.default_int_handler  # not where ignored
    ours = ours and threading.current_thread() is threading.main_thread()
    if ours:
        STOPPED.clear()
        signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        return int(args.run(args))
    except (corpora.CorpusLayoutError, FileNotFoundError, data.CacheError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except SystemExit:
        raise
    except BaseException:
        if not STOPPED.is_set():
            raise
        print("\n" + stopped_message(args), file=sys.stderr, flush=True)
        return 130
    finally:
        if ours:
            signal.signal(signal.SIGINT, signal.default_int_handler)


# Set by Ctrl-C. A KeyboardInterrupt raised inside TensorFlow can be swallowed there and come out
# as another error (seen: a TypeError from Keras' call context while a model was traced); after
# Ctrl-C any error is its echo, and the user hears that the run was stopped, not a traceback.
STOPPED = threading.Event()


def on_ctrl_c(signum: int, frame: FrameType | None) -> None:
    STOPPED.set()
    signal.default_int_handler(signum, frame)


def stopped_message(args: argparse.Namespace) -> str:
    """What Ctrl-C outside a training's epochs leaves for the next run (inside them, the
    training says which epoch it resumes from)."""
    kept = [
        f"the features and encoder frames computed so far, cached in {data.cache_root(args.cache)}"
    ]
    kept += [
        f"the last finished epoch of a training in {d}" for d in sorted(args.out.glob("**/resume"))
    ]
    if any(args.out.glob(f"crossfit/fold*/{crossfit.SAMPLES_FILE}")):
        kept.append(f"the calibration folds judged so far in {args.out / 'crossfit'}")
    return (
        "Interrupted (Ctrl-C). Kept for the next run: " + "; ".join(kept) + ". "
        "Run the same command again to go on from there."
    )


def crossfit_folds(text: str) -> int:
    """``--crossfit``: 0 (none), or enough folds to test one, validate on one, train on the rest."""
    k = int(text)
    if k < 0 or 0 < k < 3:
        raise argparse.ArgumentTypeError("0, or at least 3 folds (test, validation, training)")
    return k


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="emotion-meter-train", description=__doc__)
    sub = p.add_subparsers(required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--datasets", help=f"corpora folder (default ${corpora.DATASETS_ENV} or ../shared/datasets)"
    )
    common.add_argument("--corpora", nargs="+", help="only these corpora (default: all present)")
    common.add_argument(
        "--labels", choices=["8", "7"], default="8", help="8 RAVDESS emotions, or 7 without calm"
    )
    common.add_argument(
        "--limit", type=int, help="at most this many clips per speaker (quick runs)"
    )
    common.add_argument(
        "--cache", help=f"feature cache folder (default ${data.CACHE_ENV} or .cache)"
    )
    common.add_argument("--workers", type=int, default=2)
    common.add_argument("--out", type=Path, default=Path("runs/latest"), help="run folder")
    common.add_argument(
        "--noise",
        help=f"noise and rooms for training (default ${channels.NOISE_ENV} or ../shared/noise)",
    )
    common.add_argument(
        "--noise-eval",
        default="",
        help="noise and rooms for evaluation only (default "
        f"${channels.NOISE_EVAL_ENV} or ../shared/noise-eval)",
    )
    common.add_argument(
        "--conditions", nargs="*", choices=list(channels.BY_NAME), metavar="CONDITION",
        help="channels the test speakers are also heard through (default all, for crossval "
        "none: hours more; none: --conditions alone): " + ", ".join(channels.BY_NAME),
    )  # fmt: skip

    recipe = argparse.ArgumentParser(add_help=False)  # how training clips are augmented
    recipe.add_argument(
        "--variants",
        type=int,
        default=augment.AugmentSettings.variants,
        help="augmented renderings per training clip",
    )
    recipe.add_argument(
        "--augment",
        nargs="*",
        choices=augment.NAMES,
        default=list(augment.NAMES),
        help="augmentations to use, training clips only (default all; none: --augment alone)",
    )

    fit = argparse.ArgumentParser(add_help=False)  # what the calibration is fitted on
    fit.add_argument(
        "--crossfit", type=crossfit_folds, default=0, metavar="K",
        help="encoder models: fit the temperature on out-of-fold probabilities of every training "
        "and validation speaker (K more heads, minutes each), not on the validation speakers only",
    )  # fmt: skip

    fit.add_argument(
        "--fold-epochs",
        type=int,
        metavar="N",
        help="at most N epochs for the heads --crossfit and --shift train (default: the recipe's)",
    )
    fit.add_argument(
        "--shift", action="store_true",
        help="encoder models: fit how much less sure input unlike the training speech makes the "
        "model, on heads trained with each corpus left out (one more head per corpus)",
    )  # fmt: skip

    t = sub.add_parser(
        "train", parents=[common, recipe, fit], help="train, evaluate and export a bundle"
    )
    t.add_argument(
        "--model",
        choices=["encoder", "cnn"],
        default="encoder",
        help="Whisper-base's encoder with a light head (bundled), or the CNN of the seeds",
    )
    t.add_argument(
        "--layers",
        type=int,
        choices=range(1, 7),
        help="encoder layers (default: the layer whose linear probe scores best on validation)",
    )
    t.add_argument("--epochs", type=int, default=TrainSettings.epochs)
    t.add_argument("--batch-size", type=int, default=TrainSettings.batch_size)
    t.add_argument("--recurrent", choices=["lstm", "bilstm", "bigru"], default="lstm")
    t.add_argument(
        "--feature",
        choices=["mfcc", "logmel"],
        default="logmel",
        help="the CNN's input (logmel, chosen by validation UA); the encoder reads Whisper's",
    )
    t.add_argument(
        "--no-adapt",
        dest="adapt",
        action="store_false",
        help="train on global normalisation only (no speaker-normalised examples)",
    )
    t.add_argument(
        "--time-constant",
        type=float,
        default=TrainSettings.time_constant,
        help="seconds of a speaker's speech after which their statistics weigh half",
    )
    t.add_argument(
        "--init",
        type=Path,
        metavar="MODEL.keras",
        help="continue from this model's weights (e.g. assets/model/emotion.keras) instead of "
        "random ones; the same feature and model settings",
    )
    t.add_argument("--learning-rate", type=float, default=TrainSettings.learning_rate)
    t.add_argument("--baseline", action="store_true", help="also run eGeMAPS+SVM on the split")
    t.add_argument("--bundle", type=Path, help="also copy the bundle here (e.g. assets/model)")
    t.set_defaults(run=train)

    e = sub.add_parser("evaluate", parents=[common], help="re-score a bundle on its test speakers")
    e.add_argument("--bundle", type=Path, default=Path("assets/model"))
    e.add_argument("--baseline", action="store_true", help="add eGeMAPS+SVM on the same split")
    e.add_argument("--compare", nargs="+", default=[], metavar="NAME=BUNDLE",
                   help="other bundles scored the same way (e.g. an earlier model)")  # fmt: skip
    e.set_defaults(run=evaluate_bundle)

    k = sub.add_parser(
        "calibrate", parents=[common, fit],
        help="fit a bundle's calibration and quality thresholds on its validation speakers",
    )  # fmt: skip
    k.add_argument("--bundle", type=Path, default=Path("assets/model"))
    k.set_defaults(run=calibrate_bundle)

    c = sub.add_parser(
        "crossval",
        parents=[common, recipe],
        help="speaker-fold cross-validation of the models and the baseline (hours)",
    )
    c.add_argument("--folds", type=int, default=5)
    c.add_argument("--systems", nargs="+", choices=crossval.SYSTEMS, default=list(crossval.SYSTEMS))
    c.add_argument("--epochs", type=int, default=TrainSettings.epochs)
    c.add_argument("--layers", type=int, choices=range(1, 7), help="encoder layers (default: "
                   "chosen per fold on its validation speakers)")  # fmt: skip
    c.add_argument(
        "--by",
        nargs="+",
        choices=["speaker", "corpus"],
        default=["speaker", "corpus"],
        help="folds of speakers (each RAVDESS/EmoDB speaker tested once) and/or of corpora (each "
        "left out once: encoder and baseline)",
    )
    c.add_argument("--report", type=Path, help="also copy crossval.md here (e.g. assets/model)")
    c.set_defaults(run=cross_validate)

    b = sub.add_parser("baseline", parents=[common], help="eGeMAPS functionals + SVM only")
    b.set_defaults(run=baseline)

    v = sub.add_parser(
        "personal-eval",
        parents=[common],
        help="cold vs personal voice (emotion-meter personalise) on the bundle's test speakers",
    )
    v.add_argument("--bundle", type=Path, default=Path("assets/model"))
    v.add_argument("--takes", type=int, nargs="+", default=[1, 2, 3], metavar="K")
    v.add_argument("--draws", type=int, default=3, help="random draws of the enrolment takes")
    v.add_argument("--report", type=Path, help="write personal.{json,md} here (default: --bundle)")
    v.set_defaults(run=personal_evaluation)
    s = sub.add_parser(
        "speechcheck", parents=[common],
        help="fit a bundle's speech/non-speech check on corpus speech and the training noise",
    )  # fmt: skip
    s.add_argument("--bundle", type=Path, default=Path("assets/model"))
    s.set_defaults(run=speech_check)
    return p


def personal_evaluation(args: argparse.Namespace) -> int:
    """How much a personal voice gains on each withheld test speaker of the bundle."""
    from app import bundle as bundles
    from app import personal
    from app.engine import Engine
    from model_training import personal_eval

    b = bundles.load(args.bundle)
    tested = set(b.meta.get("training", {}).get("test_speakers", []))
    scan = corpora.read_corpora(
        corpora.datasets_root(args.datasets), args.corpora or personal_eval.CORPORA, b.labels
    )
    clips = [c for c in scan.clips if c.speaker in tested]
    if not clips:
        print("error: none of the bundle's test speakers is in the corpora", file=sys.stderr)
        return 2
    cache = data.cache_root(args.cache) / "personal" / f"{personal.model_id(b)[:16]}.npz"
    results = personal_eval.run(clips, Engine(b), cache, args.takes, args.draws)
    command = "emotion-meter-train " + " ".join(args.argv)
    personal_eval.write(results, args.report or b.path, command.strip())
    print(personal_eval.markdown(results, command.strip()))
    return 0


def speech_check(args: argparse.Namespace) -> int:
    """Fit the check that flags sound that is not speech, into the bundle's description."""
    from app import bundle as bundles
    from model_training import speechcheck

    found = speechcheck.gather(
        corpora.datasets_root(args.datasets), channels.shared_root(False, args.noise),
        bundles.load(args.bundle), args.limit or speechcheck.PER_SPEAKER,
    )  # fmt: skip
    block = speechcheck.fit(found)
    speechcheck.write(args.bundle, block)
    block["evaluation"].update(speechcheck.judged(args.bundle, found.test_paths))
    print(json.dumps(block["evaluation"], indent=1))
    print(f"written to {speechcheck.write(args.bundle, block)}")
    return 0


def load_split(args: argparse.Namespace) -> tuple[tuple[str, ...], corpora.Scan, splits.Split]:
    labels = corpora.LABELS8 if args.labels == "8" else corpora.LABELS7
    scan = corpora.read_corpora(corpora.datasets_root(args.datasets), args.corpora, labels)
    print(scan.summary())
    clips = limit_per_speaker(scan.clips, args.limit) if args.limit else scan.clips
    split = splits.by_speaker(clips)
    print(split.describe(labels))
    return labels, scan, split


def limit_per_speaker(clips: list[corpora.Clip], n: int) -> list[corpora.Clip]:
    """``n`` clips of each speaker spread over their list (so over labels), for quick runs."""
    by_speaker: dict[str, list[corpora.Clip]] = {}
    for c in clips:
        by_speaker.setdefault(c.speaker, []).append(c)
    picked = set()
    for group in by_speaker.values():
        picked.update(
            group[i] for i in np.linspace(0, len(group) - 1, min(n, len(group))).astype(int)
        )
    return [c for c in clips if c in picked]


def git_revision() -> str:
    """The code's revision, with ``+`` when the tree had uncommitted changes."""
    try:

        def git(*a: str) -> str:
            return subprocess.run(["git", *a], capture_output=True, text=True, check=True,
                                  cwd=Path(__file__).parent).stdout.strip()  # fmt: skip

        return git("rev-parse", "--short", "HEAD") + ("+" if git("status", "--porcelain") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def train_settings(args: argparse.Namespace) -> TrainSettings:
    from model_training.encoder_run import HOP_SECONDS

    return TrainSettings(
        hop_seconds=HOP_SECONDS if args.model == "encoder" else TrainSettings.hop_seconds,
        epochs=args.epochs,
        batch_size=args.batch_size,
        recurrent=args.recurrent,
        adapt=args.adapt and args.model == "cnn",
        time_constant=args.time_constant,
        learning_rate=args.learning_rate,
    )


def train(args: argparse.Namespace) -> int:
    if args.model == "encoder":
        return train_encoder(args)
    if args.crossfit:
        print("error: --crossfit retrains encoder models' heads, not the CNN", file=sys.stderr)
        return 2
    revision = git_revision()  # at the start: the code that trains, not what landed meanwhile
    labels, scan, split = load_split(args)
    features = FeatureSettings(kind=args.feature)
    augmenting = replace(augment.only(args.augment, args.variants), sounds=args.noise or "")
    settings = train_settings(args)
    start = None
    if args.init:
        from model_training import model as models

        start = models.load(args.init)
    cache = data.cache_root(args.cache) / "features"
    train_set = data.extract(split.train, features, augmenting, cache, args.workers)
    val_set = data.extract(split.val, features, None, cache, args.workers)
    test_set = data.extract(split.test, features, None, cache, args.workers)
    skipped = scan.skipped + train_set.skipped + val_set.skipped + test_set.skipped
    for path, why in skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    if skipped:
        print(f"{len(skipped)} clips skipped (reasons above); training goes on without them")

    from model_training import export
    from model_training import train as training

    size = window_frames(features, settings.window_seconds)
    hop = hop_frames(features, settings.hop_seconds)
    frame = (size, hop, hop_frames(features, GATE_SECONDS))
    train_moments = train_set.moments(*frame)
    population = data.statistics(train_set.clean, train_moments)
    mean, std = population.mean, population.std
    prior = frames_for(features, settings.time_constant)
    voices = data.Voices(train_set.clips, train_moments, population, prior)
    fill = data.silence(features)
    model = training.fit(
        train_set,
        val_set,
        labels,
        features,
        fill,
        voices,
        modes(val_set, frame, population, prior) if settings.adapt else cold(val_set, population),
        augmenting,
        settings,
        args.out,
        start,
    )
    report: dict[str, Any] = {
        **test_scores(
            model, test_set, labels, size, hop, fill, modes(test_set, frame, population, prior)
        ),
        "training": {
            **provenance(scan, split, train_set, labels, settings, augmenting, skipped, revision),
            "initialised_from": str(args.init) if args.init else None,
        },
    }
    if args.baseline:
        report["baselines"] = run_baselines(split, labels, args)
    check = np.concatenate([windows(x, size, hop, fill)[:2] for x in test_set.clean[:16]])
    bundle = export.export(
        model,
        args.out,
        labels,
        features,
        settings.window_seconds,
        settings.hop_seconds,
        mean,
        std,
        {
            "training": report["training"],
            "evaluation": summary(report),
            "adaptation": {
                "time_constant": settings.time_constant,
                "trained": settings.adapt,
                "speech_mean": population.speech_mean.tolist(),
                "scope": "mean over the speech frames of the training speakers",
            },
        },
        (check - mean) / std,
    )
    evaluate.write_report(report, args.out)
    print(evaluate.markdown(report))
    if args.bundle:
        copy_bundle(args.out, args.bundle)
    print(f"bundle written to {bundle.path}" + (f" and {args.bundle}" if args.bundle else ""))
    return 0


def train_encoder(args: argparse.Namespace) -> int:
    """The bundled model: Whisper-base's encoder (frozen) and a head trained on its cached
    output; the number of layers chosen on the validation speakers."""
    from app import bundle as bundles
    from model_training import encoder_run as er
    from model_training import export
    from model_training import model as models

    revision = git_revision()
    labels, scan, split = load_split(args)
    augmenting = replace(augment.only(args.augment, args.variants), sounds=args.noise or "")
    settings = train_settings(args)
    cache = data.cache_root(args.cache)
    encoders = er.Encoders(settings)
    start = models.load(args.init) if args.init else None
    train_set = er.features(split.train, augmenting, cache, args.workers)
    val_set = er.features(split.val, None, cache, args.workers)
    test_set = er.features(split.test, None, cache, args.workers)
    skipped = scan.skipped + train_set.skipped + val_set.skipped + test_set.skipped
    for path, why in skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    probe = None
    layers = args.layers
    if layers is None:
        layers, probe = er.choose_layers(train_set, val_set, labels, encoders, cache)
    print(f"encoder layers: {layers}")
    encoder = er.encoder_meta(layers, probe, encoders)
    enc = {
        part: er.encode(f, encoders, layers, augmenting if part == "train" else None, cache)
        for part, f in (("train", train_set), ("val", val_set), ("test", test_set))
    }
    head = er.train_head(enc["train"], enc["val"], labels, augmenting, settings, args.out, start)
    # adapting to the speaker shifts the encoder's input: kept only if it helps on validation
    frame = (encoders.size, encoders.hops[0], hop_frames(WHISPER, GATE_SECONDS))
    zeros = np.zeros(WHISPER.n_features, np.float32)
    speech = pooled(train_set.moments(*frame)).mean.astype(np.float32)
    population = Population(zeros, zeros + 1, speech)
    prior = frames_for(WHISPER, settings.time_constant)
    norms = {
        part: modes(f, frame, population, prior)
        for part, f in (("val", val_set), ("test", test_set))
    }
    val_ua = {
        "cold": ua(enc["val"].clips, er.predict(head, enc["val"]), labels),
        "adapted": ua(val_set.clips, er.predict_normalised(
            head, val_set, norms["val"]["adapted"], encoders, layers), labels),
    }  # fmt: skip
    adapts = val_ua["adapted"] > val_ua["cold"]
    print(f"validation UA cold {val_ua['cold']:.3f}, adapted {val_ua['adapted']:.3f}: "
          f"adaptation {'kept' if adapts else 'off'}")  # fmt: skip
    report: dict[str, Any] = {
        "test": evaluate.score_clips(enc["test"].clips, er.predict(head, enc["test"]), labels),
        "test_adapted": evaluate.score_clips(test_set.clips, er.predict_normalised(
            head, test_set, norms["test"]["adapted"], encoders, layers), labels),
        "training": {
            **provenance(scan, split, train_set, labels, settings, augmenting, skipped, revision),
            "initialised_from": str(args.init) if args.init else None,
            "model": "encoder",
            "val_ua": val_ua,
            "encoder": encoder,
        },
    }  # fmt: skip
    report["test_adapted"]["adaptation"] = float(
        np.mean([n.weight for n in norms["test"]["adapted"]])
    )
    if args.baseline:
        report["baselines"] = run_baselines(split, labels, args)
    model = er.full_model(head, encoders, layers, labels)
    fill = data.silence(WHISPER)
    check = np.concatenate([windows(x, encoders.size, encoders.hops[0], fill)[:2]
                            for x in test_set.clean[:8]])  # fmt: skip
    bundle = export.export(
        model, args.out, labels, WHISPER, settings.window_seconds, settings.hop_seconds,
        zeros, zeros + 1,
        {
            "training": report["training"],
            "evaluation": summary(report),
            "encoder": encoder,
            "adaptation": {
                "time_constant": settings.time_constant,
                "trained": adapts,
                "speech_mean": speech.tolist(),
                "scope": "mean Whisper log-mel over the speech frames of the training speakers; "
                f"used when it helped on validation (UA cold {val_ua['cold']:.3f}, adapted "
                f"{val_ua['adapted']:.3f})",
            },
        },
        check, head=head, encoder=encoders.model(layers),
    )  # fmt: skip
    report["training"]["calibration"] = calibrate(bundle, split, labels, args)
    report["calibration"] = report["training"]["calibration"]
    bundle = bundles.load(args.out)
    report["test"] = bundle_scores(bundle, split.test, labels, args)  # calibrated, as the app
    report["robustness"] = heard(args, split, labels, {"this model": bundle},
                                 report.get("baselines"))  # fmt: skip
    evaluate.atomic_write(
        args.out / bundles.META_FILE,
        json.dumps({**bundle.meta, "evaluation": summary(report)}, indent=1),
    )
    evaluate.write_report(report, args.out)
    print(evaluate.markdown(report))
    if args.bundle:
        copy_bundle(args.out, args.bundle)
    print(f"bundle written to {bundle.path}" + (f" and {args.bundle}" if args.bundle else ""))
    return 0


def bundle_scores(
    b: Any, clips: list[corpora.Clip], labels: tuple[str, ...], args: argparse.Namespace
) -> dict[str, Any]:
    """A bundle's clip-level figures, calibrated as the app shows them."""
    from model_training import robustness

    run = robustness.bundle_system(b, clips, data.cache_root(args.cache), args.workers)
    scored, windows = run(None)
    probs = calibration.clip_probabilities(windows, b.temperature)
    return evaluate.score_clips(scored, probs, labels)


def heard(
    args: argparse.Namespace,
    split: splits.Split,
    labels: tuple[str, ...],
    bundles: dict[str, Any],
    baselines: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Each bundle and the baselines on the test speakers clean and through every condition."""
    from model_training import robustness

    if not args.conditions:
        return None
    cache = data.cache_root(args.cache)
    systems = {
        name: (robustness.bundle_system(b, split.test, cache, args.workers, args.noise_eval),
               b.temperature)
        for name, b in bundles.items()
    }  # fmt: skip
    first = next(iter(bundles.values()))
    if first.encoder is not None and first.adapt_seconds:  # does adapting still help?
        adapted = robustness.bundle_system(first, split.test, cache, args.workers,
                                           args.noise_eval, adapted=True)  # fmt: skip
        systems = {**dict(list(systems.items())[:1]),
                   f"{next(iter(bundles))}, adapted": (adapted, first.temperature),
                   **dict(list(systems.items())[1:])}  # fmt: skip
    table = robustness.score(systems, labels, args.conditions)
    for result in (baselines or {}).values():
        if not result["speaker_norm"]:  # cold, as the models are
            table["eGeMAPS+SVM"] = {robustness.CLEAN: result["test"], **result["conditions"]}
    return table


def modes(
    features: data.Features,
    frame: tuple[int, int, int],
    population: Population,
    prior: float,
) -> dict[str, list[Norm]]:
    """Each clip's normalisation cold, and adapted to its speaker from their *other* clips;
    ``frame`` is the window, hop and gate length in frames."""
    voices = data.Voices(features.clips, features.moments(*frame), population, prior)
    return {"cold": [voices.cold] * len(features.clips), "adapted": voices.left_out()}


def cold(features: data.Features, population: Population) -> dict[str, list[Norm]]:
    return {"cold": [population.cold] * len(features.clips)}


def test_scores(
    model: Any,
    test_set: data.Features,
    labels: tuple[str, ...],
    size: int,
    hop: int,
    fill: np.ndarray,
    norms: dict[str, list[Norm]],
) -> dict[str, Any]:
    """The model's clip-level figures on the held-out speakers: ``test`` cold, ``test_adapted``
    with each clip normalised by its speaker's other clips."""
    from model_training import model as models
    from model_training import train as training

    out = {}
    for mode, key in (("cold", "test"), ("adapted", "test_adapted")):
        probs = training.predict_clips(
            models.classifier(model), test_set.clean, size, hop, fill, norms[mode]
        )
        out[key] = evaluate.score_clips(test_set.clips, probs, labels)
        out[key]["adaptation"] = float(np.mean([n.weight for n in norms[mode]]))
    return out


def evaluate_bundle(args: argparse.Namespace) -> int:
    """Re-score a bundle's Keras model on the held-out speakers it was tested on."""
    import keras

    from app import bundle as bundles

    b = bundles.load(args.bundle)
    args.labels = "8" if "calm" in b.labels else "7"
    labels, _, split = load_split(args)
    trained = b.meta.get("training", {})
    if split.speakers("test") != trained.get("test_speakers"):
        print("error: this split's test speakers differ from the bundle's", file=sys.stderr)
        return 2
    if b.encoder is not None:
        report = {"test": bundle_scores(b, split.test, labels, args), "training": trained}
    else:
        model = keras.models.load_model(b.keras_path, safe_mode=True)
        test_set = data.extract(
            split.test, b.features, None, data.cache_root(args.cache) / "features", args.workers
        )
        fill = data.silence(b.features)
        prior = frames_for(b.features, b.adapt_seconds or TrainSettings.time_constant)
        hop = hop_frames(b.features, b.hop_seconds)
        frame = (b.window_frames, hop, hop_frames(b.features, GATE_SECONDS))
        report = {
            **test_scores(
                model,
                test_set,
                labels,
                b.window_frames,
                hop,
                fill,
                modes(test_set, frame, b.population, prior),
            ),
            "training": trained,
        }
    if args.baseline:
        report["baselines"] = run_baselines(split, labels, args)
    others = dict(pair.split("=", 1) if "=" in pair else (Path(pair).name, pair)
                  for pair in args.compare)  # fmt: skip
    bundles_ = {"this model": b, **{k: bundles.load(Path(v)) for k, v in others.items()}}
    report["robustness"] = heard(args, split, labels, bundles_, report.get("baselines"))
    if not b.quality.empty and args.conditions:
        from app.engine import Engine
        from model_training import robustness

        report["flags"] = robustness.flag_rates(Engine(b), split.test)
    meta = {**b.meta, "evaluation": summary(report)}
    report["calibration"] = b.meta.get("calibration")
    evaluate.write_report(report, b.path)
    evaluate.atomic_write(b.path / bundles.META_FILE, json.dumps(meta, indent=1))
    print(evaluate.markdown(report))
    return 0


def calibrate_bundle(args: argparse.Namespace) -> int:
    from app import bundle as bundles

    b = bundles.load(args.bundle)
    args.labels = "8" if "calm" in b.labels else "7"
    labels, _, split = load_split(args)
    if split.speakers("val") != b.meta.get("training", {}).get("val_speakers"):
        print("error: this split's validation speakers differ from the bundle's", file=sys.stderr)
        return 2
    if args.crossfit and b.encoder is None:
        print("error: --crossfit retrains encoder models' heads; this bundle is a CNN",
              file=sys.stderr)  # fmt: skip
        return 2
    block = calibrate(b, split, labels, args)
    print(f"temperature {block['temperature']:.3f} (fitted {block['fitted_temperature']:.3f}, "
          f"{'kept' if block['kept'] else 'not kept: it did not carry over between speakers'}): "
          f"validation ECE clean "
          f"{block['val_ece_uncalibrated']:.3f} -> {block['val_ece']:.3f}, through channels "
          f"{block['val_ece_all_uncalibrated']:.3f} -> {block['val_ece_all']:.3f}; uncertain "
          f"below {block['uncertain_below']:.2f}")  # fmt: skip
    q = block["quality"]
    print("quality thresholds: " + ", ".join(
        f"{k} {q[k]:.4g}" for k in ("too_quiet_db", "noisy_snr_db", "clipping", "narrowband_hz")
    ))  # fmt: skip
    return 0


def calibrate(
    b: Any, split: splits.Split, labels: tuple[str, ...], args: argparse.Namespace
) -> dict[str, Any]:
    """Fit on the validation speakers, clean and through channels of training recordings, and
    write into the bundle: the quality thresholds, the temperature (on every copy's speech
    windows, as the app averages them) and the top probability under which no emotion is
    clearly ahead."""
    from dataclasses import replace as changed

    from app import bundle as bundles
    from app import familiar as app_familiar
    from app.engine import Engine
    from model_training import crossfit, familiar, limits

    sounds = channels.Sounds.read(channels.shared_root(evaluation=False, path=args.noise))
    raw = Engine(changed(b, temperature=1.0, familiarity=None))  # as trained, uncalibrated
    known = limit_per_speaker(split.train, limits.CLEAN_PER_SPEAKER)  # each studio's floor
    quality, samples = limits.find(raw, split.val, labels, sounds, known)
    every = [x for step in samples.values() for x in step]
    if args.crossfit:  # out of fold: every training and validation speaker, each a new voice once
        fit_on, fit_far = crossfit.samples(b, split.train + split.val, labels,
                                           data.cache_root(args.cache), args.workers,
                                           args.out / "crossfit", args.crossfit,
                                           args.fold_epochs)  # fmt: skip
        source = (f"out-of-fold windows of the split's {len({s for _, _, s in fit_on})} "
                  f"training and validation speakers ({args.crossfit} folds of the bundle's recipe "
                  "without them; clean and the recipe's augmented renderings)")  # fmt: skip
    else:
        fit_on, fit_far = every, []
        source = ("the validation speakers' speech windows (as the app takes them), clean and "
                  "through every step of the quality sweeps")  # fmt: skip
    windows, truth = [w for w, _, _ in fit_on], [y for _, y, _ in fit_on]
    fitted = calibration.fit_temperature(windows, truth)
    # kept only if a temperature fitted on the other speakers helps each one
    kept = calibration.transfers(windows, truth, [v for _, _, v in fit_on])
    t = fitted if kept else 1.0
    clean_w, clean_t = [w for w, _, _ in samples["clean"]], [y for _, y, _ in samples["clean"]]
    val_w, val_t = [w for w, _, _ in every], [y for _, y, _ in every]

    def ece(w: list, truth: list, temperature: float = 1.0) -> float:
        return calibration.ece(calibration.clip_probabilities(w, temperature), truth)

    block = {
        "temperature": t,
        "fitted_temperature": fitted,
        "kept": kept,
        "uncertain_below": limits.uncertain_below(
            calibration.clip_probabilities(windows, t), truth
        ),
        "method": "temperature scaling of every window's probabilities before a clip's are "
        f"averaged, fitted by log-likelihood on {source}; kept only if, fitted without each of "
        "those speakers in turn, it lowers that speaker's ECE on average",
        "fitted_on_clips": len(windows),
        "fitted_on_ece": ece(windows, truth, t),
        "fitted_on_ece_floor": calibration.ece_floor(calibration.clip_probabilities(windows, t)),
        "val_ece_uncalibrated": ece(clean_w, clean_t),
        "val_ece": ece(clean_w, clean_t, t),
        "val_ece_all_uncalibrated": ece(val_w, val_t),
        "val_ece_all": ece(val_w, val_t, t),
    }
    meta = {**b.meta, "calibration": block, "quality": quality}
    if b.encoder is not None:  # how far input lies from what it learnt (encoder statistics)
        reference = crossfit.reference(b, split, data.cache_root(args.cache), args.workers)
        if args.shift:  # how much less sure a new corpus should make it: corpora left out
            shifted, far = crossfit.corpora(b, split.train + split.val, labels,
                                            data.cache_root(args.cache), args.workers,
                                            args.out / "crossfit-corpora",
                                            args.fold_epochs)  # fmt: skip
            both = fit_on + shifted if args.crossfit else shifted  # with new voices of known ones
            distances = fit_far + far if args.crossfit else far
            slope = familiar.fit_slope([w for w, _, _ in both], distances,
                                       [y for _, y, _ in both], t)  # fmt: skip
            reference = changed(reference, slope=slope)
            block["shift"] = shift_scores(shifted, far, t, reference)
        content = reference.arrays()
        evaluate.atomic_write(b.path / app_familiar.FILE, content)
        meta["files"] = {
            **b.meta.get("files", {}),
            app_familiar.FILE: {"sha256": hashlib.sha256(content).hexdigest()},
        }
        meta["familiarity"] = {**reference.meta(), "method": familiar.METHOD}  # fmt: skip
    evaluate.atomic_write(b.path / bundles.META_FILE, json.dumps(meta, indent=1))
    return {**block, "quality": quality, "familiarity": meta.get("familiarity")}


def shift_scores(
    shifted: list, far: list, base: float, reference: Any
) -> dict[str, dict[str, float]]:
    """Per corpus left out (clean clips, each judged by a head that never heard that corpus):
    accuracy, mean top probability and ECE raw, at the base temperature and at the distance's
    temperature, and how many clips the unfamiliar flag marks."""
    from model_training import familiar

    out = {}
    corpus = np.array([s.split(":")[0] for _, _, s in shifted])
    for name in sorted(set(corpus.tolist())):
        rows = np.flatnonzero(corpus == name)
        w, d = [shifted[i][0] for i in rows], [far[i] for i in rows]
        y = [shifted[i][1] for i in rows]
        tempered = familiar.clip_probabilities(w, d, base, reference.slope)
        out[name] = {
            "clips": len(rows),
            "accuracy": float(np.mean(tempered.argmax(axis=1) == np.array(y))),
            "confidence_raw": float(calibration.clip_probabilities(w).max(axis=1).mean()),
            "confidence": float(tempered.max(axis=1).mean()),
            "ece_raw": calibration.ece(calibration.clip_probabilities(w), y),
            "ece_base": calibration.ece(calibration.clip_probabilities(w, base), y),
            "ece": calibration.ece(tempered, y),
            "unfamiliar": float(np.mean([np.median(x) > reference.unfamiliar_above for x in d])),
        }
    return out


def cross_validate(args: argparse.Namespace) -> int:
    labels = corpora.LABELS8 if args.labels == "8" else corpora.LABELS7
    scan = corpora.read_corpora(corpora.datasets_root(args.datasets), args.corpora, labels)
    print(scan.summary())
    clips = limit_per_speaker(scan.clips, args.limit) if args.limit else scan.clips
    runner = crossval.Runner(
        clips, labels, TrainSettings(epochs=args.epochs),
        replace(augment.only(args.augment, args.variants), sounds=args.noise or ""),
        data.cache_root(args.cache), args.out,
        args.workers, args.layers, args.conditions, args.noise_eval,
        "emotion-meter-train " + " ".join(args.argv), crossval.known(args.report),
    )  # fmt: skip
    if "speaker" in args.by:
        crossval.run(clips, labels, args.folds, args.systems, runner)
    if "corpus" in args.by:
        crossval.run_corpora(clips, labels, args.folds, args.systems, runner)
    print((args.out / crossval.RESULTS_MD).read_text())
    if args.report:
        import shutil

        args.report.mkdir(parents=True, exist_ok=True)
        for name in (crossval.RESULTS_MD, crossval.RESULTS_JSON):
            shutil.copy2(args.out / name, args.report / name)
        beside = args.report / evaluate.REPORT_JSON
        if beside.exists():  # its report.md cites the cross-validation when of its recipe
            evaluate.write_report(json.loads(beside.read_text()), args.report)
    return 0


def ua(clips: list[corpora.Clip], probs: np.ndarray, labels: tuple[str, ...]) -> float:
    return float(evaluate.score_clips(clips, probs, labels)["pooled"]["ua"])


def baseline(args: argparse.Namespace) -> int:
    labels, _, split = load_split(args)
    from model_training import baseline as svm

    result = run_baselines(split, labels, args)
    print(f"written to {svm.write(result, args.out)}")
    for name, r in result.items():
        s = r["test"]["pooled"]
        print(
            f"{name}: accuracy {s['accuracy']:.3f}  UA {s['ua']:.3f}  macro-F1 {s['macro_f1']:.3f}"
        )
    return 0


def run_baselines(split: splits.Split, labels: tuple[str, ...], args: argparse.Namespace) -> dict:
    """eGeMAPS+SVM on the same split, cold and with each speaker's own statistics."""
    from model_training import baseline as svm

    cache = data.cache_root(args.cache) / "egemaps"
    out = {}
    for name, norm in (("egemaps_svm", False), ("egemaps_svm_speaker_norm", True)):
        result = svm.run(split, labels, cache, speaker_norm=norm, workers=args.workers,
                         conditions=args.conditions, sounds=args.noise_eval)  # fmt: skip
        result["test"] = svm.pooled_and_by_corpus(result["test"])
        result["conditions"] = {
            c: svm.pooled_and_by_corpus(r) for c, r in result["conditions"].items()
        }
        out[name] = result
    return out


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The headline figures the bundle carries (the full report sits beside it)."""

    def pick(s: dict[str, Any]) -> dict[str, Any]:
        return {k: s[k] for k in ("clips", "accuracy", "ua", "macro_f1")}

    out: dict[str, Any] = {"test_speakers": report["test"]["speakers"]}
    for key in ("test", "test_adapted"):
        if key in report:
            test = report[key]
            out[key] = {
                "pooled": pick(test["pooled"]),
                **{k: pick(v) for k, v in test["by_corpus"].items()},
            }
    for name, r in report.get("baselines", {}).items():
        out[name] = {"pooled": pick(r["test"]["pooled"])}
    return out


def provenance(
    scan: corpora.Scan,
    split: splits.Split,
    train_set: data.Features,
    labels: tuple[str, ...],
    settings: TrainSettings,
    augmenting: augment.AugmentSettings,
    skipped: list[tuple[Path, str]],
    revision: str,
) -> dict[str, Any]:
    return {
        "corpora": sorted({c.corpus for c in scan.clips}),
        "clips": len(train_set.clips),
        "speakers": split.speakers("train"),
        "val_speakers": split.speakers("val"),
        "test_speakers": split.speakers("test"),
        "labels": list(labels),
        "excluded": dict(scan.excluded),
        "skipped": len(skipped),
        "settings": settings.to_dict(),
        "augment": augmenting.to_dict(),
        "revision": revision,
        "date": datetime.date.today().isoformat(),
    }


def copy_bundle(run: Path, target: Path) -> None:
    import shutil

    from model_training.evaluate import CONFUSION_PNG, REPORT_JSON, REPORT_MD

    target.mkdir(parents=True, exist_ok=True)
    from model_training.robustness import PLOT, RELIABILITY_PLOT

    names = ("emotion.tflite", "encoder.tflite", "familiar.npz", "emotion.keras", "emotion.json",
             REPORT_JSON, REPORT_MD, CONFUSION_PNG, PLOT, RELIABILITY_PLOT)  # fmt: skip
    for name in names:
        if (run / name).exists():
            shutil.copy2(run / name, target / name)


if __name__ == "__main__":
    sys.exit(main())
