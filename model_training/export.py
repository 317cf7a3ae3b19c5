"""Export of the model bundle the app runs: ``emotion.tflite``, ``emotion.keras``, ``emotion.json``
(and for an encoder model ``encoder.tflite``, the encoder of one block, with int8 weights, while
``emotion.tflite`` holds the head).

The LiteRT files are converted from copies with the batch fixed to 1 (a dynamic batch leaves Flex
ops LiteRT cannot run) and the app's engine is checked against Keras on real windows before they
are written out.
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
from model_training.encoded import to_tflite as convert
from model_training.model import attention_steps

TOLERANCE = 1e-4  # largest probability difference allowed between LiteRT and Keras
TOLERANCE_INT8 = 0.1  # with an int8 encoder: its frames (cosine ~0.9997 to float32's) move a
# window on the edge between two emotions by up to about 0.05 (0.053 measured on the bundle's)


class ExportError(Exception):
    """The converted model disagrees with the trained one."""


def to_tflite(model: keras.Model, weights: str = "float32") -> bytes:
    frames, features = model.input.shape[1], model.input.shape[2]
    inputs = keras.Input((frames, features), batch_size=1, name=model.input.name)
    fixed = keras.models.clone_model(model, input_tensors=inputs)
    fixed.set_weights(model.get_weights())
    return convert(fixed, weights)


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
    head: keras.Model | None = None,
    encoder: keras.Model | None = None,
) -> bundles.Bundle:
    """Write the bundle to ``out_dir`` and return it loaded; ``check`` holds normalised windows.

    An encoder model (``model`` its whole graph) gives its ``head`` (``emotion.tflite`` and
    ``emotion.keras``, for training to continue from; the encoder comes from its packages) and
    its block ``encoder`` (``encoder.tflite``, int8 weights).
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
    files = {bundles.TFLITE_FILE: to_tflite(head or model)}
    if encoder is not None:
        files[bundles.ENCODER_FILE] = to_tflite(encoder, "int8")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        staged = Path(tmp)
        for name, content in files.items():
            (staged / name).write_bytes(content)
        (head or model).save(staged / bundles.KERAS_FILE)
        meta["files"] = {k: {"sha256": hashlib.sha256(v).hexdigest()} for k, v in files.items()}
        (staged / bundles.META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        meta["export_difference"] = agree(
            model, Engine(bundles.load(staged)), check, TOLERANCE_INT8 if encoder else TOLERANCE
        )
        (staged / bundles.META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        for name in [*files, bundles.KERAS_FILE, bundles.META_FILE]:
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
