"""Fitting :mod:`app.familiar`: the reference of training windows, the distance's scale and
threshold on held-out speakers, and the temperature's growth on corpora left out.

Each choice is made on data the reference never held: the scale and threshold on validation
speakers, the slope on whole corpora a model of the same recipe never heard.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from app.engine import temper
from app.familiar import Familiarity, K, softening, statistics
from model_training.calibration import nll

DIMS = 64  # whitened principal directions kept: beyond them the spread is mostly noise
POINTS = 4000  # reference windows: the distance costs ~0.3 ms a window against 26 ms encoding
FIT_ROWS = 20000  # windows the directions are found on
QUANTILE = 0.99  # of held-out speakers' window distances: above it, unfamiliar
METHOD = (
    "whitened principal directions of the training windows' encoder statistics (mean and standard "
    "deviation of each window's frames); distance: to the k-th nearest of a sample of training "
    "windows, in units of the validation speakers' median; unfamiliar above the validation "
    "speakers' 99th percentile; the temperature grows with the distance beyond 1 by a slope "
    "fitted (log-likelihood) on out-of-fold speakers and on corpora left out"
)
SLOPES = np.linspace(0.0, 3.0, 61)  # the temperature's growth searched

Array = npt.NDArray[np.float32]


def of_windows(train: Sequence[Sequence[npt.NDArray[Any]]], held_out: Sequence[npt.NDArray[Any]]
               ) -> Familiarity:  # fmt: skip
    """:func:`fit` on cached encoder windows: every rendering of the training clips, the clean
    windows of the held-out ones."""
    return fit(statistics(np.concatenate([w for clip in train for w in clip])),
               statistics(np.concatenate(held_out)))  # fmt: skip


def fit(train: Array, held_out: Array, seed: int = 0) -> Familiarity:
    """The reference of ``train`` windows' embeddings, its distances scaled so that the median
    ``held_out`` window (speakers it never held) measures 1 and :data:`QUANTILE` of them stay
    below the unfamiliar threshold."""
    rng = np.random.default_rng(seed)
    mean = train.mean(axis=0)
    rows = train[rng.choice(len(train), min(FIT_ROWS, len(train)), replace=False)] - mean
    _, spread, directions = np.linalg.svd(rows, full_matrices=False)
    dims = min(DIMS, len(spread))
    basis = (directions[:dims].T / (spread[:dims] / np.sqrt(len(rows)))).astype(np.float32)
    picked = train[rng.choice(len(train), min(POINTS, len(train)), replace=False)]
    points = ((picked - mean) @ basis).astype(np.float32)
    raw = Familiarity(mean.astype(np.float32), basis, points, 1.0, min(K, len(points)))
    far = raw.distance(held_out)
    scale = float(np.median(far))
    return Familiarity(raw.mean, basis, points, scale, raw.k, float(np.quantile(far, QUANTILE))
                       / scale)  # fmt: skip


def fit_slope(
    windows: Sequence[Array], distances: Sequence[Array], truth: Sequence[int], base: float
) -> float:
    """The temperature's growth with distance (:meth:`Familiarity.temperature`) whose clip
    probabilities (each window tempered at its own distance, then averaged) have the least
    negative log-likelihood on ``windows`` of clips their model never heard."""
    losses = [nll(clip_probabilities(windows, distances, base, s), truth) for s in SLOPES]
    return float(SLOPES[int(np.argmin(losses))])


def clip_probabilities(
    windows: Sequence[Array], distances: Sequence[Array], base: float, slope: float
) -> Array:
    """Clip probabilities as the app makes them with this familiarity: tempered, then averaged."""
    return np.stack([temper(w, base * softening(d, slope)).mean(axis=0)
                     for w, d in zip(windows, distances, strict=True)])  # fmt: skip
