"""Resampling to the model's rate as audio streams in: the same for a live input and for a file.

A whole multiple of the model's rate (a microphone at 48 kHz, the usual rate, or 32 or 96 kHz)
is decimated by a linear-phase windowed-sinc low-pass: it holds back 3 ms at most and hands on
each sample as soon as its filter has seen enough. soxr's HQ stream, used before for every
rate, held back ~30 ms at 48 kHz and released its output in bursts: live results came about
20 ms later at 48 kHz than at 16 kHz. Other rates (44.1 kHz) still go through soxr.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt
import soxr

STOPBAND_DB = 80.0  # rejection of what would fold back under the new Nyquist frequency
PASS = 0.9  # passband edge, a fraction of the new Nyquist frequency (soxr's HQ: 0.913)
STOP = 1.0  # stopband edge: nothing above the new Nyquist frequency folds back past ``PASS``

Audio = npt.NDArray[np.float32]


class Resampler(Protocol):
    def resample_chunk(self, chunk: Audio, last: bool = False) -> Audio: ...


def lowpass(factor: int) -> npt.NDArray[np.float64]:
    """Kaiser-windowed sinc for decimating by ``factor``: unit gain, odd length, symmetric."""
    width = (STOP - PASS) / (2 * factor)  # transition band, in cycles per input sample
    beta = 0.1102 * (STOPBAND_DB - 8.7)
    taps = int(np.ceil((STOPBAND_DB - 8) / (2.285 * 2 * np.pi * width))) | 1
    cutoff = (PASS + STOP) / (4 * factor)  # mid-transition, in cycles per input sample
    n = np.arange(taps) - (taps - 1) / 2
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(taps, beta)
    return h / h.sum()


class Decimator:
    """Keeps every ``factor``-th sample of the low-passed stream, aligned with its input: output
    sample ``m`` is input sample ``m * factor`` filtered. Chunks of any size give the same
    output as one call; ``last`` flushes the filter's tail (end of a file)."""

    def __init__(self, factor: int) -> None:
        self.factor = factor
        self.h = lowpass(factor).astype(np.float32)
        self.delay = (len(self.h) - 1) // 2  # input samples an output waits for
        self.phases = [self.h[p::factor] for p in range(factor)]
        self._buffer = np.zeros(self.delay, np.float32)  # silence before the stream's start

    def needed(self, outputs: int) -> int:
        """Input samples still to come before ``outputs`` more output samples are ready."""
        return max(0, (outputs - 1) * self.factor + len(self.h) - len(self._buffer))

    def resample_chunk(self, chunk: Audio, last: bool = False) -> Audio:
        parts = [self._buffer, np.asarray(chunk, np.float32).ravel()]
        if last:
            parts.append(np.zeros(self.delay, np.float32))
        x = np.concatenate(parts)
        f, taps = self.factor, len(self.h)
        count = max(0, (len(x) - taps) // f + 1)
        out = np.zeros(count, np.float32)
        if count:  # polyphase: out[m] = sum over j of h[j] x[m f + j], one phase of j at a time
            for p, h in enumerate(self.phases):
                out += np.correlate(x[p::f][: count + len(h) - 1], h, "valid")
        self._buffer = np.zeros(self.delay, np.float32) if last else x[count * f :]
        return out


def stream(rate: int, to: int) -> Resampler | None:
    """A streaming resampler from ``rate`` to ``to``; None when they are equal."""
    if rate == to:
        return None
    if rate % to == 0:
        return Decimator(rate // to)
    return soxr.ResampleStream(rate, to, 1, dtype="float32", quality="HQ")
