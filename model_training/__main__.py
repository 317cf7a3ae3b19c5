"""``python -m model_training train|baseline``: the whole path from corpora to the app's bundle."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import fields, replace
from pathlib import Path
from types import FrameType
from typing import Any

from model_training import augment, channels, corpora, crossfit, crossval, data, pipeline
from model_training.encoder_run import HOP_SECONDS
from model_training.train import TrainSettings


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.conditions is None:  # not given: every channel, but a cross-validation only if asked
        args.conditions = [] if args.run is pipeline.cross_validate else list(channels.BY_NAME)
    args.argv = sys.argv[1:] if argv is None else argv
    ours = signal.getsignal(signal.SIGINT) is signal.default_int_handler  # not where ignored
    ours = ours and threading.current_thread() is threading.main_thread()
    if ours:
        STOPPED.clear()
        signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        args.run(settings(args))
        return 0
    except (corpora.CorpusLayoutError, FileNotFoundError, data.CacheError, pipeline.Refused) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except SystemExit:
        raise
    except BaseException:
        if not STOPPED.is_set():
            raise
        print("\n" + pipeline.stopped_message(args.cache, args.out), file=sys.stderr, flush=True)
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

    bundled = argparse.ArgumentParser(add_help=False)  # the subcommands that read a bundle
    bundled.add_argument("--bundle", type=Path, default=Path("assets/model"))

    recipe = argparse.ArgumentParser(add_help=False)  # how clips are augmented, the head built
    recipe.add_argument("--variants", type=int, default=augment.AugmentSettings.variants,
                        help="augmented renderings per training clip")  # fmt: skip
    recipe.add_argument(
        "--augment",
        nargs="*",
        choices=augment.NAMES,
        default=list(augment.NAMES),
        help="augmentations to use, training clips only (default all; none: --augment alone)",
    )
    recipe.add_argument("--speaker-fraction", type=float, default=0.0, help="encoder head: "
                        "share of examples moved by their speaker's offset")  # fmt: skip
    recipe.add_argument("--centre", action="store_true", help="encoder head: each window's mean "
                        "encoder frame out (speaker, language, microphone move it)")  # fmt: skip

    fit = argparse.ArgumentParser(add_help=False)  # what the calibration is fitted on
    fit.add_argument(
        "--crossfit", type=crossfit.fold_count, default=0, metavar="K",
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
    t.set_defaults(run=pipeline.train, kind=pipeline.Training)

    e = sub.add_parser(
        "evaluate", parents=[common, bundled], help="re-score a bundle on its test speakers"
    )
    e.add_argument("--baseline", action="store_true", help="add eGeMAPS+SVM on the same split")
    e.add_argument("--compare", nargs="+", default=[], metavar="NAME=BUNDLE",
                   help="other bundles scored the same way (e.g. an earlier model)")  # fmt: skip
    e.set_defaults(run=pipeline.evaluate_bundle, kind=pipeline.Evaluation)

    k = sub.add_parser(
        "calibrate", parents=[common, fit, bundled],
        help="fit a bundle's calibration and quality thresholds on its validation speakers",
    )  # fmt: skip
    k.set_defaults(run=pipeline.calibrate_bundle, kind=pipeline.Calibrating)

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
    c.set_defaults(run=pipeline.cross_validate, kind=pipeline.CrossValidation)

    b = sub.add_parser("baseline", parents=[common], help="eGeMAPS functionals + SVM only")
    b.set_defaults(run=pipeline.baseline, kind=pipeline.Sources)

    v = sub.add_parser(
        "personal-eval",
        parents=[common, bundled],
        help="cold vs personal voice (emotion-meter personalise) on the bundle's test speakers",
    )
    v.add_argument("--takes", type=int, nargs="+", default=[1, 2, 3], metavar="K")
    v.add_argument("--draws", type=int, default=3, help="random draws of the enrolment takes")
    v.add_argument("--report", type=Path, help="write personal.{json,md} here (default: --bundle)")
    v.set_defaults(run=pipeline.personal_evaluation, kind=pipeline.Personal)
    s = sub.add_parser(
        "speechcheck", parents=[common, bundled],
        help="fit a bundle's speech/non-speech check on corpus speech and the training noise",
    )  # fmt: skip
    s.set_defaults(run=pipeline.speech_check, kind=pipeline.SpeechCheck)
    return p


def settings(args: argparse.Namespace) -> pipeline.Sources:
    """The subcommand's settings (``args.kind``) from the options of the same names."""
    made: dict[str, Any] = {"command": "emotion-meter-train " + " ".join(args.argv)}
    if hasattr(args, "augment"):
        made["augmenting"] = replace(augment.only(args.augment, args.variants),
                                     sounds=args.noise or "")  # fmt: skip
    if hasattr(args, "epochs"):  # the subcommands that train
        given = [f.name for f in fields(TrainSettings) if hasattr(args, f.name)]
        made["settings"] = TrainSettings(**{k: getattr(args, k) for k in given})
    if getattr(args, "model", None) == "encoder":  # its own timing, and it never adapts
        made["settings"] = replace(made["settings"], hop_seconds=HOP_SECONDS, adapt=False)
    options = {f.name: getattr(args, f.name) for f in fields(args.kind) if f.name not in made}
    return args.kind(**options, **made)


if __name__ == "__main__":
    sys.exit(main())
