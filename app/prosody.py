"""Pitch, loudness and speaking tempo: what an emotion is heard in.

Computed from the samples the analysis already reads, one value per feature frame (a pitch frame
ends where its feature frame ends), so the tracks line up with the spectrogram and the emotion
timeline and live and file analysis give the same values. Pitch is YIN (de Cheveigné & Kawahara
2002, JASA 111:1917), in numpy; loudness is the frames' level the speech gate reads; tempo
counts syllable nuclei as de Jong & Wempe (2009, Behavior Research Methods 41:385) do: peaks of
loudness in voiced stretches, each after a dip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.features import FeatureSettings, frames

FMIN_HZ = 75.0  # lowest pitch tracked (a low male voice; Praat's default floor)
FMAX_HZ = 500.0  # highest (a child's or a shout)
FRAME_SECONDS = 0.032  # YIN's frame: its lag range plus an integration window of 1.4 periods
THRESHOLD = 0.25  # YIN's aperiodicity below which a frame is voiced
LEVEL_FLOOR_DB = -70.0  # frames quieter than this carry no pitch
SMOOTH_FRAMES = 5  # loudness smoothed over 50 ms before looking for syllable peaks
DIP_DB = 2.0  # a syllable peak stands this far above the dip since the previous one
PEAK_RANGE_DB = 25.0  # ... and within this of the loudest frame of the stretch
MIN_SPEECH_SECONDS = 0.5  # less speech than this in a window: no tempo
MIN_RANGE_FRAMES = 100  # voiced frames (1 s) before a speaker's pitch range is known
SEMITONE_BINS = np.arange(0.0, 48.0, 0.25)  # the range histogram, semitones above FMIN_HZ

PROSODY_FIELDS = ("pitch_hz", "pitch_range_st", "loudness_db", "tempo")

Array = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]


def cmnd(x: Array, hi: int) -> Array:
    """YIN's cumulative mean normalised difference of each row of ``x`` at lags 0 .. ``hi``,
    over an integration window of the row's length less ``hi``."""
    n, length = x.shape
    w = length - hi
    size = 1 << int(np.ceil(np.log2(length)))  # x[:w] zero-padded never wraps onto lags 0..hi
    acf = np.fft.irfft(np.conj(np.fft.rfft(x[:, :w], size)) * np.fft.rfft(x, size), size)
    acf = acf[:, : hi + 1]  # sum over j < w of x[j] x[j + lag]
    sq = x * x
    shifted = np.empty((n, hi + 1), np.float32)  # sum over j < w of x[j + lag]^2
    shifted[:, 0] = sq[:, :w].sum(axis=1)
    np.cumsum(sq[:, w : w + hi] - sq[:, :hi], axis=1, out=shifted[:, 1:])
    shifted[:, 1:] += shifted[:, :1]
    diff = np.maximum(shifted[:, :1] + shifted - 2 * acf, 0.0)
    total = np.cumsum(diff[:, 1:], axis=1)
    out = np.ones_like(diff)
    scaled = diff[:, 1:] * np.arange(1, hi + 1) / np.maximum(total, 1e-12)
    out[:, 1:] = np.where(total > 1e-12, scaled, 1.0)
    return out


def yin(frame: npt.ArrayLike, rate: int) -> tuple[Array, Array]:
    """F0 in Hz (NaN where unvoiced) and aperiodicity (YIN's cumulative mean normalised
    difference at the chosen lag) of each row of ``frame``.

    It runs at half the rate, each pair of samples averaged (a low-pass that keeps every pitch
    tracked): half the cost, and on real speech as close to pYIN at the full rate (the parabola
    through the trough places the period between samples)."""
    x = np.asarray(frame, np.float32)
    n, length = x.shape
    half = (x[:, 0 : length - 1 : 2] + x[:, 1:length:2]) * 0.5
    lo, hi = int(rate / 2 / FMAX_HZ), int(np.ceil(rate / 2 / FMIN_HZ))
    if n == 0 or half.shape[1] <= hi:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    c = cmnd(half, hi)[
        :, lo - 1 : hi + 1
    ]  # lags lo-1 .. hi, so every lag lo .. hi-1 has neighbours
    trough = (c[:, 1:-1] <= c[:, :-2]) & (c[:, 1:-1] < c[:, 2:]) & (c[:, 1:-1] < THRESHOLD)
    voiced = trough.any(axis=1)
    first = np.argmax(trough, axis=1)
    rows = np.arange(n)
    left, mid, right = c[rows, first], c[rows, first + 1], c[rows, first + 2]
    curve = left - 2 * mid + right
    shift = np.where(curve > 0, (left - right) / (2 * np.where(curve > 0, curve, 1.0)), 0.0)
    lag = 2 * (lo + first + np.clip(shift, -0.5, 0.5))  # in samples at the full rate
    f0 = np.where(voiced, rate / lag, np.nan)
    aperiodicity = np.where(voiced, mid, c.min(axis=1))
    return f0.astype(np.float32), aperiodicity.astype(np.float32)


def frame_length(settings: FeatureSettings) -> int:
    """Samples in a pitch frame: at least the feature frame's."""
    return max(settings.n_fft, round(FRAME_SECONDS * settings.sample_rate))


class PitchStream:
    """F0 of every feature frame of audio arriving in chunks: frame ``i`` ends where feature
    frame ``i`` ends, so both streams complete the same frames on each chunk."""

    def __init__(self, settings: FeatureSettings) -> None:
        self.settings = settings
        self.length = frame_length(settings)
        self._pending = np.zeros(0, np.float32)
        self.reset()

    def push(self, chunk: npt.ArrayLike, levels: Array) -> Array:
        """F0 (Hz, NaN unvoiced) of the frames this chunk completed; ``levels`` (dB) are the
        feature frames' levels the same chunk completed."""
        s = self.settings
        audio = np.concatenate([self._pending, np.asarray(chunk, np.float32).ravel()])
        count = 0 if len(audio) < self.length else 1 + (len(audio) - self.length) // s.hop_length
        self._pending = audio[count * s.hop_length :]
        if not count:
            return np.zeros(0, np.float32)
        f0, _ = yin(frames(audio, self.length, s.hop_length)[:count], s.sample_rate)
        f0[np.asarray(levels[:count]) < LEVEL_FLOOR_DB] = np.nan
        return f0

    def reset(self) -> None:
        # the first frames reach back before the stream's start: silence there
        self._pending = np.zeros(self.length - self.settings.n_fft, np.float32)


def pitch(y: npt.ArrayLike, settings: FeatureSettings, levels: Array) -> Array:
    """F0 of every feature frame of ``y`` at once (equal to :class:`PitchStream` on it)."""
    return PitchStream(settings).push(y, levels)


def nuclei(levels: Array, voiced: Mask) -> npt.NDArray[np.intp]:
    """Frames of syllable nuclei: peaks of the smoothed loudness in voiced frames, each at least
    :data:`DIP_DB` above the lowest point since the previous nucleus."""
    if len(levels) < 3 or not voiced.any():
        return np.zeros(0, np.intp)
    k = min(SMOOTH_FRAMES, len(levels))
    smooth = np.convolve(levels.astype(np.float64), np.ones(k) / k, mode="same")
    top = smooth[voiced].max()
    mid = smooth[1:-1]
    peak = (mid > smooth[:-2]) & (mid >= smooth[2:]) & voiced[1:-1] & (mid >= top - PEAK_RANGE_DB)
    kept: list[int] = []
    loud = smooth.tolist()  # a short sequential walk: plain floats beat numpy calls here
    for p in (np.flatnonzero(peak) + 1).tolist():
        if not kept or loud[p] - min(loud[kept[-1] : p]) >= DIP_DB:
            kept.append(p)
        elif loud[p] > loud[kept[-1]]:  # the same syllable, a higher peak
            kept[-1] = p
    return np.asarray(kept, np.intp)


@dataclass(frozen=True, slots=True)
class Prosody:
    """A window's voice: why the emotion may sound the way it does. NaN where not measurable."""

    pitch_hz: float  # median F0 of its voiced frames
    pitch_range_st: float  # 10th to 90th percentile of F0, semitones
    loudness_db: float  # median level of its speech frames (dBFS)
    tempo: float  # syllables per second of speech

    def to_dict(self) -> dict[str, Any]:
        def r(v: float, digits: int) -> float | None:
            return None if np.isnan(v) else round(float(v), digits)

        values = (self.pitch_hz, self.pitch_range_st, self.loudness_db, self.tempo)
        return {k: r(v, d) for k, v, d in zip(PROSODY_FIELDS, values, (1, 2, 1, 2), strict=True)}


NONE = Prosody(float("nan"), float("nan"), float("nan"), float("nan"))


def quantiles(values: Array, q: tuple[float, ...]) -> list[float]:
    """``np.percentile``'s linear quantiles of a few values, for a fraction of its cost."""
    v = np.sort(values)
    at = np.asarray(q) * (len(v) - 1)
    below = np.floor(at).astype(np.intp)
    above = np.minimum(below + 1, len(v) - 1)
    return [float(x) for x in v[below] + (v[above] - v[below]) * (at - below)]


def summarise(f0: Array, levels: Array, speech: Mask, hop_seconds: float) -> Prosody:
    """A window's prosody from its frames' F0 and levels and which frames are speech."""
    if not speech.any():
        return NONE
    pitched = f0[speech & np.isfinite(f0)]
    median = range_st = float("nan")
    if len(pitched):
        lo, median, hi = quantiles(pitched, (0.1, 0.5, 0.9))
        range_st = float(12 * np.log2(hi / lo))
    spoken = speech.sum() * hop_seconds
    tempo = float("nan")
    if spoken >= MIN_SPEECH_SECONDS:
        tempo = len(nuclei(levels, speech & np.isfinite(f0))) / spoken
    return Prosody(median, range_st, quantiles(levels[speech], (0.5,))[0], tempo)


class PitchRange:
    """A speaker's pitch so far (a histogram of voiced frames): the track shows where a voice
    sits in its own range, not only in Hz."""

    def __init__(self) -> None:
        self.counts = np.zeros(len(SEMITONE_BINS), np.int64)

    def add(self, f0: Array) -> None:
        st = 12 * np.log2(f0[np.isfinite(f0)] / FMIN_HZ)
        idx = np.clip((st / 0.25).astype(np.intp), 0, len(SEMITONE_BINS) - 1)
        self.counts += np.bincount(idx, minlength=len(SEMITONE_BINS))

    def range(self) -> tuple[float, float, float] | None:
        """10th, 50th and 90th percentile (Hz) once enough voice is heard; None before."""
        total = int(self.counts.sum())
        if total < MIN_RANGE_FRAMES:
            return None
        cum = np.cumsum(self.counts)
        at = [SEMITONE_BINS[np.searchsorted(cum, q * total)] + 0.125 for q in (0.1, 0.5, 0.9)]
        lo, mid, hi = (float(FMIN_HZ * 2 ** (st / 12)) for st in at)
        return lo, mid, hi

    def reset(self) -> None:
        self.counts[:] = 0
