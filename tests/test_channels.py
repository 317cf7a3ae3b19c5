"""The channels of the robustness evaluation and of multi-condition training, measured on real
speech with the real noise recordings and rooms: each keeps the clip's shape and rate and does
what it says, and no recording is on both sides of the training/evaluation split."""

from __future__ import annotations

import numpy as np
import pytest

from app.audio.files import load
from model_training import channels as ch
from tests.data import some_clips


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return load(some_clips("ravdess", 41)[40], ch.SAMPLE_RATE)


@pytest.fixture(scope="module")
def sounds() -> tuple[ch.Sounds, ch.Sounds]:
    try:
        return ch.Sounds.read(ch.shared_root(False)), ch.Sounds.read(ch.shared_root(True))
    except FileNotFoundError as e:
        pytest.skip(str(e))


def band_edge(y: np.ndarray) -> float:
    """The frequency below which 99.9 % of the energy lies."""
    spectrum = np.abs(np.fft.rfft(y)) ** 2
    share = np.cumsum(spectrum) / spectrum.sum()
    return float(np.searchsorted(share, 0.999) * ch.SAMPLE_RATE / 2 / len(spectrum))


@pytest.mark.parametrize("condition", list(ch.BY_NAME))
def test_every_condition_keeps_shape_and_rate(condition: str, speech: np.ndarray, sounds) -> None:
    heard = ch.heard(speech, condition, "clip.flac", str(sounds[1].root))
    assert heard.shape == speech.shape and heard.dtype == np.float32
    assert np.isfinite(heard).all() and ch.power(heard) > 1e-8
    assert np.array_equal(heard, ch.heard(speech, condition, "clip.flac", str(sounds[1].root)))


@pytest.mark.parametrize("snr", [0.0, 5.0, 10.0, 20.0])
def test_noise_is_mixed_at_the_asked_snr(snr: float, speech: np.ndarray, sounds) -> None:
    noise = sounds[1].noise(len(speech), np.random.default_rng(int(snr)))
    mixed = ch.add_noise(speech, noise, snr)
    assert ch.snr_db(speech, mixed - speech) == pytest.approx(snr, abs=0.05)


def test_a_room_keeps_the_speech_level_and_smears_it(speech: np.ndarray, sounds) -> None:
    wet = ch.reverberate(speech, sounds[1].room(np.random.default_rng(3)))
    assert 10 * np.log10(ch.speech_power(wet) / ch.speech_power(speech)) == pytest.approx(
        0, abs=0.1
    )
    assert np.corrcoef(wet, speech)[0, 1] < 0.9  # not the dry signal


@pytest.mark.parametrize("codec", ["GSM610", "ULAW"])
def test_telephone_is_narrowband(codec: str, speech: np.ndarray) -> None:
    assert band_edge(speech) > 5000
    assert 3000 < band_edge(ch.telephone(speech, codec)) < 4000


@pytest.mark.parametrize(("kbps", "fmt", "subtype", "level", "low", "high"), [
    (12, "OGG", "OPUS", ch.OPUS_LEVEL[12], 8, 16),
    (24, "OGG", "OPUS", ch.OPUS_LEVEL[24], 18, 30),
    (32, "MP3", "MPEG_LAYER_III", ch.MP3_LEVEL[32], 26, 38),
])  # fmt: skip
def test_codecs_run_at_their_bitrate_and_stay_aligned(
    kbps: int, fmt: str, subtype: str, level: float, low: float, high: float, speech: np.ndarray
) -> None:
    decoded, measured = ch.codec(speech, fmt, subtype, level=level)
    assert low <= measured <= high, f"{fmt} asked {kbps} kbit/s, took {measured:.1f}"
    assert np.corrcoef(decoded, speech)[0, 1] > 0.9  # realigned on the input


def test_gain_changes_the_level_and_clips_when_too_high(speech: np.ndarray) -> None:
    quiet = ch.gain(speech, -30.0)
    assert 10 * np.log10(ch.speech_power(quiet) / ch.speech_power(speech)) == pytest.approx(
        -30, abs=0.2
    )
    loud = ch.gain(speech, 20.0)
    assert np.abs(loud).max() <= 1.0 and np.mean(np.abs(loud) >= 0.999) > 0.001


def test_small_microphone_loses_the_low_end(speech: np.ndarray) -> None:
    def low_share(y: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(y)) ** 2
        return float(spectrum[: len(spectrum) * 150 // 8000].sum() / spectrum.sum())

    assert low_share(ch.small_microphone(speech)) < low_share(speech) / 5


def test_training_draws_keep_shape_from_training_sounds(speech: np.ndarray, sounds) -> None:
    rng = np.random.default_rng(0)
    for _ in range(8):
        y = ch.draw(speech, sounds[0], rng)
        assert y.shape == speech.shape and y.dtype == np.float32 and np.isfinite(y).all()
    assert sounds[0].root.name == "noise" and sounds[1].root.name == "noise-eval"


def test_no_recording_or_room_is_on_both_sides(sounds) -> None:
    train, evaluation = sounds
    for kind in ("noises", "rooms"):
        a, b = getattr(train, kind), getattr(evaluation, kind)
        assert a and b
        assert not {p.name for p in a} & {p.name for p in b}
        assert not {ch.fingerprint(p) for p in a} & {ch.fingerprint(p) for p in b}


def test_a_missing_noise_folder_says_where(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no noise recordings at"):
        ch.shared_root(True, tmp_path)
