"""Out-of-fold probabilities to calibrate on: the bundle's recipe trained again ``k`` times, each
time without a group of its non-test speakers, each head judging the group it never heard.

Three validation speakers are too few to fit a temperature that carries over to a new voice
(their ECE moves by more than the temperature changes it); out of fold, every training and
validation speaker of the split is a new voice once, clean and in the augmented renderings the
recipe made of them (training noise, rooms, lines and codecs only). The test speakers never take
part, so the held-out figures stay held out. The heads are thrown away; the temperature fitted on
their probabilities is applied to the bundle's own head, trained on all of them.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from app import atomic
from app.familiar import statistics
from model_training import encoder_run as er
from model_training import familiar, splits
from model_training import model as models
from model_training.augment import AugmentSettings
from model_training.corpora import Clip
from model_training.limits import Samples
from model_training.train import TrainSettings, window_probabilities

FOLDS = 4  # about five RAVDESS and EmoDB speakers held out at a time
SAMPLES_FILE = "crossfit.npz"


def fold_count(text: str) -> int:
    """``--crossfit``: 0 (none), or enough folds to test one, validate on one, train on the rest."""
    k = int(text)
    if k < 0 or 0 < k < 3:
        raise argparse.ArgumentTypeError("0, or at least 3 folds (test, validation, training)")
    return k


def recipe(
    meta: dict[str, Any], epochs: int | None = None
) -> tuple[TrainSettings, AugmentSettings]:
    """The training and augmentation settings a bundle records, as they were (JSON lists back to
    tuples, so the cached renderings are found again). A bundle fine-tuned from another model
    (``initialised_from``) had a short, slow schedule on weights that heard every speaker; its
    heads here start from scratch, so they take the schedule of a head trained from scratch."""

    def build(cls: type, values: dict[str, Any]) -> Any:
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v
                      for k, v in values.items() if k in known})  # fmt: skip

    settings = build(TrainSettings, meta["settings"])
    if meta.get("initialised_from"):
        scratch = TrainSettings()
        settings = replace(settings, epochs=scratch.epochs, learning_rate=scratch.learning_rate)
    if epochs is not None:  # a shorter schedule, when time is short (the bundle's is the default)
        settings = replace(settings, epochs=epochs)
    return settings, build(AugmentSettings, meta["augment"])


def samples(
    bundle: Any, clips: Sequence[Clip], labels: tuple[str, ...], cache: Path, workers: int,
    out: Path, k: int = FOLDS, epochs: int | None = None,
) -> tuple[Samples, list[np.ndarray]]:  # fmt: skip
    """Every rendering of every clip in ``clips`` (the split's training and validation clips)
    judged by a head trained on the bundle's recipe without that clip's speaker: its windows'
    probabilities, its label, its speaker. Kept in ``out``, each fold as it finishes, and
    reused when run again for the same recipe, speakers and number of folds; with each window's
    distance from that head's training windows."""
    return judged(bundle, clips, labels, cache, workers, out, dict(enumerate(
        splits.folds(clips, k))), k, epochs=epochs)  # fmt: skip


def reference(bundle: Any, split: splits.Split, cache: Path, workers: int) -> Any:
    """The bundle's familiarity: its training windows (every rendering) as the reference, its
    validation speakers' clean windows for the scale and threshold."""
    _, augmenting = recipe(bundle.meta["training"])
    encoders = er.Encoders.of(bundle)
    train, val = (
        er.encode(er.features(clips, augment, cache, workers), encoders, bundle.encoder.layers,
                  augment, cache)
        for clips, augment in ((split.train, augmenting), (split.val, None))
    )  # fmt: skip
    return familiar.of_windows(train.windows, val.clean)


def corpora(
    bundle: Any, clips: Sequence[Clip], labels: tuple[str, ...], cache: Path, workers: int,
    out: Path, epochs: int | None = None,
) -> tuple[Samples, list[np.ndarray]]:  # fmt: skip
    """The clean clips of each corpus judged by a head of the bundle's recipe trained on the
    other corpora (:func:`splits.by_corpus`), with each window's distance from that head's own
    training windows (:mod:`app.familiar`, fitted as the bundle's): what a new language or studio
    gets, to fit how far the temperature must grow with the distance."""
    return judged(bundle, clips, labels, cache, workers, out, splits.by_corpus(clips), "corpora",
                  clean=True, epochs=epochs)  # fmt: skip


def judged(
    bundle: Any, clips: Sequence[Clip], labels: tuple[str, ...], cache: Path, workers: int,
    out: Path, folds: dict[Any, splits.Split], name: Any, clean: bool = False,
    epochs: int | None = None,
) -> tuple[Samples, list[np.ndarray]]:  # fmt: skip
    """The test clips of each fold judged by a head of the bundle's recipe trained on its
    training speakers, with every window's distance from them (``clean``: the clean rendering
    only). Each fold is kept as it finishes; all of them are reused for the same recipe,
    speakers and folds."""
    path = out / SAMPLES_FILE
    key = json.dumps([bundle.meta["training"], name, sorted({c.speaker for c in clips}), epochs],
                     sort_keys=True)  # fmt: skip
    if path.exists():
        if stored_key(path) == key:
            return load(path)
        print(f"crossfit: {path} holds judgements of another recipe, speakers or folds; judging "
              "again", file=sys.stderr, flush=True)  # fmt: skip
    settings, augmenting = recipe(bundle.meta["training"], epochs)
    encoders = er.Encoders.of(bundle)
    feats = er.features(clips, augmenting, cache, workers)
    enc = er.encode(feats, encoders, bundle.encoder.layers, augmenting, cache)
    found: Samples = []
    far: list[np.ndarray] = []
    for i, split in folds.items():
        held_out = ", ".join(split.speakers("test"))
        fold, fold_key = out / f"fold{i}", json.dumps([key, i])
        if (fold / SAMPLES_FILE).exists() and stored_key(fold / SAMPLES_FILE) == fold_key:
            print(f"crossfit fold {i}: held out {held_out}; judged in an earlier run, kept",
                  file=sys.stderr, flush=True)  # fmt: skip
            done, distances = load(fold / SAMPLES_FILE)
            found, far = found + done, far + distances
            continue
        print(f"crossfit fold {i}: held out {held_out}", file=sys.stderr, flush=True)
        train, val, test = (set(split.speakers(p)) for p in ("train", "val", "test"))
        taught = enc.subset(train)
        head = er.train_head(taught, enc.subset(val), labels, augmenting, settings, fold)
        reference = familiar.of_windows(taught.windows, enc.subset(val).clean)
        held = enc.subset(test)
        kept = [clip[:1] if clean else clip for clip in held.windows]
        renderings = [w for clip in kept for w in clip]
        probs = iter(window_probabilities(models.classifier(head), renderings))
        distances = [reference.distance(statistics(w)) for w in renderings]
        judged_here: Samples = [(next(probs), labels.index(clip.label), clip.speaker)
                                for clip, windows in zip(held.clips, kept, strict=True)
                                for _ in windows]  # fmt: skip
        save(judged_here, distances, fold / SAMPLES_FILE, fold_key)  # kept if interrupted
        found, far = found + judged_here, far + distances
    save(found, far, path, key)
    return found, far


def save(found: Samples, distances: Sequence[np.ndarray], path: Path, key: str) -> None:
    """``key`` says what the judgements are of (recipe, folds, speakers), for reuse."""
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        windows=np.concatenate([w for w, _, _ in found]),
        counts=np.array([len(w) for w, _, _ in found]),
        truth=np.array([y for _, y, _ in found]),
        speakers=np.array([s for _, _, s in found]),
        distances=np.concatenate(distances),
        key=np.array(key),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write(path, buffer.getvalue())


def stored_key(path: Path) -> str | None:
    with np.load(path) as f:
        return str(f["key"]) if "key" in f.files else None


def load(path: Path) -> tuple[Samples, list[np.ndarray]]:
    """The judgements and each clip's window distances."""
    with np.load(path) as f:
        cuts = np.cumsum(f["counts"])[:-1]
        windows = np.split(f["windows"], cuts)
        found = list(zip(windows, f["truth"].tolist(), f["speakers"].tolist(), strict=True))
        return found, np.split(f["distances"], cuts)
