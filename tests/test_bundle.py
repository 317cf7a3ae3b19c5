"""Bundle metadata validation: a bad description is refused with a reason, never guessed at."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app import bundle as bundles
from app.features import FeatureSettings


def meta(**changes: Any) -> dict[str, Any]:
    n = FeatureSettings().n_features
    m = {
        "format": 1,
        "labels": ["calm", "angry"],
        "sample_rate": 16000,
        "window_seconds": 3.0,
        "hop_seconds": 0.25,
        "features": FeatureSettings().to_dict(),
        "normalisation": {"mean": [0.0] * n, "std": [1.0] * n},
        "attention": {"steps": 37},
        "outputs": {"emotion": "output_0", "attention": "output_1"},
    }
    m.update(changes)
    return m


def write(tmp_path: Path, m: Any) -> Path:
    (tmp_path / bundles.META_FILE).write_text(json.dumps(m))
    (tmp_path / bundles.TFLITE_FILE).write_bytes(b"")
    return tmp_path


def test_valid_meta_loads(tmp_path: Path) -> None:
    b = bundles.load(write(tmp_path, meta()))
    assert b.labels == ("calm", "angry")
    assert b.input_shape == (1, 297, 40)
    assert b.adapt_seconds is None  # a model trained cold: no shift, whatever the voice
    np.testing.assert_array_equal(b.population.speech_mean, b.mean)
    adaptive = bundles.load(
        write(tmp_path, meta(adaptation={"time_constant": 8, "speech_mean": [2.0] * 40}))
    )
    assert adaptive.adapt_seconds == 8 and adaptive.speech_mean[0] == 2.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": 9}, "format"),
        ({"labels": ["angry"]}, "labels"),
        ({"labels": ["angry", "angry"]}, "labels"),
        ({"hop_seconds": 0}, "hop"),
        ({"sample_rate": 8000}, "sample rates"),
        ({"normalisation": {"mean": [0.0], "std": [1.0]}}, "Normalisation"),
        ({"normalisation": {"mean": [0.0] * 40, "std": [0.0] * 40}}, "positive"),
        ({"features": {"kind": "mfcc", "center": True}}, "invalid"),
        ({"attention": {}}, "lacks"),
        ({"adaptation": {"time_constant": -1, "speech_mean": [0.0] * 40}}, "time constant"),
        ({"adaptation": {"time_constant": 10, "speech_mean": [0.0] * 3}}, "speech mean"),
        ({"adaptation": {"time_constant": 10}}, "speech mean"),
        ({"adaptation": "yes"}, "invalid"),
    ],
)
def test_bad_meta_is_refused(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(bundles.BundleError, match=message):
        bundles.load(write(tmp_path, meta(**changes)))


def test_missing_or_damaged_files(tmp_path: Path) -> None:
    with pytest.raises(bundles.BundleError, match="No emotion model"):
        bundles.load(tmp_path)
    write(tmp_path, meta())
    (tmp_path / bundles.META_FILE).write_text("{not json")
    with pytest.raises(bundles.BundleError, match="damaged"):
        bundles.load(tmp_path)
    (tmp_path / bundles.META_FILE).write_text("[1, 2]")
    with pytest.raises(bundles.BundleError, match="not a JSON object"):
        bundles.load(tmp_path)
    (tmp_path / bundles.TFLITE_FILE).unlink()
    with pytest.raises(bundles.BundleError, match="missing"):
        bundles.load(tmp_path)


def test_truncated_model_file_is_refused(tmp_path: Path) -> None:
    from app.engine import Engine

    b = bundles.load(write(tmp_path, meta()))
    (tmp_path / bundles.TFLITE_FILE).write_bytes(b"TFL3" + bytes(100))
    with pytest.raises(bundles.BundleError, match="damaged"):
        Engine(b)
