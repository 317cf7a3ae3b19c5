"""Augmentation keeps shapes, rates and labels sensible."""

from __future__ import annotations

import numpy as np
import pytest

from app.audio import files
from app.features import FeatureSettings
from model_training import augment
from tests.data import some_clips

RATE = FeatureSettings().sample_rate


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return files.load(some_clips("emodb", 1)[0], RATE)


def snr(clean: np.ndarray, noisy: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2)))


def test_noise_hits_the_requested_snr(clip: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    for target in (5.0, 20.0):
        noisy = augment.add_noise(clip, target, rng)
        assert noisy.shape == clip.shape and noisy.dtype == np.float32
        assert abs(snr(clip, noisy) - target) < 0.5


def test_pitch_keeps_length_and_stretch_changes_it(clip: np.ndarray) -> None:
    shifted = augment.pitch_shift(clip, RATE, 2.0)
    assert shifted.shape == clip.shape and not np.allclose(shifted, clip)
    faster = augment.time_stretch(clip, 1.25)
    assert abs(len(faster) - len(clip) / 1.25) < RATE * 0.02


def test_gain_clips_to_full_scale(clip: np.ndarray) -> None:
    loud = augment.gain(clip, 40.0)
    assert np.abs(loud).max() <= 1.0
    np.testing.assert_allclose(augment.gain(clip, -6.0), clip * 10 ** (-6 / 20), rtol=1e-5)


def test_render_is_seeded(clip: np.ndarray) -> None:
    s = augment.AugmentSettings()
    a = augment.render(clip, RATE, s, np.random.default_rng(3))
    b = augment.render(clip, RATE, s, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert augment.render(clip, RATE, augment.NONE, np.random.default_rng(3)) is clip


def test_crop_and_mixup_shapes() -> None:
    rng = np.random.default_rng(1)
    fill = np.full(3, -5.0, np.float32)
    x = rng.standard_normal((50, 3)).astype(np.float32)
    assert augment.crop(x, 20, fill, rng).shape == (20, 3)
    short = augment.crop(x[:5], 20, fill, rng)
    assert short.shape == (20, 3) and (short == -5.0).all(axis=1).sum() == 15
    batch = rng.standard_normal((8, 20, 3)).astype(np.float32)
    labels = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 8)]
    weights = np.arange(1.0, 9.0)
    mx, my, mw = augment.mixup(batch, labels, weights, 0.2, rng)
    assert mx.shape == batch.shape and my.shape == labels.shape and mw.shape == weights.shape
    np.testing.assert_allclose(my.sum(axis=1), 1.0, rtol=1e-6)
    assert (np.abs(mw - weights) <= 0.5 * 7).all() and mw.min() >= 1.0 and mw.max() <= 8.0


def test_balance_evens_corpora_and_labels() -> None:
    from model_training.data import balance

    corpora = ["tess"] * 90 + ["ravdess"] * 10 + ["emodb"] * 5
    labels = np.array([0] * 60 + [1] * 30 + [0] * 5 + [1] * 3 + [2] * 2 + [0] * 5)
    p, w = balance(corpora, labels, 4)
    assert p.sum() == pytest.approx(1.0)
    names = np.array(corpora)
    for c in ("tess", "ravdess", "emodb"):
        assert p[names == c].sum() == pytest.approx(1 / 3)
    weighted = np.bincount(labels, weights=p * w[labels], minlength=4)
    np.testing.assert_allclose(weighted[:3], 1 / 3)
    assert w[3] == 0
    assert (p * w[labels]).sum() == pytest.approx(1.0)
