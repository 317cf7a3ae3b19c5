"""Input quality: each measure on synthetic signals with known values and on real clips degraded
in known ways; the flags against thresholds; the thresholds read from a bundle."""

from __future__ import annotations

import numpy as np
import pytest

from app.audio.files import load
from app.features import WHISPER, Pipeline
from app.gate import SpeechGate
from app.quality import ADVICE, FLAGS, Meter, Thresholds, band_centres, measure
from model_training import channels as ch
from tests.data import some_clips

RATE = 16000
NONE = Thresholds()


def quality_of(y: np.ndarray, thresholds: Thresholds = NONE):
    """The whole signal as one window, as the analysis measures it."""
    pipeline = Pipeline(WHISPER)
    meter = Meter(WHISPER, thresholds, window=10_000)
    meter.push(y)
    features, levels = pipeline.features(y), pipeline.level_db(y)
    gate = SpeechGate()
    gate.update(levels)
    return meter.measure(features, levels, gate.voiced(levels), len(levels))


def tone(amplitude: float, seconds: float = 2.0, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_level_of_a_tone() -> None:
    q = quality_of(tone(0.1))
    assert q.level_db == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.2)
    assert q.clipping == 0 and not q.flags


def test_snr_of_bursts_over_a_known_floor() -> None:
    rng = np.random.default_rng(0)
    floor = (rng.standard_normal(RATE * 4) * 10 ** (-70 / 20)).astype(np.float32)
    y = floor.copy()
    y[RATE : RATE * 3] += tone(0.1, 2.0)  # -23 dBFS over -70 dBFS: 47 dB
    q = quality_of(y)
    assert q.snr_db == pytest.approx(-23 - -70, abs=1.5)


def test_clipping_share_is_counted() -> None:
    y = tone(0.5)
    y[:160] = 1.0  # 160 samples of 32000 at full scale
    assert quality_of(y).clipping == pytest.approx(160 / len(y), rel=0.02)


@pytest.mark.parametrize("cutoff", [3000.0, 5000.0])
def test_bandwidth_of_band_limited_noise(cutoff: float) -> None:
    noise = np.random.default_rng(1).standard_normal(RATE * 2).astype(np.float32) * 0.1
    assert quality_of(noise).bandwidth_hz > 7000
    spectrum = np.fft.rfft(noise)
    spectrum[int(cutoff / (RATE / 2) * (len(spectrum) - 1)) :] = 0  # nothing above the cutoff
    limited = np.fft.irfft(spectrum, len(noise)).astype(np.float32)
    assert cutoff * 0.9 < quality_of(limited).bandwidth_hz < cutoff * 1.1


def test_band_centres_span_the_features() -> None:
    centres = band_centres(80, 0.0, 8000.0)
    assert len(centres) == 80 and 0 < centres[0] < 60 and 7500 < centres[-1] < 8000


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return load(some_clips("emodb", 3)[2], RATE)


def test_real_clip_degraded_in_known_ways(speech: np.ndarray) -> None:
    clean = quality_of(speech)
    assert clean.bandwidth_hz > 6000 and clean.clipping == 0 and clean.snr_db > 25
    assert quality_of(ch.telephone(speech, "GSM610")).bandwidth_hz < 4000
    assert quality_of(ch.gain(speech, 20.0)).clipping > 0.001
    quiet = quality_of(ch.gain(speech, -30.0))
    assert quiet.level_db - clean.level_db == pytest.approx(-30, abs=1.0)
    noisy = ch.add_noise(
        speech, ch.evaluation_sounds().noise(len(speech), np.random.default_rng(0)), 0
    )
    assert quality_of(noisy).snr_db < clean.snr_db - 15


def test_flags_follow_the_thresholds(speech: np.ndarray) -> None:
    t = Thresholds(too_quiet_db=-60, noisy_snr_db=10, clipping=1e-3, narrowband_hz=5000)
    assert quality_of(speech, t).flags == ()
    assert quality_of(ch.gain(speech, -50.0), t).flags[0] == "too_quiet"
    assert "clipping" in quality_of(ch.gain(speech, 25.0), t).flags
    phone = quality_of(ch.telephone(speech, "ULAW"), t)
    assert phone.flags == ("narrowband",) and phone.advice == ADVICE["narrowband"]
    assert quality_of(speech, NONE).flags == ()  # no thresholds: nothing raised
    assert set(ADVICE) == set(FLAGS)


def test_silence_of_nothing_measures_without_error() -> None:
    q = measure(np.zeros(0, np.float32), None, 0.0, np.zeros(0, bool), band_centres(80, 0, 8000),
                NONE)  # fmt: skip
    assert q.level_db == float("-inf") and not q.flags


def test_thresholds_from_the_bundle_description() -> None:
    assert Thresholds.from_meta(None).empty
    t = Thresholds.from_meta({"too_quiet_db": -55, "narrowband_hz": 5000.5})
    assert t.too_quiet_db == -55.0 and t.clipping is None
    with pytest.raises(ValueError, match="noisy_snr_db"):
        Thresholds.from_meta({"noisy_snr_db": "loud"})
