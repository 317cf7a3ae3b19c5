"""The shared feature pipeline against librosa, and streaming against offline."""

from __future__ import annotations

import itertools

import librosa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audio import files
from app.features import (
    WHISPER,
    FeatureSettings,
    FrameStream,
    Pipeline,
    dct_matrix,
    fit_frames,
    mel_filters,
    silence_frame,
    window_frames,
    windows,
)
from tests.data import some_clips

SETTINGS = FeatureSettings()


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return files.load(some_clips("ravdess", 1)[0], SETTINGS.sample_rate)


def test_mel_filters_match_librosa() -> None:
    s = SETTINGS
    expected = librosa.filters.mel(
        sr=s.sample_rate, n_fft=s.n_fft, n_mels=s.n_mels, fmin=s.fmin, fmax=s.fmax
    )
    np.testing.assert_allclose(mel_filters(s).T, expected, rtol=1e-5, atol=1e-7)


def test_dct_matches_scipy() -> None:
    import scipy.fft

    x = np.random.default_rng(0).standard_normal((7, SETTINGS.n_mels)).astype(np.float32)
    expected = scipy.fft.dct(x, type=2, norm="ortho", axis=1)[:, : SETTINGS.n_mfcc]
    np.testing.assert_allclose(
        x @ dct_matrix(SETTINGS.n_mels, SETTINGS.n_mfcc), expected, atol=1e-4
    )


@pytest.mark.parametrize("kind", ["mfcc", "logmel"])
def test_features_match_librosa_on_real_speech(speech: np.ndarray, kind: str) -> None:
    s = FeatureSettings(kind=kind)
    mel = librosa.feature.melspectrogram(
        y=speech,
        sr=s.sample_rate,
        n_fft=s.n_fft,
        hop_length=s.hop_length,
        center=False,
        n_mels=s.n_mels,
        fmin=s.fmin,
        fmax=s.fmax,
        power=2.0,
    )
    log_mel = librosa.power_to_db(mel, ref=1.0, amin=s.amin, top_db=None)
    expected = librosa.feature.mfcc(S=log_mel, n_mfcc=s.n_mfcc) if kind == "mfcc" else log_mel
    got = Pipeline(s).features(speech)
    assert got.shape == expected.T.shape == (s.n_frames(len(speech)), s.n_features)
    np.testing.assert_allclose(got, expected.T, atol=2e-2, rtol=1e-4)


def whisper_reference(y: np.ndarray) -> np.ndarray:
    """Whisper's own recipe (``whisper/audio.py``: a centred STFT with a periodic Hann window of
    400, hop 160, power, librosa's 80-band Slaney mel filters, log10 clamped at 1e-10, floored
    at the input's maximum - 8, then ``(x + 4) / 4``), written with librosa in float64."""
    stft = librosa.stft(y.astype(np.float64), n_fft=400, hop_length=160, window="hann")
    power = np.abs(stft[:, :-1]) ** 2
    log = np.log10(np.maximum(librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) @ power, 1e-10))
    return ((np.maximum(log, log.max() - 8.0) + 4.0) / 4.0).T


@pytest.mark.parametrize("corpus", ["ravdess", "emodb", "tess"])
def test_whisper_log_mel_matches_whisper_recipe_on_real_speech(corpus: str) -> None:
    y = files.load(some_clips(corpus, 1)[0], 16000)
    got = Pipeline(WHISPER).features(y)
    # Whisper centres frame t on sample 160 t; ours (center=False, a frame depends only on its
    # own samples) covers samples 160 t .. 160 t + 400, i.e. Whisper's frame t of y[200:]
    expected = whisper_reference(y[200:])
    n = min(len(got), len(expected)) - 2  # the last frames of the reference reach the padding
    assert got.shape == (WHISPER.n_frames(len(y)), 80) and n > 100
    # our frames have no input-wide floor (it would need the whole input): apply Whisper's
    floored = np.maximum(got, expected.max() - 2.0)
    np.testing.assert_allclose(floored[2:n], expected[2:n], atol=1e-3)  # 0, 1: its padding
    assert (got[2:n] > expected.max() - 2.0).mean() > 0.5  # most of what is compared is signal
    assert got.max() > 0.5 and got.min() >= -1.5 - 1e-6  # Whisper's scale: about -1.5 .. 1.5


def test_frames_count_and_short_input() -> None:
    p = Pipeline()
    assert p.features(np.zeros(SETTINGS.n_fft - 1, np.float32)).shape == (0, SETTINGS.n_mfcc)
    assert p.features(np.zeros(SETTINGS.n_fft + 3 * SETTINGS.hop_length)).shape[0] == 4
    with pytest.raises(ValueError, match="mono"):
        p.features(np.zeros((2, 1000)))


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 8000), min_size=0, max_size=12),
    seed=st.integers(0, 2**16),
)
@pytest.mark.parametrize("features", [SETTINGS, WHISPER], ids=["mfcc", "whisper"])
def test_stream_equals_offline(cuts: list[int], seed: int, features: FeatureSettings) -> None:
    audio = np.random.default_rng(seed).standard_normal(8000).astype(np.float32) * 0.1
    pipeline = Pipeline(features)
    stream = FrameStream(pipeline)
    bounds = [0, *sorted(cuts), len(audio)]
    pieces = [stream.push(audio[a:b]) for a, b in itertools.pairwise(bounds)]
    log_mel = np.concatenate([m for m, _ in pieces])
    levels = np.concatenate([lv for _, lv in pieces])
    np.testing.assert_allclose(log_mel, pipeline.log_mel(audio), atol=1e-3)
    np.testing.assert_allclose(pipeline.from_log_mel(log_mel), pipeline.features(audio), atol=1e-4)
    np.testing.assert_allclose(levels, pipeline.level_db(audio), atol=1e-4)
    assert stream.frames_done == len(log_mel)


def test_level_of_full_scale_sine_is_minus_3_db() -> None:
    t = np.arange(SETTINGS.sample_rate) / SETTINGS.sample_rate
    levels = Pipeline().level_db(np.sin(2 * np.pi * 440 * t).astype(np.float32))
    np.testing.assert_allclose(levels, -3.01, atol=0.1)


def test_fit_frames_pads_with_silence_and_crops() -> None:
    fill = silence_frame(Pipeline())
    x = np.ones((10, SETTINGS.n_mfcc), np.float32)
    padded = fit_frames(x, 14, fill)
    assert padded.shape == (14, SETTINGS.n_mfcc)
    np.testing.assert_array_equal(padded[:2], np.broadcast_to(fill, (2, SETTINGS.n_mfcc)))
    np.testing.assert_array_equal(padded[2:12], x)
    np.testing.assert_array_equal(
        fit_frames(np.arange(20.0)[:, None], 5, fill[:1], 3)[:, 0], np.arange(3.0, 8.0)
    )


def test_windows_cover_the_clip() -> None:
    size = window_frames(SETTINGS, 3.0)
    x = np.random.default_rng(1).standard_normal((size + 60, 4)).astype(np.float32)
    w = windows(x, size, 25, np.zeros(4, np.float32))
    assert w.shape == (3, size, 4)
    np.testing.assert_array_equal(w[2], x[50 : 50 + size])


def test_settings_round_trip_and_validation() -> None:
    assert FeatureSettings.from_dict(SETTINGS.to_dict()) == SETTINGS
    with pytest.raises(ValueError, match="center"):
        FeatureSettings(center=True)
    with pytest.raises(ValueError, match="kind"):
        FeatureSettings(kind="wavelet")
    with pytest.raises(ValueError, match="unknown"):
        FeatureSettings.from_dict({**SETTINGS.to_dict(), "n_bins": 3})
