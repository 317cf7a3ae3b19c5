"""Encoder frames of every model window of every clip, computed once and cached on disk.

The encoder is frozen, so a window's encoder frames never change: the head trains on cached frames
(float16) in seconds per epoch instead of running the encoder in every batch. The frames come from
the same LiteRT encoder (float16 weights) the app runs, so training sees what the app computes.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.features import windows
from model_training.data import CacheError, Features

Array = npt.NDArray[np.float32]
THREADS = 2


def to_tflite(model: object, half: bool = True) -> bytes:
    """LiteRT flatbuffer of a batch-1 Keras model; ``half`` stores the weights as float16 (half
    the size; LiteRT computes in float32 as before). Measured here on 2 encoder layers: 14.6 MB
    and 30 ms a window; int8 weights (dynamic range) were smaller but slower than float32 (66
    against 42 ms for 3 layers), so they are not used."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if half:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return bytes(converter.convert())


class Runner:
    """A LiteRT model over windows, one at a time (its batch is 1), every output kept."""

    def __init__(self, tflite: bytes, threads: int = THREADS) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_content=tflite, num_threads=threads)
        self._run = self._interpreter.get_signature_runner()
        self.outputs = sorted(self._run.get_output_details(), key=_output_order)
        (self._input,) = self._run.get_input_details()

    def __call__(self, batch: Array) -> list[Array]:
        """``(n, frames, features)`` -> per output ``(n, ...)``."""
        rows: list[list[Array]] = [[] for _ in self.outputs]
        for w in batch:
            out = self._run(**{self._input: w[None].astype(np.float32, copy=False)})
            for row, name in zip(rows, self.outputs, strict=True):
                row.append(out[name][0])
        return [np.stack(r) for r in rows]


def _output_order(name: str) -> int:
    return int(name.rsplit("_", 1)[-1]) if name.rsplit("_", 1)[-1].isdigit() else 0


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
        tmp = path.with_suffix(".tmp.npz")
        arrays: dict[str, Any] = {f"r{i}": e for i, e in enumerate(encoded)}
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError as e:
        raise CacheError(f"cannot write the encoder cache at {path.parent} ({e.strerror})") from e
