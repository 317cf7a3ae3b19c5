"""Calibration: the temperature the app applies, its fit on validation, the ECE that checks it,
and bundles with and without it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app import bundle as bundles
from app.engine import Engine, temper
from model_training import calibration


def overconfident(n: int, labels: int, right: float, seed: int = 0) -> tuple[list, np.ndarray]:
    """Clips of 3 windows with 0.9 on their top emotion, which is right ``right`` of the time."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(labels, size=n)
    windows = []
    for t in truth:
        top = t if rng.random() < right else (t + 1 + rng.integers(labels - 1)) % labels
        p = np.full((3, labels), 0.1 / (labels - 1), np.float32)
        p[:, top] = 0.9
        windows.append(p)
    return windows, truth


def test_temper_keeps_the_order_and_softens() -> None:
    p = np.array([[0.7, 0.2, 0.1]], np.float32)
    assert np.array_equal(temper(p, 1.0), p)
    soft, sharp = temper(p, 2.0), temper(p, 0.5)
    assert soft[0, 0] < 0.7 < sharp[0, 0]
    for q in (soft, sharp):
        assert q.argmax() == 0 and q.sum() == pytest.approx(1, abs=1e-6)


def test_ece_of_known_confidence_and_accuracy() -> None:
    windows, truth = overconfident(400, 4, right=0.5)
    probs = calibration.clip_probabilities(windows)
    accuracy = float(np.mean(probs.argmax(axis=1) == truth))
    assert calibration.ece(probs, truth) == pytest.approx(0.9 - accuracy, abs=1e-6)


def test_fitted_temperature_lowers_the_ece_of_an_overconfident_model() -> None:
    fit, truth = overconfident(400, 4, right=0.5, seed=1)
    held, held_truth = overconfident(400, 4, right=0.5, seed=2)  # other clips, same model
    t = calibration.fit_temperature(fit, truth)
    assert t > 1.5
    before = calibration.ece(calibration.clip_probabilities(held), held_truth)
    after = calibration.ece(calibration.clip_probabilities(held, t), held_truth)
    assert before > 0.3 and after < 0.05


def test_the_engine_applies_the_bundle_temperature(engine: Engine, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(engine.bundle.path, copy)
    meta = json.loads((copy / "emotion.json").read_text())
    meta["calibration"] = {"temperature": 3.0}
    (copy / "emotion.json").write_text(json.dumps(meta))
    warmer = Engine(bundles.load(copy))
    window = np.random.default_rng(0).normal(0, 1, engine.bundle.input_shape[1:]).astype(np.float32)
    raw = temper(engine.predict(window).probabilities, 1 / engine.bundle.temperature)
    np.testing.assert_allclose(warmer.predict(window).probabilities, temper(raw, 3.0), atol=2e-3)
    meta["calibration"] = {"temperature": -1}
    (copy / "emotion.json").write_text(json.dumps(meta))
    with pytest.raises(bundles.BundleError, match="temperature"):
        bundles.load(copy)
    del meta["calibration"]
    (copy / "emotion.json").write_text(json.dumps(meta))
    assert bundles.load(copy).temperature == 1.0  # no calibration: raw probabilities


def test_a_temperature_is_kept_only_if_it_carries_over_between_speakers() -> None:
    """Overconfident alike for every speaker: a temperature fitted on the others helps each.
    Calibrated already: one fitted on the others cannot help, and is not kept."""
    windows, truth = overconfident(300, 4, right=0.5, seed=3)
    speakers = [f"s{i % 3}" for i in range(len(truth))]
    assert calibration.transfers(windows, list(truth), speakers)
    fair = [np.full((3, 4), 0.1 / 3, np.float32) for _ in range(300)]
    for p in fair:
        p[:, 0] = 0.9  # 0.9 sure of label 0, and right exactly 9 times in 10 for every speaker
    fair_truth = [1 if (i // 3) % 10 == 0 else 0 for i in range(300)]
    assert not calibration.transfers(fair, fair_truth, speakers)


@pytest.mark.parametrize("skew", [1.0, 4.0])
def test_uncertain_below_is_where_files_are_right_half_the_time(skew: float) -> None:
    """Files right as often as their top probability says: the line lies near 0.5 however
    many unsure files there are (``skew``: most files unsure); overconfident by 0.2, near 0.7."""
    from model_training.limits import uncertain_below

    rng = np.random.default_rng(int(skew))
    top = 0.2 + 0.75 * rng.beta(1.0, skew, 4000)
    for shift, expected in ((0.0, 0.5), (0.2, 0.7)):
        right = rng.random(len(top)) < top - shift
        probs = np.repeat(((1 - top) / 7)[:, None], 8, axis=1)
        probs[:, 0] = top  # the top emotion, of eight
        truth = np.where(right, 0, 1 + rng.integers(7, size=len(top)))
        assert uncertain_below(probs, truth) == pytest.approx(expected, abs=0.05)
    assert uncertain_below(probs, np.zeros(len(top), int)) == 0.0  # always right: never unsure
    assert uncertain_below(probs, probs.argmin(axis=1)) == 0.99  # never right: a bundle takes < 1


def test_ece_floor_is_what_a_calibrated_model_measures_by_chance() -> None:
    """Labels drawn from the probabilities themselves (a perfectly calibrated model): the ECE
    measured falls within the floor 95 times in 100, and the floor shrinks with more clips."""
    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.full(8, 0.5), 331).astype(np.float32)
    median, high = calibration.ece_floor(probs, draws=1000)
    assert 0 < median < high < 0.15
    measured = []
    for _ in range(200):
        truth = [rng.choice(8, p=p / p.sum()) for p in probs]
        measured.append(calibration.ece(probs, truth))
    assert np.median(measured) == pytest.approx(median, abs=0.01)
    assert 0.85 < np.mean(np.array(measured) <= high) < 0.995  # 0.95, give or take chance
    bigger = np.repeat(probs, 10, axis=0)
    assert calibration.ece_floor(bigger, draws=100)[0] < median / 2


def test_a_noise_threshold_never_flags_most_clean_recordings() -> None:
    """Halfway between the last reliable and the first failing step, unless that would flag
    more than 5 % of the clean copies (studio recordings with a little hum are not noisy)."""
    from model_training.limits import threshold

    spread = list(np.linspace(15.0, 35.0, 101))  # clean copies' SNR, median 25
    steps = [(0.0, spread), (0.2, [10.0] * 101)]  # the first noise step fails
    assert threshold("snr_db", True, steps) == pytest.approx(np.percentile(spread, 5))
    tight = [(0.0, [30.0] * 101), (0.2, [10.0] * 101)]
    assert threshold("snr_db", True, tight) == pytest.approx(20.0)  # halfway flags none clean
    loud = [(0.0, [-30.0] * 101), (0.2, [-70.0] * 101)]
    assert threshold("level_db", True, loud) == pytest.approx(-50.0)
    # a studio the validation speakers do not show, with a higher noise floor, caps it lower
    other = list(np.linspace(12.0, 30.0, 41))
    assert threshold("snr_db", True, tight, [other]) == pytest.approx(np.percentile(other, 5))
