"""Runs the bundled model through LiteRT: one normalised feature window in, probabilities out.

LiteRT imports in a fraction of TensorFlow's time and memory and runs a window in about a
millisecond, so the app never loads TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.bundle import Bundle, BundleError
from app.features import normalise

THREADS = 1

Array = npt.NDArray[np.float32]


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Native code's writes to the process's stderr go nowhere meanwhile (Python's exceptions
    still carry what went wrong); a no-op where stderr is not a real file."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(fd), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def temper(probs: Array, temperature: float) -> Array:
    """Probabilities at a calibration temperature: ``softmax(log(p) / T)``, the same as dividing
    the logits by ``T``; works on ``(..., labels)``. ``T`` > 1 softens, 1 changes nothing."""
    if temperature == 1.0:
        return np.array(probs, np.float32)
    logits = np.log(np.maximum(probs, 1e-12)) / temperature
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class Prediction:
    probabilities: Array  # (labels,), sums to 1
    attention: Array  # (attention steps,), sums to 1


class Engine:
    """A loaded model, checked against its bundle's metadata before it is trusted."""

    def __init__(self, bundle: Bundle, threads: int = THREADS) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.bundle = bundle
        try:
            self._interpreter = Interpreter(model_path=str(bundle.tflite_path), num_threads=threads)
            self._run = self._interpreter.get_signature_runner()
        except (ValueError, RuntimeError) as e:
            raise BundleError(f"The model file {bundle.tflite_path.name} is damaged: {e}") from e
        inputs = self._run.get_input_details()
        outputs = self._run.get_output_details()
        names = bundle.meta.get("outputs", {})
        if not isinstance(names, dict) or not {"emotion", "attention"} <= set(names):
            raise BundleError(
                "The model description does not name its emotion and attention outputs."
            )
        self._emotion, self._attention = str(names["emotion"]), str(names["attention"])
        if set(inputs) != {"features"} or not {self._emotion, self._attention} <= set(outputs):
            raise BundleError(
                f"The model's inputs or outputs are not those its description names: it has "
                f"inputs {sorted(inputs)} and outputs {sorted(outputs)}, the description names "
                f"input 'features' and outputs {self._emotion!r}, {self._attention!r}."
            )
        expect = {
            self._emotion: (1, len(bundle.labels)),
            self._attention: (1, bundle.attention_steps),
        }
        shapes = {k: tuple(int(n) for n in v["shape"]) for k, v in outputs.items()}
        given = tuple(int(n) for n in inputs["features"]["shape"])
        if given != bundle.input_shape or any(shapes.get(k) != v for k, v in expect.items()):
            raise BundleError(
                f"The model file does not match its description: input {given} "
                f"(described {bundle.input_shape}), outputs {shapes} (described {expect})."
            )
        try:  # a model damaged inside (types, shapes of its ops) fails only when first run
            with quiet_native_stderr():  # LiteRT announces its CPU delegate on the first run
                trial = self.predict(np.zeros(bundle.input_shape[1:], np.float32))
        except (ValueError, RuntimeError) as e:
            raise BundleError(f"The model file {bundle.tflite_path.name} is damaged: {e}") from e
        if not (np.isfinite(trial.probabilities).all() and np.isfinite(trial.attention).all()):
            raise BundleError(
                f"The model file {bundle.tflite_path.name} is damaged: it computes no valid "
                "probabilities."
            )

    def predict(self, window: Array) -> Prediction:
        """Calibrated probabilities and attention for one normalised window, shape
        ``(frames, features)``."""
        out = self._run(features=window[None].astype(np.float32, copy=False))
        probs = temper(out[self._emotion][0], self.bundle.temperature)
        return Prediction(probs, out[self._attention][0].copy())

    def predict_features(self, window: Array) -> Prediction:
        """:meth:`predict` on raw features, normalised with the bundle's training statistics."""
        return self.predict(normalise(window, self.bundle.mean, self.bundle.std))
