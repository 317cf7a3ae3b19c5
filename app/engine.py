"""Runs the bundled model through LiteRT: one normalised feature window in, probabilities out.

LiteRT imports in a fraction of TensorFlow's time and memory, so the app never loads TensorFlow.
An encoder model with the encoder in a file of its own (what training writes: int8 weights) runs
it on each block of a window on its own, then the head over the window's encoder frames; a block
seen lately is not encoded again (:class:`Blocks`), so where blocks are shorter than a window,
windows a hop apart share them (the recipe's block is the whole window: shorter ones judged
worse). A model in one file (the bundled one, the CNN) runs the window through it whole.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.bundle import Bundle, BundleError
from app.familiar import statistics
from app.features import normalise

THREADS = 1
KEEP = 16  # encoded blocks remembered: a window's and those of the windows just before it

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


def temper(probs: Array, temperature: float | Array) -> Array:
    """Probabilities at a calibration temperature: ``softmax(log(p) / T)``, the same as dividing
    the logits by ``T``; works on ``(..., labels)`` with one ``T`` or one per row (``(...)``).
    ``T`` > 1 softens, 1 changes nothing."""
    t = np.asarray(temperature, np.float32)
    if np.all(t == 1.0):
        return np.array(probs, np.float32)
    logits = np.log(np.maximum(probs, 1e-12)) / t[..., None]
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class Prediction:
    probabilities: Array  # (labels,), sums to 1
    attention: Array  # (attention steps,), sums to 1
    embedding: Array | None = None  # encoder frames' mean and std over time (encoder models)
    distance: float | None = None  # from the speech the model learnt (app.familiar); 1: typical


def output_order(name: str) -> int:
    """LiteRT names outputs ``output_0``, ``output_1``…: their order in the Keras model."""
    tail = name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class Blocks:
    """An encoder run over a window block by block, each block of ``frames`` feature frames on
    its own; the outputs of the last ``keep`` blocks are remembered by their content, so
    overlapping windows (live or in a file) encode each block once. A window that is one block
    is never shared by another, so it is not remembered (hashing it cost ~3 % of a file's
    analysis). Not thread-safe."""

    def __init__(self, runner: Any, frames: int, keep: int = KEEP) -> None:
        self._run = runner  # the encoder's LiteRT signature runner
        (self._input,) = self._run.get_input_details()
        self.outputs = sorted(self._run.get_output_details(), key=output_order)
        self.frames = frames
        self.keep = keep
        self.runs = 0  # blocks encoded so far (the others were remembered)
        self._seen: OrderedDict[bytes, list[Array]] = OrderedDict()

    def __call__(self, window: Array) -> list[Array]:
        """``(blocks × frames, features)`` -> per output, the blocks' outputs one after another
        along time."""
        if len(window) % self.frames:
            raise ValueError(
                f"a window of {len(window)} frames is not whole blocks of {self.frames}"
            )
        if len(window) == self.frames:
            return self._encode(window)
        parts = [
            self.block(window[i : i + self.frames]) for i in range(0, len(window), self.frames)
        ]
        return [np.concatenate(p) for p in zip(*parts, strict=True)]

    def shapes(self) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
        """The encoder's input shape and output shapes."""
        given = self._run.get_input_details()[self._input]["shape"]
        out = self._run.get_output_details()
        return tuple(int(n) for n in given), [
            tuple(int(n) for n in out[k]["shape"]) for k in self.outputs
        ]

    def block(self, x: Array) -> list[Array]:
        x = np.ascontiguousarray(x, np.float32)
        key = x.tobytes()
        out = self._seen.get(key)
        if out is not None:
            self._seen.move_to_end(key)
            return out
        out = self._seen[key] = self._encode(x)
        if len(self._seen) > self.keep:
            self._seen.popitem(last=False)
        return out

    def _encode(self, x: Array) -> list[Array]:
        got = self._run(**{self._input: np.ascontiguousarray(x, np.float32)[None]})
        self.runs += 1
        return [np.array(got[name][0]) for name in self.outputs]


@dataclass
class Lane:
    """One copy of the model's interpreters: a window at a time runs on it."""

    run: Any  # the (head) model's signature runner
    blocks: Blocks | None  # the encoder, for an encoder model


def _lane(bundle: Bundle, threads: int) -> Lane:
    run = _signatures(bundle.tflite_path, threads)
    encoder, path = bundle.encoder, bundle.encoder_path
    blocks = None
    if encoder is not None and path is not None:
        blocks = Blocks(_signatures(path, threads), encoder.block_frames)
    return Lane(run, blocks)


class Engine:
    """A loaded model, checked against its bundle's metadata before it is trusted. ``lanes``
    copies of its interpreters let as many windows run at once on as many threads (LiteRT lets go
    of the GIL): the live meter beside a file's analysis, or a long file on every core."""

    def __init__(self, bundle: Bundle, threads: int = THREADS, lanes: int = 1) -> None:
        self.bundle = bundle
        first = _lane(bundle, threads)  # checked here; the other lanes are copies of it
        inputs = first.run.get_input_details()
        outputs = first.run.get_output_details()
        names = bundle.meta.get("outputs", {})
        if not isinstance(names, dict) or not {"emotion", "attention"} <= set(names):
            raise BundleError(
                "The model description does not name its emotion and attention outputs."
            )
        self._emotion, self._attention = str(names["emotion"]), str(names["attention"])
        self._input = "encoded" if first.blocks is not None else "features"
        if set(inputs) != {self._input} or not {self._emotion, self._attention} <= set(outputs):
            raise BundleError(
                f"The model's inputs or outputs are not those its description names: it has "
                f"inputs {sorted(inputs)} and outputs {sorted(outputs)}, the description names "
                f"input {self._input!r} and outputs {self._emotion!r}, {self._attention!r}."
            )
        expect = {
            self._emotion: (1, len(bundle.labels)),
            self._attention: (1, bundle.attention_steps),
        }
        shapes = {k: tuple(int(n) for n in v["shape"]) for k, v in outputs.items()}
        given = tuple(int(n) for n in inputs[self._input]["shape"])
        if given != bundle.model_input_shape or any(shapes.get(k) != v for k, v in expect.items()):
            raise BundleError(
                f"The model file does not match its description: input {given} "
                f"(described {bundle.model_input_shape}), outputs {shapes} (described {expect})."
            )
        if first.blocks is not None:
            self._check_encoder(first.blocks)
        self._lanes = [first] + [_lane(bundle, threads) for _ in range(lanes - 1)]
        self._free: queue.SimpleQueue[Lane] = queue.SimpleQueue()
        for lane in self._lanes:
            self._free.put(lane)
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

    @property
    def lanes(self) -> int:
        return len(self._lanes)

    def _check_encoder(self, blocks: Blocks) -> None:
        assert self.bundle.encoder is not None
        given, out = blocks.shapes()
        steps, width = self.bundle.model_input_shape[1:]
        block = self.bundle.encoder.block_frames
        expect_in = (1, block, self.bundle.features.n_features)
        expect_out = [(1, block * steps // self.bundle.window_frames, width)]
        if given != expect_in or out != expect_out:
            raise BundleError(
                f"The encoder file does not match the model's description: input {given} "
                f"(described {expect_in}), outputs {out} (described {expect_out})."
            )

    @property
    def blocks_encoded(self) -> int:
        """Encoder blocks run so far (0 for a model without an encoder of its own)."""
        return sum(lane.blocks.runs for lane in self._lanes if lane.blocks is not None)

    def predict(self, window: Array, shift: Array | None = None) -> Prediction:
        """Calibrated probabilities and attention for one normalised window, shape
        ``(frames, features)``; from any thread (it waits for a free lane). An encoder model's
        frames are moved by ``shift`` ``(width,)`` before its head (a speaker's offset from the
        voices it learnt) and summarised in ``embedding`` as the encoder computed them."""
        lane = self._free.get()
        try:
            x = window if lane.blocks is None else lane.blocks(window)[0]
            embedding = None
            if lane.blocks is not None:
                embedding = statistics(x)
                if shift is not None:
                    x = x + shift
            out = lane.run(**{self._input: x[None].astype(np.float32, copy=False)})
        finally:
            self._free.put(lane)
        temperature, distance = self.bundle.temperature, None
        known = self.bundle.familiarity
        if known is not None and embedding is not None:
            distance = float(known.distance(embedding))
            temperature = known.temperature(temperature, distance)
        probs = temper(out[self._emotion][0], temperature)
        return Prediction(probs, out[self._attention][0].copy(), embedding, distance)

    def predict_features(self, window: Array) -> Prediction:
        """:meth:`predict` on raw features, normalised with the bundle's training statistics."""
        return self.predict(normalise(window, self.bundle.mean, self.bundle.std))


def _signatures(path: Any, threads: int) -> Any:
    """The signature runner of a LiteRT file; a damaged file is a :class:`BundleError`."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        return Interpreter(model_path=str(path), num_threads=threads).get_signature_runner()
    except (ValueError, RuntimeError) as e:
        raise BundleError(f"The model file {path.name} is damaged: {e}") from e
