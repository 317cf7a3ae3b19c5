"""Encoder frames of every model window of every clip, computed once and cached on disk.

The encoder is frozen, so a window's encoder frames never change: the head trains on cached frames
(float16) in seconds per epoch instead of running the encoder in every batch. The frames come from
the same LiteRT encoder (int8 weights) the app runs, block by block as the app runs it, so
training sees what the app computes.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app import atomic
from app.engine import Blocks
from app.features import windows
from model_training.data import CacheError, Features

Array = npt.NDArray[np.float32]
THREADS = 1  # a second thread cost more than it saved (int8, a 3 s window: 18.7 against 14.1 ms)


def to_tflite(model: object, weights: str = "float32") -> bytes:
    """LiteRT flatbuffer of a batch-1 Keras model, its weights stored as ``weights``: "float32",
    "float16" (half the size; computed in float32) or "int8" (activations quantised on the fly:
    dynamic range). Measured here (LiteRT 2.3, one core) on a 3 s window through 2 encoder layers:
    int8 14 ms and 7.7 MB against float16's 38 ms and 14.6 MB, encoder frames at cosine 0.9997
    to float32's."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if weights in ("float16", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if weights == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return bytes(converter.convert())


class Runner:
    """The LiteRT encoder over windows, block by block as the app runs it
    (:class:`app.engine.Blocks`: a block shared by overlapping windows is encoded once)."""

    def __init__(self, tflite: bytes, block: int, threads: int = THREADS) -> None:
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_content=tflite, num_threads=threads).get_signature_runner()
        self._blocks = Blocks(runner, block)
        self.outputs = self._blocks.outputs

    def __call__(self, batch: Array) -> list[Array]:
        """``(n, frames, features)`` -> per output ``(n, steps, ...)``."""
        rows = [self._blocks(w) for w in batch]
        return [np.stack(r) for r in zip(*rows, strict=True)]


def encode(
    features: Features,
    runner: Runner,
    key: str,
    size: int,
    hops: tuple[int, int],
    fill: Array,
    cache_dir: Path,
    audio_key: str = "",
    pool: bool = False,
) -> list[list[npt.NDArray[np.float16]]]:
    """Per clip, per rendering (clean first): its windows' encoder output, float16.

    ``hops`` are the window hops in frames for the clean rendering and for augmented ones;
    ``key`` names the encoder (layers, weights, quantisation), ``audio_key`` the augmentation
    that rendered the variants; ``pool`` keeps only each window's
    mean and standard deviation over time of every output (for choosing a layer).
    """
    from tqdm import tqdm

    out = []
    for clip, renderings in tqdm(
        zip(features.clips, features.variants, strict=True),
        total=len(features.clips),
        desc="encoder",
        file=sys.stderr,
    ):
        stat = clip.path.stat()
        text = json.dumps([key, str(clip.path.resolve()), stat.st_size, stat.st_mtime_ns, size,
                           hops, pool, len(renderings), audio_key])  # fmt: skip
        digest = hashlib.sha1(text.encode()).hexdigest()
        path = cache_dir / digest[:2] / f"{digest}.npz"
        if path.exists():
            with np.load(path) as saved:
                out.append([saved[f"r{i}"] for i in range(len(renderings))])
            continue
        encoded = []
        for i, x in enumerate(renderings):
            outputs = runner(windows(x, size, hops[0] if i == 0 else hops[1], fill))
            if pool:
                stats = [np.concatenate([o.mean(axis=1), o.std(axis=1)], axis=1) for o in outputs]
                encoded.append(np.stack(stats, axis=1).astype(np.float16))
            else:
                encoded.append(outputs[0].astype(np.float16))
        _save(path, encoded)
        out.append(encoded)
    return out


def _save(path: Path, encoded: Sequence[np.ndarray]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {f"r{i}": e for i, e in enumerate(encoded)}
        with atomic.replacing(path) as f:
            np.savez(f, **arrays)
    except OSError as e:
        raise CacheError(f"cannot write the encoder cache at {path.parent} ({e.strerror})") from e
