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

import io
import json
import sys
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from model_training import splits
from model_training.augment import AugmentSettings
from model_training.corpora import Clip
from model_training.limits import Samples
from model_training.train import TrainSettings

FOLDS = 4  # about five RAVDESS and EmoDB speakers held out at a time
SAMPLES_FILE = "crossfit.npz"


def recipe(meta: dict[str, Any]) -> tuple[TrainSettings, AugmentSettings]:
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
    return settings, build(AugmentSettings, meta["augment"])


def samples(
    bundle: Any, clips: Sequence[Clip], labels: tuple[str, ...], cache: Path, workers: int,
    out: Path, k: int = FOLDS,
) -> Samples:  # fmt: skip
    """Every rendering of every clip in ``clips`` (the split's training and validation clips)
    judged by a head trained on the bundle's recipe without that clip's speaker: its windows'
    probabilities, its label, its speaker. Kept in ``out``, each fold as it finishes, and
    reused when run again for the same recipe, speakers and number of folds."""
    from model_training import encoder_run as er
    from model_training import model as models
    from model_training.train import window_probabilities

    path = out / SAMPLES_FILE
    key = json.dumps([bundle.meta["training"], k, sorted({c.speaker for c in clips})],
                     sort_keys=True)  # fmt: skip
    if path.exists():
        if stored_key(path) == key:
            return load(path)
        print(f"crossfit: {path} holds judgements of another recipe, speakers or number of "
              "folds; judging again", file=sys.stderr, flush=True)  # fmt: skip
    settings, augmenting = recipe(bundle.meta["training"])
    encoders = er.Encoders.of(bundle)
    feats = er.features(clips, augmenting, cache, workers)
    enc = er.encode(feats, encoders, bundle.encoder.layers, augmenting, cache)
    found: Samples = []
    for i, split in enumerate(splits.folds(clips, k)):
        held_out = ", ".join(split.speakers("test"))
        fold, fold_key = out / f"fold{i}", json.dumps([key, i])
        if (fold / SAMPLES_FILE).exists() and stored_key(fold / SAMPLES_FILE) == fold_key:
            print(f"crossfit fold {i}: held out {held_out}; judged in an earlier run, kept",
                  file=sys.stderr, flush=True)  # fmt: skip
            found += load(fold / SAMPLES_FILE)
            continue
        print(f"crossfit fold {i}: held out {held_out}", file=sys.stderr, flush=True)
        train, val, test = (set(split.speakers(p)) for p in ("train", "val", "test"))
        head = er.train_head(enc.subset(train), enc.subset(val), labels, augmenting, settings,
                             fold)  # fmt: skip
        held = enc.subset(test)
        renderings = [w for clip in held.windows for w in clip]
        probs = iter(window_probabilities(models.classifier(head), renderings))
        judged: Samples = []
        for clip, windows in zip(held.clips, held.windows, strict=True):
            judged += [(next(probs), labels.index(clip.label), clip.speaker) for _ in windows]
        save(judged, fold / SAMPLES_FILE, fold_key)  # an interrupted run keeps finished folds
        found += judged
    save(found, path, key)
    return found


def save(found: Samples, path: Path, key: str) -> None:
    """``key`` says what the judgements are of (recipe, folds, speakers), for reuse."""
    from model_training.evaluate import atomic_write

    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        windows=np.concatenate([w for w, _, _ in found]),
        counts=np.array([len(w) for w, _, _ in found]),
        truth=np.array([y for _, y, _ in found]),
        speakers=np.array([s for _, _, s in found]),
        key=np.array(key),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buffer.getvalue())


def stored_key(path: Path) -> str | None:
    with np.load(path) as f:
        return str(f["key"]) if "key" in f.files else None


def load(path: Path) -> Samples:
    with np.load(path) as f:
        windows = np.split(f["windows"], np.cumsum(f["counts"])[:-1])
        return list(zip(windows, f["truth"].tolist(), f["speakers"].tolist(), strict=True))
