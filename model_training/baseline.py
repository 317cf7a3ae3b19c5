"""The classic baseline every model is judged against: eGeMAPS functionals and an SVM.

88 utterance-level openSMILE eGeMAPSv02 functionals per clip, standardised, into an RBF SVM whose
C and gamma are chosen on the validation speakers: the reference point of the speech-emotion
literature, trained and tested on exactly the speaker-independent split of the neural model.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.util
import json
import os
import platform
import sys
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from app import atomic
from app.audio.files import AudioFileError, load
from app.features import SAMPLE_RATE
from model_training import channels, metrics
from model_training.corpora import Clip
from model_training.splits import Split

if TYPE_CHECKING:
    import opensmile

METHOD = "eGeMAPSv02 functionals + SVM"
FEATURE_SET = "eGeMAPSv02-functionals"  # part of every cache key
N_FEATURES = 88
C_GRID = (0.1, 1.0, 10.0, 100.0)
GAMMA_GRID = (0.001, 0.003, 0.01, 0.03)  # around 1/88, sklearn's "scale" on standardised rows
MIN_STD = 1e-6  # a feature constant within a speaker stays finite (0) instead of blowing up
RESULT_FILE = "baseline.json"

Array = npt.NDArray[np.float32]


class Functionals(NamedTuple):
    """Features of the readable clips in clip order; ``ok[i]`` says whether clip i is among them."""

    features: Array
    ok: npt.NDArray[np.bool_]
    skipped: list[tuple[Path, str]]


def egemaps(
    clips: Sequence[Clip], cache_dir: Path, workers: int = 2, condition: str | None = None,
    sounds: str = "",
) -> Functionals:  # fmt: skip
    """eGeMAPS functionals of every clip (heard through the evaluation ``condition`` when given,
    see :func:`channels.heard`), from ``cache_dir`` or computed in ``workers`` processes.

    Only the clips missing from the cache reach the pool, so a second run computes nothing; a clip
    that cannot be read or is too short for the functionals is skipped with its reason.
    """
    keys = [cache_dir / f"{_key(c.path, condition, sounds)}.npy" for c in clips]
    missing = [i for i, k in enumerate(keys) if not k.exists()]
    fresh: dict[int, Array | str] = {}
    with (
        ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        if workers > 1 and len(missing) > 1
        else nullcontext()
    ) as pool:
        jobs = [(str(clips[i].path), condition, sounds) for i in missing]
        results = pool.map(_functionals, jobs, chunksize=8) if pool else map(_functionals, jobs)
        for i, result in tqdm(
            zip(missing, results, strict=True),
            total=len(missing),
            desc="eGeMAPS",
            file=sys.stderr,
            disable=not missing,
        ):
            fresh[i] = result
            if not isinstance(result, str):
                _save(keys[i], result)
    rows: list[Array] = []
    ok = np.zeros(len(clips), bool)
    skipped: list[tuple[Path, str]] = []
    for i, (clip, key) in enumerate(zip(clips, keys, strict=True)):
        result = fresh[i] if i in fresh else np.load(key)
        if isinstance(result, str):
            skipped.append((clip.path, result))
        else:
            rows.append(result)
            ok[i] = True
    features = np.stack(rows) if rows else np.zeros((0, N_FEATURES), np.float32)
    return Functionals(features, ok, skipped)


def speaker_normalise(
    x: npt.ArrayLike, speakers: Sequence[str], leave_one_out: bool
) -> npt.NDArray[np.float64]:
    """Each row z-scored by its own speaker's statistics, taking out what is voice, not emotion.

    With ``leave_one_out`` a row is scored against the speaker's other rows only, so a held-out
    clip never sees itself in its reference; a speaker with a single row then maps to zeros.
    """
    x = np.asarray(x, np.float64)
    who = np.asarray(speakers)
    out = np.zeros_like(x)
    for speaker in np.unique(who):
        rows = np.flatnonzero(who == speaker)
        group = x[rows]
        if not leave_one_out:
            out[rows] = _z(group, group)
        elif len(rows) > 1:
            for j, i in enumerate(rows):
                out[i] = _z(group[j], np.delete(group, j, axis=0))
    return out


def run(
    split: Split,
    labels: Sequence[str],
    cache_dir: Path,
    speaker_norm: bool = False,
    seed: int = 0,
    workers: int = 2,
    conditions: Sequence[str] = (),
    sounds: str = "",
    judged: bool = False,
) -> dict[str, Any]:
    """Fit on the training speakers, choose C and gamma by validation UA, score the test speakers
    (also heard through each evaluation channel in ``conditions``); ``judged``: also each test
    clip's label and probabilities (Platt scaling of the chosen SVM), to measure calibration.

    With ``speaker_norm`` training rows are normalised by their speaker's training clips and
    validation/test rows leave-one-out, so no test clip informs its own normalisation.
    """
    from sklearn.pipeline import make_pipeline  # here: the extraction workers never need it
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    parts = split.parts()
    clips = [c for p in parts.values() for c in p]
    part_of = np.repeat(list(parts), [len(p) for p in parts.values()])
    found = egemaps(clips, cache_dir, workers)
    part_of = part_of[found.ok]
    kept = [c for c, ok in zip(clips, found.ok, strict=True) if ok]
    y = np.array([labels.index(c.label) for c in kept], np.int64)
    x = found.features.astype(np.float64)
    if speaker_norm:
        for part in parts:
            rows = part_of == part
            who = [c.speaker for c, r in zip(kept, rows, strict=True) if r]
            x[rows] = speaker_normalise(x[rows], who, leave_one_out=part != "train")
    train, val, test = (part_of == p for p in ("train", "val", "test"))
    if not (train.any() and val.any() and test.any()):
        raise ValueError("the baseline needs readable clips of train, val and test speakers")
    corpus = np.array([c.corpus for c in kept])

    def fit(c: float, gamma: float, probability: bool = False) -> Any:
        svm = SVC(C=c, gamma=gamma, class_weight="balanced", random_state=seed,
                  probability=probability)  # fmt: skip
        return make_pipeline(StandardScaler(), svm).fit(x[train], y[train])

    grid = [
        {
            "C": c,
            "gamma": g,
            "val_ua": metrics.scores(y[val], fit(c, g).predict(x[val]), labels)["ua"],
        }
        for c in C_GRID
        for g in GAMMA_GRID
    ]
    best = max(grid, key=lambda r: r["val_ua"])  # the first of equals: the smaller C and gamma
    model = fit(best["C"], best["gamma"], judged)

    def heard(condition: str) -> dict[str, Any]:
        found = egemaps(parts["test"], cache_dir, workers, condition, sounds)
        kept = [c for c, ok in zip(parts["test"], found.ok, strict=True) if ok]
        x = found.features.astype(np.float64)
        if speaker_norm:
            x = speaker_normalise(x, [c.speaker for c in kept], leave_one_out=True)
        truth = [labels.index(c.label) for c in kept]
        return metrics.by_group(truth, model.predict(x), [c.corpus for c in kept], labels)

    extra = {}
    if judged:
        probs = np.zeros((int(test.sum()), len(labels)))
        probs[:, model.classes_] = model.predict_proba(x[test])
        extra["judged"] = {
            "truth": y[test].tolist(),
            "probabilities": np.round(probs, 5).tolist(),
        }
    return {
        **extra,
        "conditions": {name: heard(name) for name in conditions},
        "method": METHOD,
        "speaker_norm": speaker_norm,
        "params": {"C": best["C"], "gamma": best["gamma"]},
        "grid": grid,
        "val": metrics.by_group(y[val], model.predict(x[val]), corpus[val].tolist(), labels),
        "test": metrics.by_group(y[test], model.predict(x[test]), corpus[test].tolist(), labels),
        "skipped": [[str(p), reason] for p, reason in found.skipped],
        "train_clips": int(train.sum()),
        "val_clips": int(val.sum()),
        "test_clips": int(test.sum()),
    }


def pooled_and_by_corpus(groups: dict[str, Any]) -> dict[str, Any]:
    """:func:`metrics.by_group`'s figures in the report's shape: ``pooled`` and ``by_corpus``."""
    rest = dict(groups)
    return {"pooled": rest.pop("all"), "by_corpus": rest}


def write(result: dict[str, Any], out_dir: Path) -> Path:
    """``out_dir/baseline.json``, replaced in one step so a reader never sees half a file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RESULT_FILE
    atomic.write(path, json.dumps(result, indent=1))
    return path


def _z(
    rows: npt.NDArray[np.float64], reference: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    return (rows - reference.mean(axis=0)) / np.maximum(reference.std(axis=0), MIN_STD)


def _key(path: Path, condition: str | None = None, sounds: str = "") -> str:
    """Changes with the file's content (size, mtime), the feature set and the channel."""
    try:
        stat = path.stat()
        facts = [stat.st_size, stat.st_mtime_ns]
    except OSError:  # never in the cache, so the worker says what is wrong with it
        facts = []
    channel = [condition, sounds] if condition else []
    text = json.dumps([FEATURE_SET, str(path.resolve()), *facts, *channel])
    return hashlib.sha1(text.encode()).hexdigest()


def _save(path: Path, row: Array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replacing(path) as f:
        np.save(f, row)


def _load_smile_library() -> None:
    """Loads openSMILE's native library so that it calls its own functions, never another's.

    libSMILEapi.so exports Ooura's FFT routines (``rdft``, ``cdft``, ``makewt``, ...) without
    hiding them, and TensorFlow puts libtensorflow_framework.so, which exports the same names
    from a different Ooura variant, into the process's global symbol scope (RTLD_GLOBAL). Loaded
    after TensorFlow, as under ``python -m model_training`` (its ``__main__`` imports keras, and
    so does every spawned worker), openSMILE's FFT calls bind to TensorFlow's, whose tables are
    laid out differently: the heap is overrun and glibc aborts ("malloc(): invalid size").
    RTLD_DEEPBIND makes the library look in itself first, whatever was imported before; opensmile's
    own ``cdll.LoadLibrary`` of the same path then gets this already loaded copy.
    """
    deepbind = getattr(os, "RTLD_DEEPBIND", 0)  # glibc (Linux) only
    if not sys.platform.startswith("linux") or not deepbind or "opensmile" in sys.modules:
        return
    spec = importlib.util.find_spec("opensmile")  # finds the package without importing it
    for root in (spec.submodule_search_locations or []) if spec else []:
        # the folder opensmile.core.lib itself loads from
        lib = Path(root, "core", "bin", f"manylinux_2_17_{platform.machine().lower()}")
        lib /= "libSMILEapi.so"
        if lib.is_file():
            ctypes.CDLL(str(lib), mode=os.RTLD_NOW | os.RTLD_LOCAL | deepbind)
            return


@functools.cache
def _smile() -> opensmile.Smile:
    """One extractor per process: building it parses openSMILE's configuration."""
    _load_smile_library()
    import opensmile  # here, once its native library is loaded safely

    return opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.Functionals,
    )


def _functionals(job: tuple[str, str | None, str]) -> Array | str:
    """Worker: the 88 functionals of one file (through a channel), or why it has none."""
    path, condition, sounds = job
    try:
        audio = load(path, SAMPLE_RATE)
    except AudioFileError as e:
        return str(e)
    if condition:
        audio = channels.heard(audio, condition, Path(path).name, sounds)
    if not np.abs(audio).max() > 0:
        return "silent"
    with warnings.catch_warnings():  # "segment too short": answered by the NaN check below
        warnings.simplefilter("ignore")
        row = _smile().process_signal(audio, SAMPLE_RATE).to_numpy(np.float32)[0]
    if not np.isfinite(row).all():
        return "too short for eGeMAPS functionals"
    return row
