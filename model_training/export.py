"""Export of the model bundle the app runs: ``emotion.tflite``, ``emotion.keras``, ``emotion.json``.

The LiteRT file is converted from a copy with the batch fixed to 1 (a dynamic batch leaves Flex
ops LiteRT cannot run) and is checked against Keras on real windows before it is written out.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from app import bundle as bundles
from app.engine import Engine
from app.features import FeatureSettings
from model_training.model import attention_steps

TOLERANCE = 1e-4  # largest probability difference allowed between LiteRT and Keras
TOLERANCE_HALF = 1e-2  # the same with float16 weights: they round, so a little more


class ExportError(Exception):
    """The converted model disagrees with the trained one."""


def to_tflite(model: keras.Model, half: bool = False) -> bytes:
    from model_training.encoded import to_tflite as convert

    frames, features = model.input.shape[1], model.input.shape[2]
    inputs = keras.Input((frames, features), batch_size=1, name="features")
    fixed = keras.models.clone_model(model, input_tensors=inputs)
    fixed.set_weights(model.get_weights())
    return convert(fixed, half)


def export(
    model: keras.Model,
    out_dir: Path,
    labels: Sequence[str],
    features: FeatureSettings,
    window_seconds: float,
    hop_seconds: float,
    mean: np.ndarray,
    std: np.ndarray,
    extra: dict[str, Any],
    check: np.ndarray,
    saved: keras.Model | None = None,
    half: bool = False,
) -> bundles.Bundle:
    """Write the bundle to ``out_dir`` and return it loaded; ``check`` holds normalised windows.

    ``saved`` is what ``emotion.keras`` keeps for training to continue from (default: the whole
    model; the encoder model keeps its head, the encoder coming from its packages);
    ``half`` stores float16 weights in ``emotion.tflite``.
    """
    meta = {
        "format": bundles.FORMAT,
        "labels": list(labels),
        "sample_rate": features.sample_rate,
        "window_seconds": window_seconds,
        "hop_seconds": hop_seconds,
        "features": features.to_dict(),
        "input_shape": [1, int(model.input.shape[1]), int(model.input.shape[2])],
        "outputs": {"emotion": "output_0", "attention": "output_1"},
        "normalisation": {"mean": mean.tolist(), "std": std.tolist(), "scope": "training speakers"},
        "attention": {
            "steps": attention_steps(model),
            "seconds_per_step": window_seconds / attention_steps(model),
        },
        **extra,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        staged = Path(tmp)
        tflite = to_tflite(model, half)
        (staged / bundles.TFLITE_FILE).write_bytes(tflite)
        (saved or model).save(staged / bundles.KERAS_FILE)
        meta["files"] = {bundles.TFLITE_FILE: {"sha256": hashlib.sha256(tflite).hexdigest()}}
        (staged / bundles.META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        meta["export_difference"] = agree(
            model, Engine(bundles.load(staged)), check, TOLERANCE_HALF if half else TOLERANCE
        )
        (staged / bundles.META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        for name in (bundles.TFLITE_FILE, bundles.KERAS_FILE, bundles.META_FILE):
            os.replace(staged / name, out_dir / name)
    return bundles.load(out_dir)


def agree(
    model: keras.Model, engine: Engine, windows: np.ndarray, tolerance: float = TOLERANCE
) -> float:
    """Largest difference between Keras and LiteRT probabilities; raises beyond tolerance."""
    expected = model.predict(windows, batch_size=64, verbose=0)[0]
    got = np.stack([engine.predict(w).probabilities for w in windows])
    worst = float(np.abs(expected - got).max())
    if worst > tolerance:
        raise ExportError(f"LiteRT and Keras disagree by {worst:.2e} (allowed {tolerance:.0e}).")
    return worst
