"""Resampling to the model's rate: a whole multiple is decimated with little delay, in chunks of
any size exactly as at once, and as faithfully as soxr's high quality."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from app.audio import files
from app.audio.resample import PASS, STOPBAND_DB, Decimator, lowpass, stream
from app.features import FeatureSettings, Pipeline
from tests.data import some_clips

RATE = 16000


@pytest.mark.parametrize("factor", [2, 3, 6])
def test_lowpass_keeps_the_band_and_rejects_what_would_fold_back(factor: int) -> None:
    h = lowpass(factor)
    response = np.abs(np.fft.rfft(h, 1 << 16))
    f = np.fft.rfftfreq(1 << 16) * factor * 2  # in units of the new Nyquist frequency
    db = 20 * np.log10(response + 1e-20)
    assert np.abs(db[f <= PASS * 0.98]).max() < 0.01
    assert db[f >= 1.0].max() < -STOPBAND_DB + 1


def test_chunks_of_any_size_give_the_same_samples() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(48000 * 3).astype(np.float32)
    whole = Decimator(3).resample_chunk(x, last=True)
    d = Decimator(3)
    cuts = np.cumsum(rng.integers(1, 3000, 400))
    parts = [d.resample_chunk(c) for c in np.split(x, cuts[cuts < len(x)])]
    parts.append(d.resample_chunk(np.zeros(0, np.float32), last=True))
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert len(whole) == len(x) // 3


def test_needed_says_exactly_when_output_is_ready() -> None:
    d = Decimator(3)
    rng = np.random.default_rng(1)
    for want in (1, 7, 160, 1):
        n = d.needed(want)
        assert len(d.resample_chunk(rng.standard_normal(n - 1).astype(np.float32))) < want
        assert len(d.resample_chunk(rng.standard_normal(1).astype(np.float32))) >= 1


def test_a_microphone_rate_comes_back_as_the_recording() -> None:
    """Real speech at 16 kHz, raised to 48 kHz by soxr and brought back by the decimator, is the
    recording again, in time (no delay) and in the model's log-mel, as soxr's HQ brings it."""
    speech = files.load(some_clips("ravdess", 5)[2], RATE)
    mic = soxr.resample(speech, RATE, 48000).astype(np.float32)
    ours = stream(48000, RATE).resample_chunk(mic, last=True)  # type: ignore[union-attr]
    theirs = soxr.resample(mic, 48000, RATE).astype(np.float32)
    assert len(ours) == len(theirs) == len(speech)
    middle = slice(1000, -1000)
    assert np.abs(ours - speech)[middle].max() < 0.01 * np.abs(speech).max()
    log_mel = Pipeline(FeatureSettings()).log_mel
    loud = log_mel(speech) > -60  # where there is sound to compare
    for back in (ours, theirs):
        assert np.abs(log_mel(back) - log_mel(speech))[loud].mean() < 0.05  # dB (0.012, soxr 0.006)


def test_other_rates_go_through_soxr() -> None:
    assert stream(RATE, RATE) is None
    assert isinstance(stream(48000, RATE), Decimator)
    assert isinstance(stream(44100, RATE), soxr.ResampleStream)
