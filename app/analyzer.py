"""The live meter's core: device audio in, spectrogram columns and emotion results out. No Qt.

Only new frames are computed on each call (``FrameStream``); a model window runs every hop over
the newest frames; the speech gate blanks silence; probabilities are smoothed over time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from app.adapt import Adapter, Moments
from app.audio import resample
from app.engine import Engine
from app.features import FrameStream, Pipeline, hop_frames
from app.judge import Judge
from app.personal import Voice
from app.prosody import PitchStream, Prosody
from app.quality import Quality

SMOOTHING = 0.5  # weight of the previous smoothed value: 0 = none, 0.9 = very slow
FIRST_SECONDS = 0.45  # of audio after which a first, provisional result comes (not 3 s later)

Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class LiveResult:
    time: float  # stream seconds at the end of the analysed window
    speech: bool
    probabilities: Array | None  # smoothed; None while silent
    raw: Array | None  # this window's own probabilities; None while silent
    attention: Array  # over the window's time steps
    level_db: float  # loudness of the newest frames
    latency: float  # seconds from the window's last sample arriving to this result
    adaptation: float = 0.0  # how far the normalisation is the speaker's own: 0 cold, 1 all
    speech_seconds: float = 0.0  # of the current speaker's voice heard so far
    quality: Quality | None = None  # of the analysed window
    uncertain: bool = False  # speech, but no emotion clearly ahead
    prosody: Prosody | None = None  # of the analysed window
    provisional: bool = False  # judged on less than a whole window (the session's first seconds)
    pitch_range: tuple[float, float, float] | None = None  # the speaker's 10/50/90 % F0 (Hz)


@dataclass(frozen=True)
class Update:
    """What one chunk of audio produced: new spectrogram columns and any new results."""

    log_mel: Array  # (new frames, n_mels)
    results: list[LiveResult] = field(default_factory=list)
    pitch: Array = field(default_factory=lambda: np.zeros(0, np.float32))  # F0 (Hz) per new frame
    loudness: Array = field(default_factory=lambda: np.zeros(0, np.float32))  # dB per new frame


class LiveAnalyzer:
    def __init__(
        self,
        engine: Engine,
        input_rate: int,
        hop_seconds: float | None = None,
        smoothing: float = SMOOTHING,
        adapt: bool = True,
    ) -> None:
        b = engine.bundle
        self.engine = engine
        self.input_rate = input_rate
        self.pipeline = Pipeline(b.features)
        self.hop_seconds = hop_seconds or b.hop_seconds
        self.smoothing = smoothing
        self.windowing = replace(b.windowing, hop=hop_frames(b.features, self.hop_seconds))
        self._first = hop_frames(b.features, FIRST_SECONDS)
        # None for a model trained without speaker adaptation: it always runs cold
        self.personal: Voice | None = None  # a voice taught by its owner (app.personal)
        self.adapter = (
            Adapter(b.population, b.features, b.adapt_seconds, enabled=adapt)
            if b.adapt_seconds
            else None
        )
        self.reset()

    def reset(self) -> None:
        """Forget all audio: a new session."""
        s = self.engine.bundle.features
        self._stream = FrameStream(self.pipeline)
        self._resampler = resample.stream(self.input_rate, s.sample_rate)
        self._features = np.zeros((0, s.n_features), np.float32)
        self._levels = np.zeros(0, np.float32)
        self._pitch = np.zeros(0, np.float32)
        self._pitch_stream = PitchStream(s)
        self._since_last = 0
        self._frames = 0  # frames in the analysis so far (the stream may have completed more)
        self._last_partial = -self._first  # frame count at the last provisional result
        self._smoothed: Array | None = None
        self.judge = Judge(self.engine.bundle, self.windowing)
        self.samples_in = 0

    def set_hop(self, seconds: float) -> None:
        self.hop_seconds = seconds
        self.windowing = replace(self.windowing, hop=hop_frames(self.windowing.settings, seconds))

    def set_adapting(self, enabled: bool) -> None:
        """Switch adaptation on or off; what was learnt of the voice is kept either way."""
        if self.adapter is not None:
            self.adapter.enabled = enabled

    def set_adapt_seconds(self, seconds: float) -> None:
        """Seconds of speech after which the voice learnt counts half."""
        if self.adapter is not None:
            self.adapter.time_constant = seconds

    @property
    def voice(self) -> Moments | None:
        """The current speaker's statistics (immutable: safe to hand to another thread)."""
        return self.adapter.speaker if self.adapter is not None else None

    def new_speaker(self, voice: Moments | None = None) -> None:
        """Forget the current voice (or take a saved one): adaptation starts again."""
        if self.adapter is not None:
            self.adapter.reset(voice)
        self.judge.pitch_range.reset()

    def due(self) -> int:
        """Input samples still to come before the next result: the worker sleeps until they
        are in, so a window runs the moment its last sample arrives (exact at the model's rate
        and its multiples; at other rates an estimate, which a short wait or two completes)."""
        w = self.windowing
        s = w.settings
        have, size = len(self._features), w.size
        if have < size:  # the next provisional window, or the first whole one
            frames = min(size, max(self._first, self._last_partial + w.hop)) - have
        else:
            frames = w.hop - self._since_last
        samples = s.n_fft + (max(1, frames) - 1) * s.hop_length - self._stream.pending
        if self._resampler is None:
            return max(1, samples)
        if isinstance(self._resampler, resample.Decimator):
            return max(1, self._resampler.needed(samples))
        return max(1, -(-samples * self.input_rate // s.sample_rate))

    def push(self, chunk: Array, arrival: float | None = None) -> Update:
        """Feed mono samples at the input rate; ``arrival`` is when the last one arrived."""
        arrival = time.monotonic() if arrival is None else arrival
        self.samples_in += len(chunk)
        audio = chunk if self._resampler is None else self._resampler.resample_chunk(chunk)
        self.judge.push(audio)
        log_mel, levels = self._stream.push(audio)
        pitch = self._pitch_stream.push(audio, levels)
        if not len(log_mel):
            return Update(log_mel)
        feats = self.pipeline.from_log_mel(log_mel)
        size, hop = self.windowing.size, self.windowing.hop
        results = []
        done = 0
        while done < len(feats):  # windows exactly a hop apart, so they share the encoder's blocks
            have = len(self._features)
            room = size - have if have < size else hop - self._since_last
            n = max(1, min(len(feats) - done, room))
            self._features = np.concatenate([self._features, feats[done : done + n]])[-size:]
            self._levels = np.concatenate([self._levels, levels[done : done + n]])[-size:]
            self._pitch = np.concatenate([self._pitch, pitch[done : done + n]])[-size:]
            self._since_last += n
            self._frames += n
            done += n
            have = len(self._features)
            if have == size and self._since_last >= hop:
                new, self._since_last = self._since_last, 0
                results.append(self._run(arrival, new))
            elif self._first <= have < size and have - self._last_partial >= hop:
                self._last_partial = have  # judged as a file this short would be, until whole
                results.append(self._run(arrival, 0, provisional=True))
        return Update(log_mel, results, pitch, levels)

    def _run(self, arrival: float, new: int, provisional: bool = False) -> LiveResult:
        """The window of the newest frames, ``new`` of them not in the previous window; a
        ``provisional`` one (the session's first seconds) leaves the gate, the voice learnt
        and the pitch range as they were, so whole windows are what they would be without it."""
        judge = self.judge
        heard = judge.hear(self._features, self._levels, self._frames, provisional)
        speech = heard.speech
        norm, adapter = self.engine.bundle.population.cold, self.adapter
        if adapter is not None:
            if adapter.enabled and not provisional:  # only speech: silence never adapts
                adapter.add(heard.new)
            norm = adapter.norm()
        prediction = self.engine.predict(judge.model_input(self._features, norm))
        raw, quality = judge.judged(prediction, heard.quality, self.personal)
        if not speech:
            self._smoothed = None
        elif self._smoothed is None:
            self._smoothed = raw
        else:
            self._smoothed = self.smoothing * self._smoothed + (1 - self.smoothing) * raw
        prosody = judge.prosody(self._pitch, self._levels, heard.voiced, new)
        return LiveResult(
            time=self.windowing.end_seconds(self._frames),
            speech=speech,
            probabilities=self._smoothed,
            raw=raw if speech else None,
            attention=prediction.attention,
            level_db=float(self._levels[-self.windowing.hop :].max()),
            latency=time.monotonic() - arrival,
            adaptation=norm.weight,
            speech_seconds=adapter.speech_seconds if adapter else 0.0,
            quality=quality,
            uncertain=judge.uncertain(self._smoothed, quality),
            prosody=prosody if speech else None,
            provisional=provisional,
            pitch_range=judge.pitch_range.range(),
        )
