"""Analysis of a whole recording: every model window, decoded in blocks so memory stays bounded.

The frames come from the same streaming pipeline the live meter uses, so a file and the same
audio spoken into the microphone give the same windows.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app import affect
from app.adapt import TIME_CONSTANT, Moments, Norm, SpeechFrames, blend, frames_for
from app.audio import files
from app.bundle import Bundle
from app.engine import Engine, Prediction
from app.features import (
    FeatureSettings,
    FrameStream,
    Pipeline,
    hop_frames,
    normalise,
    silence_frame,
    windows,
)
from app.personal import Voice
from app.prosody import PitchRange, PitchStream, Prosody, summarise
from app.quality import ADVICE, DOUBTFUL, FLAGS, Meter, Quality, familiarity

GATE_SECONDS = 1.0  # the newest part of a window that decides speech or silence
MAX_SPECTROGRAM_COLUMNS = 30_000  # beyond this the display spectrogram is averaged in time
SPECTROGRAM_DTYPE = np.float16  # display only: 0.06 dB steps at -80 dB, half float32's memory
ATTENTION_DTYPE = np.float16  # display only: weights to 3 significant digits
NO_SPEECH = (
    "No speech found, so no emotion to give: the speech detector heard none (noise or music "
    "can cover a voice; record closer to the speaker or in a quieter place)."
)
AHEAD = 8  # windows a lane of the model is handed and not yet judged: memory stays bounded

Array = npt.NDArray[np.float32]


class Cancelled(Exception):
    """The user cancelled the analysis."""


@dataclass
class Analysis:
    """Per model window: end time, speech flag, probabilities (NaN in silence) and attention."""

    labels: tuple[str, ...]
    duration: float
    window_seconds: float
    hop_seconds: float
    ends: npt.NDArray[np.float64]
    speech: npt.NDArray[np.bool_]
    probabilities: Array
    attention: npt.NDArray[np.float16]  # (windows, steps), for display
    spectrogram: npt.NDArray[np.float16]  # (columns, n_mels) log-mel dB, for display
    spectrogram_rate: float  # columns per second
    path: Path | None = None
    adaptation: float = 0.0  # how far the normalisation is the speaker's own: 0 cold
    speaker: str | None = None  # whose statistics: "this file", or the files pooled
    extra: dict[str, Any] = field(default_factory=dict)
    quality: list[Quality] = field(default_factory=list)  # per window
    uncertain_below: float = 0.0  # a top probability under this is "uncertain"
    prosody: list[Prosody] = field(default_factory=list)  # per window
    pitch: Array = field(default_factory=lambda: np.zeros(0, np.float32))  # F0 per frame
    loudness: Array = field(default_factory=lambda: np.zeros(0, np.float32))  # dB per frame
    pitch_range: tuple[float, float, float] | None = None  # the file's 10/50/90 % F0 (Hz)
    distances: Array = field(default_factory=lambda: np.zeros(0, np.float32))  # app.familiar
    voice: str | None = None  # the personal voice that judged it (app.personal), if one
    embeddings: Array = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # if kept

    @property
    def uncertain(self) -> npt.NDArray[np.bool_]:
        """Per window: speech with no emotion clearly ahead, unlike what the model learnt, or
        not judgeable at all (too short, not speech)."""
        top = np.nan_to_num(self.probabilities, nan=1.0).max(axis=1, initial=0.0)
        doubt = np.array([any(f in DOUBTFUL for f in q.flags) for q in self.quality], bool)
        return self.speech & ((top < self.uncertain_below) | (doubt if self.quality else False))

    @property
    def overall_uncertain(self) -> bool:
        """The whole recording: speech, but no emotion clearly ahead, or most of its speech
        unlike what the model learnt or not judgeable (:data:`DOUBTFUL` among the file's
        flags)."""
        label, probs = self.overall
        if label is None:
            return False
        flags = self.file_quality()["flags"] if self.quality else []
        return bool(probs.max() < self.uncertain_below or any(f in DOUBTFUL for f in flags))

    def file_quality(self) -> dict[str, Any]:
        """The file's quality over its speech windows (all windows if none): medians, the flags
        raised in at least half of its speech windows, and a note when all its speech is
        flagged. Silence raises no flag."""
        spoken = [q for q, s in zip(self.quality, self.speech, strict=True) if s]
        if not spoken:  # no speech found: too quiet to be heard, or silence
            quiet = sum("too_quiet" in q.flags for q in self.quality) * 2 >= len(self.quality)
            out = {**self._medians(self.quality), "flags": ["too_quiet"] if quiet else []}
            if quiet:
                out["note"] = f"No speech found, and the input is very quiet: {ADVICE['too_quiet']}"
            else:
                out["note"] = NO_SPEECH
            return {**out, "flagged_share": 0.0}
        flags = [f for f in FLAGS if sum(f in q.flags for q in spoken) * 2 >= len(spoken)]
        share = sum(bool(q.flags) for q in spoken) / len(spoken)
        out: dict[str, Any] = {
            **self._medians(spoken),
            "flags": flags,
            "flagged_share": round(share, 3),
        }
        if share == 1.0:
            first = next(q for q in spoken if q.flags)
            out["note"] = f"All the speech in this file is flagged: {first.advice}"
        elif doubts := [f for f in flags if f in DOUBTFUL]:
            out["note"] = f"Most of the speech in this file is flagged: {ADVICE[doubts[0]]}"
        far = self.distances[self.speech] if len(self.distances) == len(self.speech) else []
        if len(far) and np.isfinite(far).all():
            out["distance"] = round(float(np.median(far)), 3)  # from what it learnt: 1 typical
        return out

    @property
    def overall(self) -> tuple[str | None, Array]:
        """The emotion of the whole recording: mean probabilities of its speech windows."""
        spoken = self.probabilities[self.speech]
        if len(spoken) == 0:
            return None, np.full(len(self.labels), np.nan, np.float32)
        mean = spoken.mean(axis=0)
        return self.labels[int(mean.argmax())], mean.astype(np.float32)

    @staticmethod
    def _medians(windows: list[Quality]) -> dict[str, Any]:
        if not windows:
            return {}
        return {
            "level_db": round(float(np.median([q.level_db for q in windows])), 1),
            "snr_db": round(float(np.median([q.snr_db for q in windows])), 1),
            "clipping": round(float(np.median([q.clipping for q in windows])), 5),
            "bandwidth_hz": round(float(np.nanmedian([q.bandwidth_hz for q in windows]))),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready figures (no spectrogram), finite numbers only (:func:`finite`)."""
        return finite(self._figures())

    def _figures(self) -> dict[str, Any]:
        label, probs = self.overall
        quality = self.quality or [None] * len(self.ends)
        prosody = self.prosody or [None] * len(self.ends)
        places = affect.position(self.probabilities, self.labels).reshape(-1, 2)
        file_place = affect.position(probs, self.labels)[0]
        return {
            "file": str(self.path) if self.path else None,
            "duration": round(self.duration, 3),
            "labels": list(self.labels),
            "emotion": label,
            "probabilities": _rounded(probs),
            "uncertain": self.overall_uncertain,
            **affect_fields(file_place),
            "quality": self.file_quality() if self.quality else None,
            "window_seconds": self.window_seconds,
            "hop_seconds": self.hop_seconds,
            "pitch_range_hz": [round(f, 1) for f in self.pitch_range] if self.pitch_range else None,
            "normalisation": {
                "mode": "personal" if self.voice else "adapted" if self.adaptation > 0 else "cold",
                "adaptation": round(self.adaptation, 4),
                "speaker": self.speaker,
                **({"voice": self.voice} if self.voice else {}),
            },
            "windows": [
                {
                    "start": round(max(0.0, e - self.window_seconds), 3),
                    "end": round(float(e), 3),
                    "speech": bool(s),
                    "emotion": self.labels[int(p.argmax())] if s else None,
                    "probabilities": _rounded(p) if s else None,
                    "uncertain": bool(u),
                    "quality": q.to_dict() if q else None,
                    "prosody": v.to_dict() if v else None,
                    **affect_fields(xy),
                }
                for e, s, p, u, q, v, xy in zip(
                    self.ends,
                    self.speech,
                    self.probabilities,
                    self.uncertain,
                    quality,
                    prosody,
                    places,
                    strict=True,
                )
            ],
            "affect_source": affect.NOTE,
            **self.extra,
        }


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity (the level of a file of a few samples, a statistic
    of nothing) replaced by None: strict JSON readers refuse them, and one such number made a
    whole ``--json`` array unreadable. A CSV writes None as an empty cell."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def affect_fields(xy: npt.NDArray[np.float64]) -> dict[str, float | None]:
    """Valence and arousal, rounded; None in silence."""
    return {
        k: None if np.isnan(v) else round(float(v), 3)
        for k, v in zip(("valence", "arousal"), xy, strict=True)
    }


def _rounded(values: Array) -> list[float] | None:
    return None if np.isnan(values).any() else [round(float(v), 4) for v in values]


def analyze_file(
    path: str | os.PathLike[str],
    engine: Engine,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
    norm: Norm | None = None,
    voice: Voice | None = None,
    embeddings: bool = False,
) -> Analysis:
    """Analyse a file (any format soundfile reads); raises ``AudioFileError`` with a reason.

    ``norm`` is the speaker normalisation (:func:`speaker_norm`); None analyses cold. See
    :func:`analyze_blocks` for ``voice`` and ``embeddings``.
    """
    meta = files.info(path)
    blocks = progress_blocks(path, engine.bundle.features.sample_rate, meta.duration,
                             progress, cancel)  # fmt: skip
    analysis = analyze_blocks(blocks, engine, meta.duration, norm, voice, embeddings)
    analysis.path = Path(path)
    if meta.warning:
        analysis.extra["warning"] = meta.warning  # in the results, and said by the CLI
    return analysis


class Columns:
    """The display spectrogram of a recording: log-mel frames averaged ``pool`` at a time, so a
    long file stays within :data:`MAX_SPECTROGRAM_COLUMNS` (a 60-minute file: a column per 0.12
    s). The columns go into one array sized from the duration up front, so the finished
    spectrogram is that array, not a second copy."""

    def __init__(self, settings: FeatureSettings, duration: float) -> None:
        frames = duration * settings.sample_rate / settings.hop_length
        self.pool = max(1, int(np.ceil(frames / MAX_SPECTROGRAM_COLUMNS)))
        self.rate = settings.sample_rate / settings.hop_length / self.pool  # columns per second
        capacity = int(np.ceil(frames / self.pool)) + 2
        self._columns = np.empty((capacity, settings.n_mels), SPECTROGRAM_DTYPE)
        self._n = 0
        self._pending = np.zeros((0, settings.n_mels), np.float32)

    def add(self, log_mel: Array) -> None:
        cols = np.concatenate([self._pending, log_mel])
        whole = len(cols) // self.pool * self.pool
        if whole:
            self._put(cols[:whole].reshape(-1, self.pool, cols.shape[1]).mean(axis=1))
        self._pending = cols[whole:]

    def spectrogram(self) -> npt.NDArray[np.float16]:
        """Every column so far, the last one averaged over what frames it has."""
        if len(self._pending):
            self._put(self._pending.mean(axis=0, keepdims=True))
            self._pending = self._pending[:0]
        return self._columns[: self._n]

    def _put(self, columns: Array) -> None:
        if self._n + len(columns) > len(self._columns):  # the duration was an estimate
            grown = np.empty(
                (2 * (self._n + len(columns)), self._columns.shape[1]), SPECTROGRAM_DTYPE
            )
            grown[: self._n] = self._columns[: self._n]
            self._columns = grown
        self._columns[self._n : self._n + len(columns)] = columns
        self._n += len(columns)


def progress_blocks(
    path: str | os.PathLike[str],
    rate: int,
    duration: float,
    progress: Callable[[float], None] | None,
    cancel: threading.Event | None,
) -> Iterator[Array]:
    done = 0.0
    for block in files.blocks(path, rate):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        yield block
        done += len(block) / rate
        if progress:
            progress(min(1.0, done / max(duration, 1e-9)))


def analyze_audio(
    audio: Array,
    engine: Engine,
    norm: Norm | None = None,
    voice: Voice | None = None,
    embeddings: bool = False,
) -> Analysis:
    """Analyse mono audio already at the model's sample rate."""
    seconds = len(audio) / engine.bundle.features.sample_rate
    return analyze_blocks([audio], engine, seconds, norm, voice, embeddings)


def model_windows(
    blocks: Iterable[Array],
    pipeline: Pipeline,
    size: int,
    hop: int,
    frames: Callable[[Array, Array, Array], None] | None = None,
) -> Iterator[tuple[Array, Array, int]]:
    """Stream blocks through the frame pipeline and yield each model window's features, frame
    levels and end frame, keeping only the frames the next window needs. A recording shorter
    than one window yields its frames once, unpadded. ``frames`` receives every block with the
    log-mel frames and frame levels it completed, before the windows they end."""
    stream = FrameStream(pipeline)
    n = pipeline.settings.n_features
    feats, levels = np.zeros((0, n), np.float32), np.zeros(0, np.float32)
    offset = 0  # frame index of feats[0]
    count = 0
    for block in blocks:
        log_mel, level = stream.push(block)
        if frames is not None:
            frames(block, log_mel, level)
        feats = np.concatenate([feats, pipeline.from_log_mel(log_mel)])
        levels = np.concatenate([levels, level])
        start = count * hop - offset  # next window's first frame within feats
        while start + size <= len(feats):
            yield feats[start : start + size], levels[start : start + size], offset + start + size
            start += hop
            count += 1
        drop = max(0, min(start, len(feats)))
        feats, levels, offset = feats[drop:], levels[drop:], offset + drop
    if not count:
        yield feats, levels, offset + len(feats)


def speaker_moments(blocks: Iterable[Array], bundle: Bundle) -> Moments:
    """The speech statistics of a recording, frame by frame as the gate sees them (silence
    never counts): what adapting to its speaker normalises by."""
    s = bundle.features
    speech = SpeechFrames(hop_frames(s, GATE_SECONDS))
    total = Moments.empty(s.n_features)
    hop = hop_frames(s, bundle.hop_seconds)
    for x, lv, end in model_windows(blocks, Pipeline(s), bundle.window_frames, hop):
        total = total + speech.update(x, lv, end)
    return total


def file_moments(
    path: str | os.PathLike[str],
    bundle: Bundle,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> Moments:
    """:func:`speaker_moments` of a file; raises ``AudioFileError`` with a reason."""
    meta = files.info(path)
    rate = bundle.features.sample_rate
    blocks = progress_blocks(path, rate, meta.duration, progress, cancel)
    return speaker_moments(blocks, bundle)


def speaker_norm(engine: Engine, speaker: Moments, time_constant: float | None = None) -> Norm:
    """The bundle's statistics adapted to a speaker by the evidence of ``speaker``."""
    b = engine.bundle
    seconds = time_constant or b.adapt_seconds or TIME_CONSTANT
    return blend(b.population, speaker, frames_for(b.features, seconds))


def analyze_blocks(
    blocks: Iterable[Array],
    engine: Engine,
    duration: float,
    norm: Norm | None = None,
    voice: Voice | None = None,
    embeddings: bool = False,
) -> Analysis:
    """Every model window of streamed blocks: speech gate, probabilities and attention.
    ``voice``: a personal voice judges each window instead of the general head; ``embeddings``
    keeps each window's encoder statistics (what teaching a voice is fitted on)."""
    b = engine.bundle
    s = b.features
    pipeline = Pipeline(s)
    size, hop = b.window_frames, hop_frames(s, b.hop_seconds)
    fill = silence_frame(pipeline)
    norm = norm or b.population.cold
    columns = Columns(s, duration)
    speech_frames = SpeechFrames(hop_frames(s, GATE_SECONDS))
    meter = Meter(s, b.quality, size, b.speech_check)
    prosodic = Prosodic(s, duration)
    ends: list[float] = []
    speech: list[bool] = []
    capacity = int(duration / b.hop_seconds) + 2
    probs = Track(capacity, len(b.labels))  # rows, not an array per window: see Track
    attention = Track(capacity, b.attention_steps, ATTENTION_DTYPE)
    quality: list[Quality] = []
    prosody: list[Prosody] = []
    distances: list[float] = []
    kept: list[Array] = []

    def frames(block: Array, log_mel: Array, levels: Array) -> None:
        meter.push(block)
        columns.add(log_mel)
        prosodic.push(block, levels)

    def take(p: Prediction, spoken: bool) -> None:
        judged = p.probabilities
        if voice is not None and p.embedding is not None:
            judged = voice.judge(p.embedding, judged)
        if embeddings and p.embedding is not None:
            kept.append(p.embedding)
        probs.extend(judged[None] if spoken else np.full((1, len(b.labels)), np.nan))
        attention.extend(p.attention[None])
        distances.append(np.nan if p.distance is None else p.distance)

    # the model runs on its own threads, one per lane of the engine (LiteRT lets go of the GIL),
    # beside the next windows' features, gate, quality and prosody
    with ThreadPoolExecutor(engine.lanes, thread_name_prefix="model") as model:
        pending: deque[tuple[Future[Prediction], bool]] = deque()
        for x, lv, end_frame in model_windows(blocks, pipeline, size, hop, frames):
            speech_frames.update(x, lv, end_frame)
            spoken = speech_frames.speaking
            voiced = speech_frames.gate.voiced(lv)
            quality.append(meter.measure(x, lv, voiced, end_frame))
            prosody.append(prosodic.window(end_frame - len(lv), end_frame, voiced))
            window = x if len(x) == size else windows(x, size, hop, fill)[0]  # short: padded
            pending.append((model.submit(engine.predict, normalise(window, norm.mean, norm.std)),
                            spoken))  # fmt: skip
            ends.append((end_frame * s.hop_length + s.n_fft - s.hop_length) / s.sample_rate)
            speech.append(spoken)
            while len(pending) > AHEAD * engine.lanes:
                future, was = pending.popleft()
                take(future.result(), was)
        for future, was in pending:
            take(future.result(), was)
    above = b.familiarity.unfamiliar_above if b.familiarity else None
    quality = [familiarity(q, d, above) for q, d in zip(quality, distances, strict=True)]
    return Analysis(
        labels=b.labels,
        duration=duration,
        window_seconds=b.window_seconds,
        hop_seconds=b.hop_seconds,
        ends=np.asarray(ends),
        speech=np.asarray(speech, bool),
        probabilities=probs.array(),
        attention=attention.array(),
        spectrogram=columns.spectrogram(),
        spectrogram_rate=columns.rate,
        adaptation=norm.weight,
        quality=quality,
        uncertain_below=b.uncertain_below,
        prosody=prosody,
        distances=np.asarray(distances, np.float32),
        pitch=prosodic.pitch.array(),
        loudness=prosodic.loudness.array(),
        pitch_range=prosodic.range.range(),
        voice=voice.name if voice is not None else None,
        embeddings=np.array(kept, np.float32) if kept else np.zeros((0, 0), np.float32),
    )


class Track:
    """A series (of values, or of rows ``width`` wide) that grows without copying it all on
    every block; sized from the file's duration, it is seldom copied at all. Per-window results
    go in as rows rather than an array each: thousands of small arrays kept between the large
    passing ones pin the C heap's pages (an hour's probabilities held 3 MB of RSS that way)."""

    def __init__(self, capacity: int, width: int = 0, dtype: npt.DTypeLike = np.float32) -> None:
        rows = max(16, capacity)
        self._data: npt.NDArray[Any] = np.zeros((rows, width) if width else (rows,), dtype)
        self.size = 0

    def extend(self, values: npt.NDArray[Any]) -> None:
        if self.size + len(values) > len(self._data):
            grown = (2 * (self.size + len(values)), *self._data.shape[1:])
            self._data = np.resize(self._data, grown)
        self._data[self.size : self.size + len(values)] = values
        self.size += len(values)

    def slice(self, lo: int, hi: int) -> npt.NDArray[Any]:
        return self._data[max(0, lo) : min(hi, self.size)]

    def array(self) -> npt.NDArray[Any]:
        """What was added: a view of a nearly full buffer (an hour's attention is 4 MB), else a
        trimmed copy."""
        kept = self._data[: self.size]
        return kept if 5 * self.size >= 4 * len(self._data) else kept.copy()


class Prosodic:
    """A recording's pitch and loudness, frame by frame, and each window's prosody from them."""

    def __init__(self, settings: FeatureSettings, duration: float) -> None:
        frames = int(duration * settings.sample_rate / settings.hop_length) + 2
        self.stream = PitchStream(settings)
        self.pitch, self.loudness = Track(frames), Track(frames)
        self.range = PitchRange()
        self.hop_seconds = settings.hop_length / settings.sample_rate
        self._ranged = 0  # frames already in the pitch range

    def push(self, block: Array, levels: Array) -> None:
        self.pitch.extend(self.stream.push(block, levels))
        self.loudness.extend(levels)

    def window(self, start: int, end: int, speech: npt.NDArray[np.bool_]) -> Prosody:
        """The prosody of frames ``start`` to ``end`` given which of them are speech."""
        f0 = self.pitch.slice(start, end)
        new = min(len(f0), end - max(start, self._ranged))  # frames no window has added yet
        if new > 0:
            self.range.add(f0[-new:][speech[-new:]])
        self._ranged = end
        return summarise(f0, self.loudness.slice(start, end), speech, self.hop_seconds)
