"""The runs behind ``emotion-meter-train``: each takes its settings and returns what it reported.

``__main__`` only turns the command line into these settings; a run prints as it goes and
writes its files, as the subcommand of the same name does.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from app import atomic, personal
from app import bundle as bundles
from app import familiar as app_familiar
from app.adapt import Norm, Population, frames_for, pooled
from app.engine import Engine
from app.features import WHISPER, FeatureSettings, windows
from model_training import (
    augment,
    calibration,
    channels,
    corpora,
    crossfit,
    crossval,
    data,
    export,
    familiar,
    limits,
    personal_eval,
    robustness,
    speechcheck,
    splits,
)
from model_training import baseline as svm
from model_training import encoder_run as er
from model_training import model as models
from model_training import report as reports
from model_training import train as training
from model_training.scoring import score_clips, summary, ua
from model_training.train import TrainSettings, modes


class Refused(ValueError):
    """A run that cannot go on with what it was given; the message says why."""


@dataclass(frozen=True, kw_only=True)
class Sources:
    """What every subcommand reads and where it writes: the options they share."""

    datasets: str | None  # corpora folder (None: $EMOTION_METER_DATASETS or the default)
    corpora: Sequence[str] | None  # only these corpora (None: all present)
    labels: str  # "8" RAVDESS emotions, or "7" without calm
    limit: int | None  # at most this many clips per speaker
    cache: str | None
    workers: int
    out: Path
    noise: str | None  # noise and rooms for training
    noise_eval: str  # noise and rooms for evaluation only
    conditions: Sequence[str]  # channels the test speakers are also heard through
    command: str  # as typed, recorded in reports


@dataclass(frozen=True, kw_only=True)
class Fitting(Sources):
    """What a bundle's calibration is fitted on."""

    crossfit: int  # folds of out-of-fold probabilities (0: the validation speakers only)
    fold_epochs: int | None  # at most this many epochs for those heads
    shift: bool  # also fit the temperature's growth on heads with a corpus left out


@dataclass(frozen=True, kw_only=True)
class Training(Fitting):
    settings: TrainSettings
    augmenting: augment.AugmentSettings
    model: str  # "encoder" (bundled) or "cnn"
    layers: int | None  # encoder layers (None: chosen by the probe on validation)
    feature: str  # the CNN's input
    init: Path | None  # a model whose weights training continues from
    baseline: bool  # also eGeMAPS+SVM on the split
    bundle: Path | None  # also copy the bundle here


@dataclass(frozen=True, kw_only=True)
class Evaluation(Sources):
    bundle: Path
    baseline: bool
    compare: Sequence[str]  # NAME=BUNDLE (or a path) of other bundles scored the same way


@dataclass(frozen=True, kw_only=True)
class Calibrating(Fitting):
    bundle: Path


@dataclass(frozen=True, kw_only=True)
class CrossValidation(Sources):
    settings: TrainSettings
    augmenting: augment.AugmentSettings
    folds: int
    systems: Sequence[str]
    layers: int | None  # encoder layers (None: chosen per fold)
    by: Sequence[str]
    report: Path | None  # also copy crossval.md here


@dataclass(frozen=True, kw_only=True)
class Personal(Sources):
    bundle: Path
    takes: Sequence[int]
    draws: int
    report: Path | None  # where personal.{json,md} go (None: the bundle)


@dataclass(frozen=True, kw_only=True)
class SpeechCheck(Sources):
    bundle: Path


def train(s: Training) -> dict[str, Any]:
    """Train, evaluate and export a bundle (``train``): the encoder model, or the CNN."""
    if s.model == "encoder":
        return train_encoder(s)
    if s.crossfit:
        raise Refused("--crossfit retrains encoder models' heads, not the CNN")
    revision = git_revision()  # at the start: the code that trains, not what landed meanwhile
    labels, scan, split = load_split(s)
    features = FeatureSettings(kind=s.feature)
    settings = s.settings
    start = models.load(s.init) if s.init else None
    cache = data.cache_root(s.cache) / "features"
    train_set = data.extract(split.train, features, s.augmenting, cache, s.workers)
    val_set = data.extract(split.val, features, None, cache, s.workers)
    test_set = data.extract(split.test, features, None, cache, s.workers)
    skipped = scan.skipped + train_set.skipped + val_set.skipped + test_set.skipped
    for path, why in skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    if skipped:
        print(f"{len(skipped)} clips skipped (reasons above); training goes on without them")

    cnn = training.fit_cnn(train_set=train_set, val_set=val_set, labels=labels, features=features,
                           augmenting=s.augmenting, settings=settings, out_dir=s.out,
                           start=start)  # fmt: skip
    size, hop = cnn.windowing.size, cnn.windowing.hop
    population = cnn.population
    mean, std = population.mean, population.std
    report: dict[str, Any] = {
        **test_scores(
            cnn.model, test_set, labels, size, hop, cnn.fill,
            modes(test_set, cnn.windowing, population, cnn.prior),
        ),
        "training": {
            **provenance(scan, split, train_set, labels, settings, s.augmenting, skipped, revision),
            "initialised_from": str(s.init) if s.init else None,
        },
    }  # fmt: skip
    if s.baseline:
        report["baselines"] = run_baselines(split, labels, s)
    check = np.concatenate([windows(x, size, hop, cnn.fill)[:2] for x in test_set.clean[:16]])
    bundle = export.export(
        cnn.model,
        s.out,
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
    return published(report, bundle.path, s)


def train_encoder(s: Training) -> dict[str, Any]:
    """The bundled model: Whisper-base's encoder (frozen) and a head trained on its cached
    output; the number of layers chosen on the validation speakers."""
    revision = git_revision()
    labels, scan, split = load_split(s)
    augmenting, settings = s.augmenting, s.settings
    cache = data.cache_root(s.cache)
    encoders = er.Encoders(settings)
    start = models.load(s.init) if s.init else None
    train_set = er.features(split.train, augmenting, cache, s.workers)
    val_set = er.features(split.val, None, cache, s.workers)
    test_set = er.features(split.test, None, cache, s.workers)
    skipped = scan.skipped + train_set.skipped + val_set.skipped + test_set.skipped
    for path, why in skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    probe = None
    layers = s.layers
    if layers is None:
        layers, probe = er.choose_layers(train_set, val_set, labels, encoders, cache)
    print(f"encoder layers: {layers}")
    encoder = er.encoder_meta(layers, probe, encoders)
    enc = {
        part: er.encode(f, encoders, layers, augmenting if part == "train" else None, cache)
        for part, f in (("train", train_set), ("val", val_set), ("test", test_set))
    }
    head = er.train_head(enc["train"], enc["val"], labels, augmenting, settings, s.out, start)
    # adapting to the speaker shifts the encoder's input: kept only if it helps on validation
    windowing = encoders.windowing
    zeros = np.zeros(WHISPER.n_features, np.float32)
    speech = pooled(train_set.moments(windowing)).mean.astype(np.float32)
    population = Population(zeros, zeros + 1, speech)
    prior = frames_for(WHISPER, settings.time_constant)
    norms = {
        part: modes(f, windowing, population, prior)
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
        "test": score_clips(enc["test"].clips, er.predict(head, enc["test"]), labels),
        "test_adapted": score_clips(test_set.clips, er.predict_normalised(
            head, test_set, norms["test"]["adapted"], encoders, layers), labels),
        "training": {
            **provenance(scan, split, train_set, labels, settings, augmenting, skipped, revision),
            "initialised_from": str(s.init) if s.init else None,
            "model": "encoder",
            "val_ua": val_ua,
            "encoder": encoder,
        },
    }  # fmt: skip
    report["test_adapted"]["adaptation"] = float(
        np.mean([n.weight for n in norms["test"]["adapted"]])
    )
    if s.baseline:
        report["baselines"] = run_baselines(split, labels, s)
    model = er.full_model(head, encoders, layers, labels)
    fill = data.silence(WHISPER)
    check = np.concatenate([windows(x, encoders.size, encoders.hops[0], fill)[:2]
                            for x in test_set.clean[:8]])  # fmt: skip
    bundle = export.export(
        model, s.out, labels, WHISPER, settings.window_seconds, settings.hop_seconds,
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
    report["training"]["calibration"] = calibrate(bundle, split, labels, s)
    report["calibration"] = report["training"]["calibration"]
    bundle = bundles.load(s.out)
    report["test"] = bundle_scores(bundle, split.test, labels, s)  # calibrated, as the app
    report["robustness"] = heard(s, split, labels, {"this model": bundle},
                                 report.get("baselines"))  # fmt: skip
    atomic.write(
        s.out / bundles.META_FILE,
        json.dumps({**bundle.meta, "evaluation": summary(report)}, indent=1),
    )
    return published(report, bundle.path, s)


def bundle_scores(
    b: Any, clips: Sequence[corpora.Clip], labels: tuple[str, ...], s: Sources
) -> dict[str, Any]:
    """A bundle's clip-level figures, calibrated as the app shows them."""
    run = robustness.bundle_system(b, clips, data.cache_root(s.cache), s.workers)
    scored, windows = run(None)
    probs = calibration.clip_probabilities(windows, b.temperature)
    return score_clips(scored, probs, labels)


def heard(
    s: Sources,
    split: splits.Split,
    labels: tuple[str, ...],
    bundles: dict[str, Any],
    baselines: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Each bundle and the baselines on the test speakers clean and through every condition."""
    if not s.conditions:
        return None
    cache = data.cache_root(s.cache)
    systems = {
        name: (robustness.bundle_system(b, split.test, cache, s.workers, s.noise_eval),
               b.temperature)
        for name, b in bundles.items()
    }  # fmt: skip
    first = next(iter(bundles.values()))
    if first.encoder is not None and first.adapt_seconds:  # does adapting still help?
        adapted = robustness.bundle_system(first, split.test, cache, s.workers,
                                           s.noise_eval, adapted=True)  # fmt: skip
        systems = {**dict(list(systems.items())[:1]),
                   f"{next(iter(bundles))}, adapted": (adapted, first.temperature),
                   **dict(list(systems.items())[1:])}  # fmt: skip
    table = robustness.score(systems, labels, s.conditions)
    for result in (baselines or {}).values():
        if not result["speaker_norm"]:  # cold, as the models are
            table["eGeMAPS+SVM"] = {robustness.CLEAN: result["test"], **result["conditions"]}
    return table


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
    out = {}
    for mode, key in (("cold", "test"), ("adapted", "test_adapted")):
        probs = training.predict_clips(
            models.classifier(model), test_set.clean, size, hop, fill, norms[mode]
        )
        out[key] = score_clips(test_set.clips, probs, labels)
        out[key]["adaptation"] = float(np.mean([n.weight for n in norms[mode]]))
    return out


def evaluate_bundle(s: Evaluation) -> dict[str, Any]:
    """Re-score a bundle's Keras model on the held-out speakers it was tested on."""
    b = bundles.load(s.bundle)
    s = replace(s, labels="8" if "calm" in b.labels else "7")
    labels, _, split = load_split(s)
    trained = b.meta.get("training", {})
    if split.speakers("test") != trained.get("test_speakers"):
        raise Refused("this split's test speakers differ from the bundle's")
    if b.encoder is not None:
        report = {"test": bundle_scores(b, split.test, labels, s), "training": trained}
    else:
        model = keras.models.load_model(b.keras_path, safe_mode=True)
        test_set = data.extract(
            split.test, b.features, None, data.cache_root(s.cache) / "features", s.workers
        )
        fill = data.silence(b.features)
        prior = frames_for(b.features, b.adapt_seconds or TrainSettings.time_constant)
        w = b.windowing
        report = {
            **test_scores(
                model,
                test_set,
                labels,
                w.size,
                w.hop,
                fill,
                modes(test_set, w, b.population, prior),
            ),
            "training": trained,
        }
    if s.baseline:
        report["baselines"] = run_baselines(split, labels, s)
    others = dict(named(pair) for pair in s.compare)
    bundles_ = {"this model": b, **{k: bundles.load(Path(v)) for k, v in others.items()}}
    report["robustness"] = heard(s, split, labels, bundles_, report.get("baselines"))
    if not b.quality.empty and s.conditions:
        report["flags"] = robustness.flag_rates(Engine(b), split.test)
    meta = {**b.meta, "evaluation": summary(report)}
    report["calibration"] = b.meta.get("calibration")
    reports.write_report(report, b.path)
    atomic.write(b.path / bundles.META_FILE, json.dumps(meta, indent=1))
    print(reports.markdown(report))
    return report


def calibrate_bundle(s: Calibrating) -> dict[str, Any]:
    """Fit a bundle's calibration and quality thresholds on its validation speakers."""
    b = bundles.load(s.bundle)
    s = replace(s, labels="8" if "calm" in b.labels else "7")
    labels, _, split = load_split(s)
    if split.speakers("val") != b.meta.get("training", {}).get("val_speakers"):
        raise Refused("this split's validation speakers differ from the bundle's")
    if s.crossfit and b.encoder is None:
        raise Refused("--crossfit retrains encoder models' heads; this bundle is a CNN")
    block = calibrate(b, split, labels, s)
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
    return block


def calibrate(b: Any, split: splits.Split, labels: tuple[str, ...], s: Fitting) -> dict[str, Any]:
    """Fit on the validation speakers, clean and through channels of training recordings, and
    write into the bundle: the quality thresholds, the temperature (on every copy's speech
    windows, as the app averages them) and the top probability under which no emotion is
    clearly ahead."""
    sounds = channels.Sounds.read(channels.shared_root(evaluation=False, path=s.noise))
    raw = Engine(replace(b, temperature=1.0, familiarity=None))  # as trained, uncalibrated
    known = limit_per_speaker(split.train, limits.CLEAN_PER_SPEAKER)  # each studio's floor
    quality, samples = limits.find(raw, split.val, labels, sounds, known)
    every = [x for step in samples.values() for x in step]
    if s.crossfit:  # out of fold: every training and validation speaker, each a new voice once
        fit_on, fit_far = crossfit.samples(b, split.train + split.val, labels,
                                           data.cache_root(s.cache), s.workers,
                                           s.out / "crossfit", s.crossfit,
                                           s.fold_epochs)  # fmt: skip
        source = (f"out-of-fold windows of the split's {len({v for _, _, v in fit_on})} "
                  f"training and validation speakers ({s.crossfit} folds of the bundle's recipe "
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
        reference = crossfit.reference(b, split, data.cache_root(s.cache), s.workers)
        if s.shift:  # how much less sure a new corpus should make it: corpora left out
            shifted, far = crossfit.corpora(b, split.train + split.val, labels,
                                            data.cache_root(s.cache), s.workers,
                                            s.out / "crossfit-corpora",
                                            s.fold_epochs)  # fmt: skip
            both = fit_on + shifted if s.crossfit else shifted  # with new voices of known ones
            distances = fit_far + far if s.crossfit else far
            slope = familiar.fit_slope([w for w, _, _ in both], distances,
                                       [y for _, y, _ in both], t)  # fmt: skip
            reference = replace(reference, slope=slope)
            block["shift"] = shift_scores(shifted, far, t, reference)
        content = reference.arrays()
        atomic.write(b.path / app_familiar.FILE, content)
        meta["files"] = {
            **b.meta.get("files", {}),
            app_familiar.FILE: {"sha256": hashlib.sha256(content).hexdigest()},
        }
        meta["familiarity"] = {**reference.meta(), "method": familiar.METHOD}  # fmt: skip
    atomic.write(b.path / bundles.META_FILE, json.dumps(meta, indent=1))
    return {**block, "quality": quality, "familiarity": meta.get("familiarity")}


def shift_scores(
    shifted: list, far: list, base: float, reference: Any
) -> dict[str, dict[str, float]]:
    """Per corpus left out (clean clips, each judged by a head that never heard that corpus):
    accuracy, mean top probability and ECE raw, at the base temperature and at the distance's
    temperature, and how many clips the unfamiliar flag marks."""
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


def cross_validate(s: CrossValidation) -> dict[str, Any]:
    """Speaker folds and/or corpora left out (``crossval``); returns the summary of the last."""
    labels = corpora.LABELS8 if s.labels == "8" else corpora.LABELS7
    scan = corpora.read_corpora(corpora.datasets_root(s.datasets), s.corpora, labels)
    print(scan.summary())
    clips = limit_per_speaker(scan.clips, s.limit) if s.limit else scan.clips
    runner = crossval.Runner(
        clips, labels, s.settings, s.augmenting,
        data.cache_root(s.cache), s.out,
        s.workers, s.layers, s.conditions, s.noise_eval,
        s.command, crossval.known(s.report),
    )  # fmt: skip
    found: dict[str, Any] = {}
    if "speaker" in s.by:
        found = crossval.run(clips, labels, s.folds, s.systems, runner)
    if "corpus" in s.by:
        found = crossval.run_corpora(clips, labels, s.folds, s.systems, runner)
    print((s.out / crossval.RESULTS_MD).read_text())
    if s.report:
        s.report.mkdir(parents=True, exist_ok=True)
        for name in (crossval.RESULTS_MD, crossval.RESULTS_JSON):
            shutil.copy2(s.out / name, s.report / name)
        beside = s.report / reports.REPORT_JSON
        if beside.exists():  # its report.md cites the cross-validation when of its recipe
            reports.write_report(json.loads(beside.read_text()), s.report)
    return found


def baseline(s: Sources) -> dict[str, Any]:
    """eGeMAPS functionals + SVM only (``baseline``)."""
    labels, _, split = load_split(s)
    result = run_baselines(split, labels, s)
    print(f"written to {svm.write(result, s.out)}")
    for name, r in result.items():
        p = r["test"]["pooled"]
        print(
            f"{name}: accuracy {p['accuracy']:.3f}  UA {p['ua']:.3f}  macro-F1 {p['macro_f1']:.3f}"
        )
    return result


def run_baselines(split: splits.Split, labels: tuple[str, ...], s: Sources) -> dict:
    """eGeMAPS+SVM on the same split, cold and with each speaker's own statistics."""
    cache = data.cache_root(s.cache) / "egemaps"
    out = {}
    for name, norm in (("egemaps_svm", False), ("egemaps_svm_speaker_norm", True)):
        result = svm.run(split, labels, cache, speaker_norm=norm, workers=s.workers,
                         conditions=s.conditions, sounds=s.noise_eval)  # fmt: skip
        result["test"] = svm.pooled_and_by_corpus(result["test"])
        result["conditions"] = {
            c: svm.pooled_and_by_corpus(r) for c, r in result["conditions"].items()
        }
        out[name] = result
    return out


def personal_evaluation(s: Personal) -> dict[str, Any]:
    """How much a personal voice gains on each withheld test speaker of the bundle."""
    b = bundles.load(s.bundle)
    tested = set(b.meta.get("training", {}).get("test_speakers", []))
    scan = corpora.read_corpora(
        corpora.datasets_root(s.datasets), s.corpora or personal_eval.CORPORA, b.labels
    )
    clips = [c for c in scan.clips if c.speaker in tested]
    if not clips:
        raise Refused("none of the bundle's test speakers is in the corpora")
    cache = data.cache_root(s.cache) / "personal" / f"{personal.model_id(b)[:16]}.npz"
    results = personal_eval.run(clips, Engine(b), cache, s.takes, s.draws)
    personal_eval.write(results, s.report or b.path, s.command.strip())
    print(personal_eval.markdown(results, s.command.strip()))
    return results


def speech_check(s: SpeechCheck) -> dict[str, Any]:
    """Fit the check that flags sound that is not speech, into the bundle's description."""
    found = speechcheck.gather(
        corpora.datasets_root(s.datasets), channels.shared_root(False, s.noise),
        bundles.load(s.bundle), s.limit or speechcheck.PER_SPEAKER,
    )  # fmt: skip
    block = speechcheck.fit(found)
    speechcheck.write(s.bundle, block)
    block["evaluation"].update(speechcheck.judged(s.bundle, found.test_paths))
    print(json.dumps(block["evaluation"], indent=1))
    print(f"written to {speechcheck.write(s.bundle, block)}")
    return block


def stopped_message(cache: str | None, out: Path) -> str:
    """What Ctrl-C outside a training's epochs leaves for the next run (inside them, the
    training says which epoch it resumes from)."""
    kept = [f"the features and encoder frames computed so far, cached in {data.cache_root(cache)}"]
    kept += [f"the last finished epoch of a training in {d}" for d in sorted(out.glob("**/resume"))]
    if any(out.glob(f"crossfit/fold*/{crossfit.SAMPLES_FILE}")):
        kept.append(f"the calibration folds judged so far in {out / 'crossfit'}")
    return (
        "Interrupted (Ctrl-C). Kept for the next run: " + "; ".join(kept) + ". "
        "Run the same command again to go on from there."
    )


def load_split(s: Sources) -> tuple[tuple[str, ...], corpora.Scan, splits.Split]:
    labels = corpora.LABELS8 if s.labels == "8" else corpora.LABELS7
    scan = corpora.read_corpora(corpora.datasets_root(s.datasets), s.corpora, labels)
    print(scan.summary())
    clips = limit_per_speaker(scan.clips, s.limit) if s.limit else scan.clips
    split = splits.by_speaker(clips)
    print(split.describe(labels))
    return labels, scan, split


def named(pair: str) -> tuple[str, str]:
    """``NAME=PATH``, or a bare path named by its folder."""
    name, sep, path = pair.partition("=")
    return (name, path) if sep else (Path(pair).name, pair)


def limit_per_speaker(clips: Sequence[corpora.Clip], n: int) -> list[corpora.Clip]:
    """``n`` clips of each speaker spread over their list (so over labels), for quick runs."""
    by_speaker: dict[str, list[corpora.Clip]] = {}
    for c in clips:
        by_speaker.setdefault(c.speaker, []).append(c)
    picked: set[Path] = set()
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


def published(report: dict[str, Any], path: Path, s: Training) -> dict[str, Any]:
    """A training run's end, for either model: its report written and shown, its bundle at
    ``path`` copied where ``--bundle`` asks."""
    reports.write_report(report, s.out)
    print(reports.markdown(report))
    if s.bundle:
        copy_bundle(s.out, s.bundle)
    print(f"bundle written to {path}" + (f" and {s.bundle}" if s.bundle else ""))
    return report


def copy_bundle(run: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    names = ("emotion.tflite", "encoder.tflite", "familiar.npz", "emotion.keras", "emotion.json",
             reports.REPORT_JSON, reports.REPORT_MD, reports.CONFUSION_PNG, robustness.PLOT,
             robustness.RELIABILITY_PLOT)  # fmt: skip
    for name in names:
        if (run / name).exists():
            shutil.copy2(run / name, target / name)
