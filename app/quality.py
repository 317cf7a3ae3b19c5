"""How good is the sound the model hears? Speech level, signal-to-noise ratio, clipping and
bandwidth of an analysed window, and the flags that say when the model cannot judge it.

Measured from what the analysis already has (the window's frame levels and log-mel, and a running
count of clipped samples), in well under a millisecond per window, the same live and on files.
The thresholds come from the robustness evaluation and live in the bundle's metadata; a bundle
without them measures but raises no flag.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from app.features import FeatureSettings, Pipeline, hz_to_mel, mel_to_hz
from app.speechcheck import SpeechCheck, measures

CLIP_LEVEL = 32766 / 32768  # a sample this close to full scale was clipped (16-bit converter)
BAND_DROP_DB = 60.0  # a mel band carries sound when within this of the window's loudest band
NOISE_PERCENTILE = 10  # of a window's frame levels: its noise floor
MIN_SPEECH_SECONDS = 0.75  # voiced speech in a window below which no emotion can be judged: a
# 0.2-0.5 s cut of a sentence was called "sad" at 0.95 (the sentence: angry); a clean corpus
# window holds 1.5 s or more
UNJUDGED = ("too_short", "not_speech")  # flags under which the sound cannot be judged at all
FLAGS = (*UNJUDGED, "too_quiet", "clipping", "noisy", "narrowband", "unfamiliar")
DOUBTFUL = (*UNJUDGED, "unfamiliar")  # flags under which an emotion is shown, but as uncertain
ADVICE = {
    "too_short": "Too little speech to judge (under a second) — speak for longer.",
    "not_speech": "This does not sound like speech (noise, a buzz, music?) — no emotion can be "
    "judged from it.",
    "too_quiet": "Too quiet — move closer or raise the input level.",
    "clipping": "Clipping — lower the input level.",
    "noisy": "Too noisy — find a quieter place or move closer to the microphone.",
    "narrowband": "Telephone-quality sound — emotions are less reliable.",
    "unfamiliar": "Unlike the speech the model learnt from (another language, voice or way of "
    "speaking) — its judgement is less sure.",
}

Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Thresholds:
    """Where the model stops being reliable; ``None``: that flag is never raised."""

    too_quiet_db: float | None = None  # speech level (dBFS) below which
    noisy_snr_db: float | None = None  # SNR (dB) below which
    clipping: float | None = None  # fraction of clipped samples above which
    narrowband_hz: float | None = None  # bandwidth (Hz) below which

    @classmethod
    def from_meta(cls, block: Any) -> Thresholds:
        """The bundle's ``quality`` block; raises ``ValueError`` saying what is wrong."""
        if block is None:
            return cls()
        if not isinstance(block, dict):
            raise ValueError("the quality thresholds are not an object")
        values = {}
        for name in ("too_quiet_db", "noisy_snr_db", "clipping", "narrowband_hz"):
            v = block.get(name)
            if v is not None and not (isinstance(v, int | float) and np.isfinite(v)):
                raise ValueError(f"the quality threshold {name} is {v!r}")
            values[name] = None if v is None else float(v)
        return cls(**values)

    @property
    def empty(self) -> bool:
        return all(v is None for v in vars(self).values())


@dataclass(frozen=True, slots=True)
class Quality:
    level_db: float  # speech level: the power mean of the voiced frames (dBFS)
    snr_db: float  # speech level over the noise floor
    clipping: float  # fraction of the window's samples at full scale
    bandwidth_hz: float  # highest frequency carrying sound
    flags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "level_db": round(self.level_db, 1),
            "snr_db": round(self.snr_db, 1),
            "clipping": round(self.clipping, 5),
            "bandwidth_hz": round(self.bandwidth_hz),
            "flags": list(self.flags),
        }

    @property
    def advice(self) -> str:
        """One plain sentence for the first flag raised; empty when all is well."""
        return ADVICE[self.flags[0]] if self.flags else ""


def advice(q: Quality | None, speaking: bool) -> str:
    """What to do about the input: any flag while speaking; in silence only "too quiet" (the
    one flag that can hide speech from the gate)."""
    if q is None:
        return ""
    if speaking:
        return q.advice
    return ADVICE["too_quiet"] if "too_quiet" in q.flags else ""


def band_centres(n_mels: int, fmin: float, fmax: float) -> Array:
    """The centre frequency (Hz) of every mel band of the feature pipeline."""
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    return np.asarray(edges[1:-1], np.float32)


def measure(
    levels: Array,
    log_mel: Array | None,
    clipped: float,
    voiced: npt.NDArray[np.bool_],
    centres: Array,
    thresholds: Thresholds,
) -> Quality:
    """The window's quality from its frame levels (dB), log-mel (dB; ``None``: bandwidth
    unknown), fraction of clipped samples and which frames the gate took for speech."""
    if len(levels) == 0:
        return Quality(float("-inf"), 0.0, clipped, 0.0)
    k = len(levels) * NOISE_PERCENTILE // 100
    floor = float(np.partition(levels, k)[k])
    speech = levels[voiced] if voiced.any() else levels[levels >= np.median(levels)]
    level = float(10 * np.log10(np.mean(10 ** (speech.astype(np.float64) / 10))))
    bandwidth = float("nan")
    if log_mel is not None and len(log_mel):
        loud = log_mel[voiced] if voiced.any() else log_mel
        band = 10 * np.log10(np.mean(np.power(np.float32(10), loud * np.float32(0.1)), axis=0))
        bandwidth = float(centres[np.flatnonzero(band >= band.max() - BAND_DROP_DB)[-1]])
    q = Quality(level, level - floor, clipped, bandwidth)
    return Quality(q.level_db, q.snr_db, q.clipping, q.bandwidth_hz, flags(q, thresholds))


def flags(q: Quality, t: Thresholds) -> tuple[str, ...]:
    """The flags raised, in :data:`FLAGS` order (the first is the one to act on)."""
    raised = {
        "too_quiet": t.too_quiet_db is not None and q.level_db < t.too_quiet_db,
        "clipping": t.clipping is not None and q.clipping > t.clipping,
        "noisy": t.noisy_snr_db is not None and q.snr_db < t.noisy_snr_db,
        "narrowband": t.narrowband_hz is not None and q.bandwidth_hz < t.narrowband_hz,
    }
    return tuple(f for f in FLAGS if raised.get(f))  # unfamiliar: by familiarity()


def raised(q: Quality, *names: str) -> Quality:
    """``q`` with these flags raised too, in :data:`FLAGS` order."""
    return replace(q, flags=tuple(f for f in FLAGS if f in q.flags or f in names))


def familiarity(q: Quality, distance: float | None, above: float | None) -> Quality:
    """``q`` with the unfamiliar flag raised where the window lies further than ``above`` from
    what the model learnt (:mod:`app.familiar`; ``None``: not measured)."""
    if distance is None or above is None or not distance > above:
        return q
    return raised(q, "unfamiliar")


def doubtful(q: Quality) -> bool:
    """Whether a window's flags say its emotion is not to be trusted (:data:`DOUBTFUL`)."""
    return any(f in DOUBTFUL for f in q.flags)


def unjudged(
    log_mel: Array | None,
    levels: Array,
    voiced: npt.NDArray[np.bool_],
    rate: float,
    check: SpeechCheck | None,
) -> tuple[str, ...]:
    """The :data:`UNJUDGED` flags of a window the gate took for speech: too little of it is
    voiced, or the bundle's speech check (None: none) finds it is not speech. ``rate``: frames
    per second."""
    if not voiced.any():
        return ()
    if voiced.sum() < MIN_SPEECH_SECONDS * rate:
        return ("too_short",)
    if check is None or log_mel is None:
        return ()
    return () if check.is_speech(measures(log_mel, levels, voiced, rate)) else ("not_speech",)


class ClipCounter:
    """Clipped samples of a stream, counted per hop of samples (the frame hop), so that a
    window's share can be read back by the frames it spans."""

    def __init__(self, hop: int, keep: int) -> None:
        self.hop, self.keep = hop, keep  # ``keep``: hops remembered (a window's worth or more)
        self._counts = np.zeros(0, np.int32)
        self._pending = np.zeros(0, np.float32)
        self._first = 0  # hop index of _counts[0]

    def push(self, samples: npt.ArrayLike) -> None:
        audio = np.concatenate([self._pending, np.asarray(samples, np.float32).ravel()])
        whole = len(audio) // self.hop * self.hop
        hits = (np.abs(audio[:whole]) >= CLIP_LEVEL).reshape(-1, self.hop).sum(axis=1)
        counts = np.concatenate([self._counts, hits.astype(np.int32)])
        self._first += max(0, len(counts) - self.keep)
        self._counts, self._pending = counts[-self.keep :], audio[whole:]

    def fraction(self, end: int, hops: int) -> float:
        """Share of clipped samples in hops ``end - hops`` to ``end`` (frame indices)."""
        lo, hi = max(0, end - hops - self._first), max(0, end - self._first)
        part = self._counts[lo:hi]
        return float(part.sum() / (len(part) * self.hop)) if len(part) else 0.0

    def reset(self) -> None:
        self._counts = np.zeros(0, np.int32)
        self._pending = np.zeros(0, np.float32)
        self._first = 0  # hop index of _counts[0]


class Meter:
    """A stream's quality, window by window: feed it the samples the analysis reads, then ask
    for each model window's :class:`Quality`."""

    def __init__(
        self,
        settings: FeatureSettings,
        thresholds: Thresholds,
        window: int,
        check: SpeechCheck | None = None,
    ) -> None:
        self.pipeline = Pipeline(settings)
        self.thresholds = thresholds
        self.check = check
        self.rate = settings.sample_rate / settings.hop_length  # frames per second
        self.window = window
        self.centres = band_centres(settings.n_mels, settings.fmin, settings.fmax)
        self.clips = ClipCounter(settings.hop_length, 2 * window)

    def push(self, samples: npt.ArrayLike) -> None:
        self.clips.push(samples)

    def measure(
        self, features: Array, levels: Array, voiced: npt.NDArray[np.bool_], end: int
    ) -> Quality:
        """The window of ``features`` and frame ``levels`` ending at frame ``end``."""
        clipped = self.clips.fraction(end, len(levels))
        log_mel = self.pipeline.to_log_mel(features)
        q = measure(levels, log_mel, clipped, voiced, self.centres, self.thresholds)
        # the speech check knows clean speech: in noise (speech at 5-10 dB SNR failed it) the
        # noisy flag already says what is wrong, and what to do
        check = None if "noisy" in q.flags else self.check
        return raised(q, *unjudged(log_mel, levels, voiced, self.rate, check))

    def reset(self) -> None:
        self.clips.reset()
