"""A real, small training run: real clips, real TensorFlow, exported, run by the app's engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app import bundle as bundles
from app.engine import Engine
from app.offline import analyze_file
from model_training.__main__ import main as train_main
from tests.data import datasets

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    code = train_main([
        "train", "--datasets", str(datasets()), "--corpora", "ravdess", "emodb",
        "--limit", "3", "--epochs", "2", "--variants", "1", "--out", str(out / "bundle"),
        "--cache", str(out / "cache"), "--workers", "1",
    ])  # fmt: skip
    assert code == 0
    return out / "bundle"


def test_run_exports_a_bundle_the_app_runs(run: Path) -> None:
    b = bundles.load(run)
    assert b.labels == (
        "neutral",
        "calm",
        "happy",
        "sad",
        "angry",
        "fearful",
        "disgust",
        "surprised",
    )
    engine = Engine(b)
    window = np.zeros((b.window_frames, b.features.n_features), np.float32)
    p = engine.predict(window)
    assert p.probabilities.shape == (8,) and p.attention.shape == (b.attention_steps,)
    assert np.isclose(p.probabilities.sum(), 1, atol=1e-4)
    assert np.isclose(p.attention.sum(), 1, atol=1e-4)
    clip = next((datasets() / "ravdess").rglob("*.flac"))
    analysis = analyze_file(clip, engine)
    assert analysis.speech.any()
    assert analysis.overall[0] in b.labels


def test_report_is_on_held_out_speakers_only(run: Path) -> None:
    report = json.loads((run / "report.json").read_text())
    train = set(report["training"]["speakers"])
    test = set(report["test"]["speakers"])
    assert test and not train & test
    assert not train & set(report["training"]["val_speakers"])
    pooled = report["test"]["pooled"]
    assert 0 <= pooled["ua"] <= 1 and 0 <= pooled["accuracy"] <= 1
    assert np.asarray(pooled["confusion"]).sum() == pooled["clips"]
    assert (run / "confusion.png").stat().st_size > 1000
    assert "UA" in (run / "report.md").read_text()


def test_keras_file_loads_in_safe_mode(run: Path) -> None:
    import keras

    model = keras.models.load_model(run / "emotion.keras", safe_mode=True)
    assert [o.name for o in model.outputs] or len(model.outputs) == 2


def test_second_run_uses_the_feature_cache(run: Path) -> None:
    cache = run.parent / "cache" / "features"
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")}
    assert before
    code = train_main([
        "train", "--datasets", str(datasets()), "--corpora", "ravdess", "emodb",
        "--limit", "3", "--epochs", "1", "--variants", "1", "--out", str(run.parent / "again"),
        "--cache", str(run.parent / "cache"), "--workers", "1",
    ])  # fmt: skip
    assert code == 0
    after = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")}
    assert after == before


def test_bundle_whose_shapes_disagree_is_refused(run: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(run, bad)
    meta = json.loads((bad / "emotion.json").read_text())
    meta["window_seconds"] = 2.0
    (bad / "emotion.json").write_text(json.dumps(meta))
    with pytest.raises(bundles.BundleError, match="does not match"):
        Engine(bundles.load(bad))
    meta["labels"] = meta["labels"][:-1]
    meta["window_seconds"] = 3.0
    (bad / "emotion.json").write_text(json.dumps(meta))
    with pytest.raises(bundles.BundleError, match="does not match"):
        Engine(bundles.load(bad))


def test_training_continues_from_a_saved_model(run: Path, capsys: pytest.CaptureFixture) -> None:
    common = [
        "train", "--datasets", str(datasets()), "--corpora", "ravdess", "emodb",
        "--limit", "3", "--epochs", "1", "--variants", "1", "--cache", str(run.parent / "cache"),
        "--workers", "1", "--init", str(run / "emotion.keras"),
    ]  # fmt: skip
    assert train_main([*common, "--out", str(run.parent / "continued")]) == 0
    report = json.loads((run.parent / "continued" / "report.json").read_text())
    assert report["training"]["initialised_from"] == str(run / "emotion.keras")
    assert "test_adapted" in report and report["test_adapted"]["adaptation"] > 0
    other = [*common, "--out", str(run.parent / "other"), "--recurrent", "bigru"]
    assert train_main(other) == 2
    assert "another shape" in capsys.readouterr().err
