"""Accuracy, UA and macro-F1 on hand-checked cases."""

from __future__ import annotations

import pytest

from model_training.metrics import by_group, scores


def test_ua_differs_from_accuracy_on_uneven_classes() -> None:
    truth = [0] * 8 + [1] * 2
    predicted = [0] * 10
    s = scores(truth, predicted, ["a", "b", "c"])
    assert s["accuracy"] == pytest.approx(0.8)
    assert s["ua"] == pytest.approx(0.5)  # class c absent: not averaged in
    assert s["macro_f1"] == pytest.approx((2 * 0.8 / 1.8 + 0) / 2)
    assert s["confusion"] == [[8, 0, 0], [2, 0, 0], [0, 0, 0]]
    assert set(s["per_class"]) == {"a", "b"}


def test_by_group_pools_and_splits() -> None:
    out = by_group([0, 1, 1], [0, 1, 0], ["x", "y", "y"], ["a", "b"])
    assert out["all"]["clips"] == 3 and out["x"]["accuracy"] == 1.0 and out["y"]["ua"] == 0.5
