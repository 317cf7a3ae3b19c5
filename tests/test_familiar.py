"""Familiarity: how far a window's encoder statistics lie from the speech a reference holds, on
real speech through the bundled encoder."""

from __future__ import annotations

import numpy as np
import pytest

from app import familiar
from model_training import familiar as fitting


def test_the_temperature_grows_only_beyond_typical_distances() -> None:
    known = familiar.Familiarity(
        np.zeros(2, np.float32), np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32), 1.0,
        k=1, slope=1.5,
    )  # fmt: skip
    assert known.temperature(1.2, 0.5) == known.temperature(1.2, 1.0) == pytest.approx(1.2)
    assert known.temperature(1.2, 4.0) == pytest.approx(1.2 * 4.0**1.5)
    assert known.distance(np.array([3.0, 0.0])) == pytest.approx(2.0)  # to (1, 0), the nearest


def test_the_slope_softens_overconfident_far_windows_and_not_near_ones() -> None:
    """Far windows that are right a third of the time at 0.9 get a slope that brings them down;
    near ones are untouched by any slope."""
    rng = np.random.default_rng(0)
    windows, truth, far = [], [], []
    for i in range(300):
        y = int(rng.integers(4))
        top = y if rng.random() < 1 / 3 else (y + 1) % 4
        p = np.full((3, 4), 0.1 / 3, np.float32)
        p[:, top] = 0.9
        windows.append(p)
        truth.append(y)
        far.append(np.full(3, 3.0 if i % 2 else 0.8, np.float32))
    slope = fitting.fit_slope(windows, far, truth, 1.0)
    assert slope > 0.5
    probs = fitting.clip_probabilities(windows, far, 1.0, slope)
    assert np.allclose(probs[::2], np.stack(windows[::2]).mean(axis=1))  # near: as they were
    assert probs[1::2].max(axis=1).mean() < 0.6
