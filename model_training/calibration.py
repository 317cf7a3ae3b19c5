"""Probabilities that mean what they say: a temperature fitted on validation speakers, and the
expected calibration error (ECE) and reliability diagram that show whether it worked.

The temperature is applied to every window's probabilities (``app.engine.temper``, as the app
does) before a clip's windows are averaged, so the figures here are those the user sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app import atomic
from app.engine import temper

BINS = 10  # of top-label confidence, for the ECE and the diagram
MIN_GAIN = 0.01  # of ECE, on average over held-out validation speakers, for a temperature to stay
FLOOR_DRAWS = 1000  # simulated label draws for the ECE a calibrated model shows by chance
TEMPERATURES = np.exp(np.linspace(np.log(0.25), np.log(8.0), 121))  # the grid searched

Array = npt.NDArray[np.float32]


def clip_probabilities(windows: Sequence[Array], temperature: float = 1.0) -> Array:
    """Each clip's probabilities: the mean of its windows', each tempered first (every clip has
    at least one window)."""
    counts = np.array([len(w) for w in windows])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    tempered = temper(np.concatenate(windows), temperature)
    return (np.add.reduceat(tempered, starts, axis=0) / counts[:, None]).astype(np.float32)


def nll(probs: Array, truth: npt.ArrayLike) -> float:
    picked = probs[np.arange(len(probs)), np.asarray(truth)]
    return float(-np.mean(np.log(np.maximum(picked, 1e-12))))


def fit_temperature(windows: Sequence[Array], truth: npt.ArrayLike) -> float:
    """The temperature whose clip probabilities have the least negative log-likelihood (a grid
    from 0.25 to 8; 1 is no change)."""
    losses = [nll(clip_probabilities(windows, t), truth) for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(losses))])


def transfers(windows: Sequence[Array], truth: Sequence[int], speakers: Sequence[str]) -> bool:
    """Whether a temperature fitted on some speakers lowers the ECE of another (by more than
    :data:`MIN_GAIN`): fitted without each speaker in turn and scored on that speaker, on
    average (validation speakers only)."""
    who = np.asarray(speakers)
    gains = []
    for speaker in np.unique(who):
        out = np.flatnonzero(who == speaker).tolist()
        kept = np.flatnonzero(who != speaker).tolist()
        t = fit_temperature([windows[i] for i in kept], [truth[i] for i in kept])
        held, y = [windows[i] for i in out], [truth[i] for i in out]
        gains.append(ece(clip_probabilities(held), y) - ece(clip_probabilities(held, t), y))
    return bool(np.mean(gains) > MIN_GAIN)


def reliability(probs: Array, truth: npt.ArrayLike, bins: int = BINS) -> dict[str, list[float]]:
    """Per confidence bin of the top label: clips, mean confidence, accuracy."""
    truth = np.asarray(truth)
    confidence, guess = probs.max(axis=1), probs.argmax(axis=1)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    out: dict[str, list[float]] = {"clips": [], "confidence": [], "accuracy": []}
    for b in range(bins):
        rows = which == b
        out["clips"].append(float(rows.sum()))
        out["confidence"].append(float(confidence[rows].mean()) if rows.any() else float("nan"))
        out["accuracy"].append(float((guess[rows] == truth[rows]).mean()) if rows.any() else 0.0)
    return out


def ece(probs: Array, truth: npt.ArrayLike, bins: int = BINS) -> float:
    """Expected calibration error of the top label: the clip-weighted gap between confidence and
    accuracy over :data:`BINS` equal-width bins."""
    r = reliability(probs, truth, bins)
    n = sum(r["clips"])
    gaps = [
        c / n * abs(conf - acc)
        for c, conf, acc in zip(r["clips"], r["confidence"], r["accuracy"], strict=True)
        if c
    ]
    return float(sum(gaps))


def ece_floor(probs: Array, draws: int = FLOOR_DRAWS, seed: int = 0) -> tuple[float, float]:
    """The ECE a perfectly calibrated model with these probabilities would measure on this many
    clips (median and 95th percentile over draws of each clip's label from its own
    probabilities): what a measured ECE cannot be told apart from."""
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    found = []
    for _ in range(draws):
        u = rng.random((len(probs), 1))
        truth = np.minimum((cumulative < u).sum(axis=1), probs.shape[1] - 1)
        found.append(ece(probs, truth))
    median, high = np.percentile(found, [50, 95])
    return float(median), float(high)


def plot(curves: dict[str, dict[str, list[float]]], path: Path) -> None:
    """Reliability diagram: accuracy against confidence per bin, one line per curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=110)
    ax.plot([0, 1], [0, 1], color="black", linestyle=":", linewidth=1, label="perfect")
    for name, r in curves.items():
        kept = [i for i, c in enumerate(r["clips"]) if c]
        ax.plot([r["confidence"][i] for i in kept], [r["accuracy"][i] for i in kept], "o-",
                label=name)  # fmt: skip
    ax.set_xlabel("confidence of the top emotion")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Held-out speakers: reliability")
    fig.tight_layout()
    with atomic.replacing(path) as f:
        fig.savefig(f, format=path.suffix.lstrip("."))
    plt.close(fig)
