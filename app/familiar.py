"""How far a window lies from the speech the model learnt from, and how much less sure that
makes it.

A model that heard three corpora judges a fourth (another language, studio or way of speaking)
worse while sounding as sure: measured leave-one-corpus-out, its top probability ran 0.2–0.3
above its accuracy. A window's encoder statistics (the mean and spread of its frames) are
whitened and compared with those of training windows: the distance to the ``k``-th nearest, in
units of what held-out speakers of the training corpora measure (1 is typical of a new voice of
a known corpus), softens the probabilities (a temperature growing with the distance, fitted on
corpora left out) and, above a threshold fitted on held-out speakers, marks the input as
unfamiliar.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FILE = "familiar.npz"
K = 10  # neighbours: the k-th nearest, so a few odd training windows do not make anything near

Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Familiarity:
    """Whitening, reference windows and the scale of their distances."""

    mean: Array  # (embedding,) the training windows' mean
    basis: Array  # (embedding, dims) projection onto whitened principal directions
    points: Array  # (n, dims) training windows, projected
    scale: float  # the median distance of held-out speakers' windows
    k: int = K
    unfamiliar_above: float = np.inf  # distance beyond which the input is called unfamiliar
    slope: float = 0.0  # temperature = base * max(1, distance) ** slope

    def distance(self, embeddings: npt.ArrayLike) -> Array:
        """``(..., embedding)`` -> ``(...)``: distances in units of :attr:`scale`."""
        x = np.asarray(embeddings, np.float32)
        z = (x.reshape(-1, x.shape[-1]) - self.mean) @ self.basis
        d2 = (
            (z * z).sum(axis=1)[:, None]
            - 2 * z @ self.points.T
            + (self.points * self.points).sum(axis=1)[None]
        )
        kth = np.partition(d2, self.k - 1, axis=1)[:, self.k - 1]
        out = np.sqrt(np.maximum(kth, 0.0)) / self.scale
        return out.reshape(x.shape[:-1]).astype(np.float32)

    def temperature(self, base: float, distance: float) -> float:
        """The calibration temperature at this distance: ``base`` for familiar input."""
        return float(base * softening(distance, self.slope))

    def arrays(self) -> bytes:
        """The arrays as the bundle's file holds them."""
        buffer = io.BytesIO()
        np.savez(buffer, mean=self.mean, basis=self.basis, points=self.points)
        return buffer.getvalue()

    def meta(self) -> dict[str, Any]:
        """The numbers the bundle's description holds beside the file."""
        return {
            "file": FILE,
            "k": self.k,
            "scale": self.scale,
            "unfamiliar_above": self.unfamiliar_above,
            "temperature_slope": self.slope,
        }


def statistics(frames: npt.ArrayLike) -> Array:
    """Encoder frames ``(..., steps, width)`` -> ``(..., 2 width)``: their mean and standard
    deviation over time, what a window is measured by."""
    x = np.asarray(frames, np.float32)
    return np.concatenate([x.mean(axis=-2), x.std(axis=-2)], axis=-1).astype(np.float32)


def softening(distance: npt.ArrayLike, slope: float) -> Array:
    """How many times the temperature grows at ``distance``: 1 up to the typical distance of a
    new voice of a known corpus, then as a power of it."""
    return np.asarray(np.maximum(1.0, np.asarray(distance, np.float32)) ** slope, np.float32)


def load(path: Path, meta: dict[str, Any]) -> Familiarity:
    """From a bundle's file and description block (ValueError/OSError if either is wrong)."""
    with np.load(path) as f:
        mean, basis, points = (np.asarray(f[n], np.float32) for n in ("mean", "basis", "points"))
    k, scale = int(meta["k"]), float(meta["scale"])
    above, slope = float(meta["unfamiliar_above"]), float(meta["temperature_slope"])
    if mean.ndim != 1 or basis.shape[0] != mean.size or points.shape[1:] != basis.shape[1:]:
        raise ValueError(f"shapes {mean.shape}, {basis.shape}, {points.shape} do not fit together")
    if not (1 <= k <= len(points) and scale > 0 and above > 0 and 0 <= slope <= 4):
        raise ValueError(f"k {k}, scale {scale}, threshold {above} or slope {slope} out of range")
    if not all(np.isfinite(a).all() for a in (mean, basis, points)):
        raise ValueError("its arrays are not finite")
    return Familiarity(mean, basis, points, scale, k, above, slope)
