"""Real, small training runs of both models: real clips, real TensorFlow, exported, run by the
app's engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app import bundle as bundles
from app.engine import Blocks, Engine
from app.features import hop_frames
from app.offline import analyze_file
from model_training.__main__ import main as train_main
from tests.data import datasets

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a fixture trains a model


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    code = train_main([
        "train", "--model", "cnn", "--datasets", str(datasets()), "--corpora", "ravdess", "emodb",
        "--limit", "3", "--epochs", "2", "--variants", "1", "--out", str(out / "bundle"),
        "--cache", str(out / "cache"), "--workers", "1",
    ])  # fmt: skip
    assert code == 0
    return out / "bundle"


@pytest.fixture(scope="module")
def encoder_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled kind of model: Whisper's encoder, its layers chosen by the probe."""
    out = tmp_path_factory.mktemp("encoder")
    code = train_main([
        "train", "--datasets", str(datasets()), "--corpora", "ravdess", "emodb",
        "--limit", "3", "--epochs", "2", "--variants", "1", "--out", str(out / "bundle"),
        "--cache", str(out / "cache"), "--workers", "1",
        "--conditions", "noise 5 dB", "telephone GSM",
    ])  # fmt: skip
    assert code == 0
    return out / "bundle"


def test_robustness_is_scored_per_channel_beside_the_other_systems(
    encoder_run: Path, run: Path, tmp_path: Path
) -> None:
    """The held-out speakers heard through channels, in the training report and by ``evaluate``
    beside another bundle (the CNN) and eGeMAPS+SVM, run the same way."""
    report = json.loads((encoder_run / "report.json").read_text())
    assert set(report["robustness"]["this model"]) == {"clean", "noise 5 dB", "telephone GSM"}
    assert (encoder_run / "robustness.png").stat().st_size > 10_000
    assert json.loads((encoder_run / "emotion.json").read_text())["encoder"]["block_frames"] == 300
    copy = tmp_path / "bundle"
    shutil.copytree(encoder_run, copy)
    code = train_main([
        "evaluate", "--bundle", str(copy), "--datasets", str(datasets()), "--corpora", "ravdess",
        "emodb", "--limit", "3", "--cache", str(encoder_run.parent / "cache"), "--workers", "1",
        "--conditions", "level −30 dB", "--compare", f"CNN={run}", "--baseline",
    ])  # fmt: skip
    assert code == 0
    table = json.loads((copy / "report.json").read_text())["robustness"]
    assert list(table) == ["this model", "CNN", "eGeMAPS+SVM"]
    for system in table.values():
        assert list(system) == ["clean", "level −30 dB"]
        assert system["clean"]["pooled"]["clips"] == system["level −30 dB"]["pooled"]["clips"]
    markdown = (copy / "report.md").read_text()
    assert "## Through other channels" in markdown and "| level −30 dB | level |" in markdown


def test_encoder_run_exports_a_bundle_the_app_runs(encoder_run: Path) -> None:
    from model_training import whisper

    b = bundles.load(encoder_run)
    assert b.encoder is not None and b.encoder.sha256 == whisper.SHA256
    assert b.features.kind == "whisper" and b.input_shape == (1, 300, 80)  # 3 s and 15 ms
    assert b.attention_steps == 150  # an attention weight every 20 ms
    assert 1 <= b.encoder.layers <= 2 and "MIT" in b.encoder.licence
    meta = json.loads((encoder_run / "emotion.json").read_text())
    assert set(meta["encoder"]["layer_choice"]) == {"1", "2", "3", "4"}  # the probe ran
    assert meta["export_difference"] < 0.1  # the int8 encoder against Keras in float32
    engine = Engine(b)
    clip = next((datasets() / "emodb").rglob("*.flac"))
    before = engine.blocks_encoded
    analysis = analyze_file(clip, engine)
    assert analysis.speech.any() and analysis.overall[0] in b.labels
    # the encoder reads each block of a window on its own: a block shared by windows is
    # encoded once (the bundled recipe's block is the whole window: one a window)
    hop, block = hop_frames(b.features, b.hop_seconds), b.encoder.block_frames
    starts = {w * hop + k * block for w in range(len(analysis.ends))
              for k in range(b.window_frames // block)}  # fmt: skip
    assert engine.blocks_encoded - before == len(starts)
    window = np.random.default_rng(0).normal(0, 1, b.input_shape[1:]).astype(np.float32)
    first = engine.predict(window)
    runs = engine.blocks_encoded
    np.testing.assert_array_equal(engine.predict(window).probabilities, first.probabilities)
    # a block as long as the window is never shared by two windows: not remembered
    assert engine.blocks_encoded == runs + (block == b.window_frames)
    from ai_edge_litert.interpreter import Interpreter

    # a window of several blocks: a block seen before is remembered, and the same as encoded
    remembering = Blocks(Interpreter(str(b.encoder_path)).get_signature_runner(), block)
    twice = remembering(np.concatenate([window, window]))
    assert remembering.runs == b.window_frames // block
    half = len(twice[0]) // 2
    np.testing.assert_array_equal(twice[0][half:], twice[0][:half])
    np.testing.assert_array_equal(remembering(window)[0], twice[0][:half])
    assert remembering.runs == b.window_frames // block + 1  # one block: encoded, not looked up
    assert np.allclose(analysis.attention[analysis.speech].sum(axis=1), 1, atol=1e-3)
    assert sum(p.stat().st_size for p in encoder_run.glob("*.tflite")) < 20e6


def test_encoder_bundle_keeps_only_the_head_for_training(encoder_run: Path, capsys) -> None:
    from model_training import model as models

    head = models.load(encoder_run / "emotion.keras")
    assert head.input.shape[1:] == (150, 512)
    assert (encoder_run / "emotion.keras").stat().st_size < 2e6
    common = [
        "train", "--datasets", str(datasets()), "--corpora", "ravdess", "emodb",
        "--limit", "3", "--epochs", "1", "--variants", "1", "--layers", "1",
        "--cache", str(encoder_run.parent / "cache"), "--workers", "1",
        "--init", str(encoder_run / "emotion.keras"),
    ]  # fmt: skip
    assert train_main([*common, "--out", str(encoder_run.parent / "continued")]) == 0
    assert train_main([*common[:-2], "--init", str(encoder_run.parent.parent / "x.keras"),
                       "--out", str(encoder_run.parent / "none")]) == 2  # fmt: skip
    assert "No Keras model" in capsys.readouterr().err


def test_a_centred_head_exports_and_the_app_runs_it(encoder_run: Path, tmp_path: Path) -> None:
    """``--centre``: the head's mean-frame removal goes through export into the app's model."""
    from model_training import model as models

    out = tmp_path / "centred"
    assert train_main([
        "train", "--datasets", str(datasets()), "--corpora", "ravdess", "emodb", "--centre",
        "--limit", "3", "--epochs", "1", "--variants", "1", "--layers", "1", "--out", str(out),
        "--cache", str(encoder_run.parent / "cache"), "--workers", "1",
    ]) == 0  # fmt: skip
    b = bundles.load(out)
    assert models.centred(models.load(b.keras_path)) and models.centred(models.from_bundle(b))
    assert not models.centred(models.load(encoder_run / "emotion.keras"))
    meta = json.loads((out / "emotion.json").read_text())
    assert meta["training"]["settings"]["centre"] is True
    clip = sorted((datasets() / "emodb").glob("*.flac"))[0]
    analysis = analyze_file(clip, Engine(b))
    probs = analysis.probabilities[analysis.speech]
    assert len(probs) and np.allclose(probs.sum(axis=1), 1, atol=1e-3)


def test_encoder_bundle_whose_encoder_disagrees_is_refused(
    encoder_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(encoder_run, bad)
    meta = json.loads((bad / "emotion.json").read_text())

    def refused(change: dict, match: str) -> None:
        (bad / "emotion.json").write_text(json.dumps({**meta, **change}))
        with pytest.raises(bundles.BundleError, match=match):
            bundles.load(bad)

    refused({"encoder": {**meta["encoder"], "layers": 9}}, "shapes disagree")
    refused({"encoder": {**meta["encoder"], "sha256": "not a checksum"}}, "not a sha256")
    refused({"features": {**meta["features"], "kind": "logmel"}}, "Whisper's 80-band")
    refused({"window_seconds": 2.0}, "shapes disagree")
    refused({"encoder": {**meta["encoder"], "block_frames": 7}}, "shapes disagree")
    refused({"encoder": {**meta["encoder"], "file": "../encoder.tflite"}}, "file name")
    (bad / "emotion.json").write_text(json.dumps(meta))
    for name in ("emotion.tflite", "encoder.tflite"):  # the head's file and the encoder's
        model = bytearray((bad / name).read_bytes())
        model[len(model) // 2] ^= 0xFF
        (bad / name).write_bytes(bytes(model))
        with pytest.raises(bundles.BundleError, match="not the one its description names"):
            bundles.load(bad)
        shutil.copy(encoder_run / name, bad / name)
    (bad / "encoder.tflite").unlink()
    with pytest.raises(bundles.BundleError, match=r"incomplete: .*encoder\.tflite is missing"):
        bundles.load(bad)
    shutil.copy(encoder_run / "encoder.tflite", bad / "encoder.tflite")
    # training refuses to evaluate a head built on other encoder weights than those installed
    shutil.copy(encoder_run / "emotion.tflite", bad / "emotion.tflite")
    (bad / "emotion.json").write_text(
        json.dumps({**meta, "encoder": {**meta["encoder"], "sha256": "0" * 64}})
    )
    code = train_main([
        "evaluate", "--bundle", str(bad), "--datasets", str(datasets()), "--corpora", "ravdess",
        "emodb", "--limit", "3", "--cache", str(encoder_run.parent / "cache"), "--workers", "1",
    ])  # fmt: skip
    assert code == 2
    assert "not the installed" in capsys.readouterr().err


def test_crossfit_calibration_is_fitted_out_of_fold_and_never_on_test_speakers(
    encoder_run: Path, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``calibrate --crossfit``: heads of the bundle's recipe each judge speakers they never
    heard; every training and validation speaker is judged once, no test speaker ever; a second
    run reuses the judgements it kept, and a run stopped after some folds keeps those."""
    from model_training import crossfit

    copy = tmp_path / "bundle"
    shutil.copytree(encoder_run, copy)
    common = ["calibrate", "--datasets", str(datasets()), "--corpora", "ravdess", "emodb",
              "--limit", "3", "--cache", str(encoder_run.parent / "cache"), "--workers", "1",
              "--out", str(tmp_path / "run")]  # fmt: skip
    assert train_main([*common, "--bundle", str(copy), "--crossfit", "3", "--shift"]) == 0
    meta = json.loads((copy / "emotion.json").read_text())
    block, trained = meta["calibration"], meta["training"]
    # with each corpus left out, a head of the recipe judged it: the temperature's growth with
    # the distance is fitted there, and the bundle the app loads carries the checksummed reference
    assert set(block["shift"]) == {"emodb", "ravdess"}
    assert all(0 <= r["ece"] <= 1 and 0 <= r["unfamiliar"] <= 1 for r in block["shift"].values())
    loaded = bundles.load(copy)
    assert loaded.familiarity is not None and "familiar.npz" in meta["files"]
    assert loaded.familiarity.slope == meta["familiarity"]["temperature_slope"] >= 0
    samples, _ = crossfit.load(tmp_path / "run" / "crossfit" / crossfit.SAMPLES_FILE)
    heard = {s for _, _, s in samples}
    assert heard == set(trained["speakers"] + trained["val_speakers"]) - {"tess:OAF", "tess:YAF"}
    assert not heard & set(trained["test_speakers"])
    assert block["fitted_on_clips"] == len(samples) and "out-of-fold" in block["method"]
    assert all(np.allclose(w.sum(axis=1), 1, atol=1e-3) for w, _, _ in samples)
    kept = (tmp_path / "run" / "crossfit" / crossfit.SAMPLES_FILE).stat().st_mtime_ns
    assert train_main([*common, "--bundle", str(copy), "--crossfit", "3", "--shift"]) == 0
    assert (tmp_path / "run" / "crossfit" / crossfit.SAMPLES_FILE).stat().st_mtime_ns == kept
    assert json.loads((copy / "emotion.json").read_text())["calibration"] == block
    (tmp_path / "run" / "crossfit" / crossfit.SAMPLES_FILE).unlink()  # stopped after the folds
    capsys.readouterr()
    assert train_main([*common, "--bundle", str(copy), "--crossfit", "3"]) == 0
    assert capsys.readouterr().err.count("judged in an earlier run, kept") == 3
    again, _ = crossfit.load(tmp_path / "run" / "crossfit" / crossfit.SAMPLES_FILE)
    assert [(y, s) for _, y, s in again] == [(y, s) for _, y, s in samples]
    assert all(np.array_equal(a, b) for (a, _, _), (b, _, _) in zip(again, samples, strict=True))
    kept = (tmp_path / "run" / "crossfit" / crossfit.SAMPLES_FILE).stat().st_mtime_ns
    assert train_main([*common, "--bundle", str(run), "--crossfit", "3"]) == 2  # a CNN
    assert "encoder models" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # two folds leave nobody to train on
        train_main([*common, "--bundle", str(copy), "--crossfit", "2"])
    capsys.readouterr()
    assert train_main([*common, "--bundle", str(copy), "--crossfit", "4"]) == 0  # other folds
    assert "judging again" in capsys.readouterr().err
    assert (tmp_path / "run" / "crossfit" / crossfit.SAMPLES_FILE).stat().st_mtime_ns != kept


def test_crossfit_heads_of_a_fine_tuned_bundle_train_from_scratch(encoder_run: Path) -> None:
    """A bundle fine-tuned from another model recorded a short, slow schedule; out-of-fold heads
    cannot start from its weights (they heard every fold), so they get a from-scratch schedule."""
    from model_training import crossfit
    from model_training.train import TrainSettings

    trained = json.loads((encoder_run / "emotion.json").read_text())["training"]
    short = {**trained["settings"], "epochs": 3, "learning_rate": 2e-4}
    as_run, as_run_augment = crossfit.recipe({**trained, "settings": short})
    assert (as_run.epochs, as_run.learning_rate) == (3, 2e-4)
    tuned = {**trained, "settings": short, "initialised_from": "assets/model/emotion.keras"}
    settings, augmenting = crossfit.recipe(tuned)
    assert (settings.epochs, settings.learning_rate) == (
        TrainSettings().epochs,
        TrainSettings().learning_rate,
    )
    assert settings.batch_size == as_run.batch_size and augmenting == as_run_augment


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
        "train", "--model", "cnn", "--datasets", str(datasets()), "--corpora", "ravdess", "emodb",
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
        "train", "--model", "cnn", "--datasets", str(datasets()), "--corpora", "ravdess", "emodb",
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


def test_crossval_tests_every_speaker_once_and_summarises(encoder_run: Path, capsys) -> None:
    out, report = encoder_run.parent / "cv", encoder_run.parent / "report"
    report.mkdir()
    shutil.copy2(encoder_run / "report.json", report)  # a bundle's report, cited when of its recipe
    layers = json.loads((encoder_run / "emotion.json").read_text())["encoder"]["layers"]
    common = [
        "crossval", "--datasets", str(datasets()), "--corpora", "ravdess", "emodb", "tess",
        "--limit", "2", "--folds", "2", "--epochs", "2", "--variants", "1",
        "--layers", str(layers),
        "--conditions", "telephone GSM", "--cache", str(encoder_run.parent / "cache"),
        "--workers", "1", "--report", str(report),
    ]  # fmt: skip
    args = [*common, "--systems", "encoder", "baseline"]
    code = train_main([*args, "--out", str(out)])
    assert code == 0
    result = json.loads((out / "crossval.json").read_text())
    folds = result["folds"]["encoder"]
    tested = [s for f in folds for s in f["test_speakers"]]
    assert len(tested) == len(set(tested)) == 28  # every RAVDESS and EmoDB speaker, once
    assert not any(s.startswith("tess") for s in tested)
    summary = result["summary"]
    for system in ("encoder", "baseline"):
        ua = summary[system]["pooled"]["ua"]
        assert len(ua["folds"]) == 2 and 0 <= ua["mean"] <= 1
        assert {"ravdess", "emodb"} <= set(summary[system])
    table = (out / "crossval.md").read_text()
    assert "eGeMAPS + SVM" in table and "± " in table and "crossval" in table
    assert len(summary["encoder"]["channels"]["telephone GSM"]["folds"]) == 2
    assert "| telephone GSM |" in table
    calibration = summary["encoder"]["calibration"]  # every test clip, pooled over the folds
    assert calibration["clips"] == sum(f["test"]["pooled"]["clips"] for f in folds)
    assert 0 < calibration["pooled_floor"][0] <= calibration["pooled_floor"][1] < 1
    assert 0 <= calibration["pooled_ece"] <= 1 and len(calibration["ece"]["folds"]) == 2
    assert 0 < calibration["confidence"] <= 1 and 0 <= calibration["accuracy"] <= 1
    assert "expected calibration error" in table
    # each corpus left out once: tested whole, never heard in training or in choosing
    unseen = result["corpora"]
    for system in ("encoder", "baseline"):
        assert set(unseen["summary"][system]) == {"emodb", "ravdess", "tess"}
        for corpus, fold in unseen["folds"][system].items():
            assert {s.split(":")[0] for s in fold["test_speakers"]} == {corpus}
            assert not any(s.startswith(corpus) for s in fold["val_speakers"])
            figures = unseen["summary"][system][corpus]
            assert figures["clips"] == fold["test"]["pooled"]["clips"]
            assert 0 <= figures["ece"] <= 1
            if not figures["classes"]:  # a tiny training set may have none of its emotions
                assert figures["closed_ua"] is None is figures["open_ua"]
                continue
            assert 0 <= figures["closed_ua"] <= 1
            assert figures["open_ua"] <= figures["closed_ua"] + 1e-9  # fewer choices, more right
        assert unseen["summary"][system]["emodb"]["classes"]  # shares emotions with RAVDESS
        assert "calm" not in unseen["summary"][system]["ravdess"]["classes"]  # RAVDESS' alone
    for figures in unseen["summary"]["encoder"].values():  # the speaker's offset, beside
        assert figures["speaker"]["clips"] == figures["clips"]
    assert "speaker" not in unseen["summary"]["baseline"]["emodb"]
    assert "Leave-one-corpus-out" in table and "| eGeMAPS + SVM | emodb |" in table
    assert "voice taken out in the encoder's space" in table
    cited = (report / "report.md").read_text()
    assert f"ECE **{calibration['pooled_ece']:.3f}**" in cited and "Cross-validated" in cited
    # on another machine only the report is left: its folds are kept, not measured again
    capsys.readouterr()
    elsewhere = encoder_run.parent / "cv-elsewhere"
    assert train_main([*args, "--by", "speaker", "--out", str(elsewhere)]) == 0
    assert "fold0: encoder" not in capsys.readouterr().err
    again = json.loads((elsewhere / "crossval.json").read_text())
    assert again["summary"] == summary
    # another recipe is measured again; the report's other systems are kept beside it
    capsys.readouterr()
    elsewhere = encoder_run.parent / "cv-b"
    assert train_main([*common, "--systems", "encoder", "--augment", "--by", "speaker",
                       "--out", str(elsewhere)]) == 0  # fmt: skip
    assert "fold0: encoder" in capsys.readouterr().err
    mixed = json.loads((elsewhere / "crossval.json").read_text())
    assert mixed["summary"]["baseline"] == summary["baseline"]
    assert mixed["folds"]["encoder"][0]["recipe"]["augment"]["variants"] == 0
    assert "Cross-validated" not in (report / "report.md").read_text()  # not the bundle's recipe
