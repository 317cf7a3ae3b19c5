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
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.adapt import Norm
from app.analysis import Analysis
from app.audio import files
from app.engine import Engine, Prediction
from app.features import FeatureSettings, FrameStream, Pipeline, Windowing
from app.judge import Heard, Judge
from app.personal import Voice
from app.prosody import PitchStream, Prosody
from app.quality import Quality

MAX_SPECTROGRAM_COLUMNS = 30_000  # beyond this the display spectrogram is averaged in time
SPECTROGRAM_DTYPE = np.float16  # display only: 0.06 dB steps at -80 dB, half float32's memory
ATTENTION_DTYPE = np.float16  # display only: weights to 3 significant digits
AHEAD = 8  # windows a lane of the model is handed and not yet judged: memory stays bounded

Array = npt.NDArray[np.float32]


class Cancelled(Exception):
    """The user cancelled the analysis."""


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
    windowing: Windowing,
    frames: Callable[[Array, Array, Array], None] | None = None,
) -> Iterator[tuple[Array, Array, int]]:
    """Stream blocks through the frame pipeline and yield each model window's features, frame
    levels and end frame, keeping only the frames the next window needs. A recording shorter
    than one window yields its frames once, unpadded. ``frames`` receives every block with the
    log-mel frames and frame levels it completed, before the windows they end."""
    stream = FrameStream(pipeline)
    size, hop = windowing.size, windowing.hop
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
    w = b.windowing
    judge = Judge(b, w)
    norm = norm or b.population.cold
    columns = Columns(s, duration)
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
        judge.push(block)
        columns.add(log_mel)
        prosodic.push(block, levels)

    def take(p: Prediction, heard: Heard) -> None:
        judged, judged_quality = judge.judged(p, heard.quality, voice)
        if embeddings and p.embedding is not None:
            kept.append(p.embedding)
        probs.extend(judged[None] if heard.speech else np.full((1, len(b.labels)), np.nan))
        attention.extend(p.attention[None])
        distances.append(np.nan if p.distance is None else p.distance)
        quality.append(judged_quality)

    # the model runs on its own threads, one per lane of the engine (LiteRT lets go of the GIL),
    # beside the next windows' features, gate, quality and prosody
    with ThreadPoolExecutor(engine.lanes, thread_name_prefix="model") as model:
        pending: deque[tuple[Future[Prediction], Heard]] = deque()
        for x, lv, end_frame in model_windows(blocks, Pipeline(s), w, frames):
            heard = judge.hear(x, lv, end_frame)
            f0, loudness, new = prosodic.window(end_frame - len(lv), end_frame)
            prosody.append(judge.prosody(f0, loudness, heard.voiced, new))
            pending.append((model.submit(engine.predict, judge.model_input(x, norm)), heard))
            ends.append(w.end_seconds(end_frame))
            speech.append(heard.speech)
            while len(pending) > AHEAD * engine.lanes:
                future, was = pending.popleft()
                take(future.result(), was)
        for future, was in pending:
            take(future.result(), was)
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
        pitch_range=judge.pitch_range.range(),
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
    """A recording's pitch and loudness, frame by frame, and each window's share of them."""

    def __init__(self, settings: FeatureSettings, duration: float) -> None:
        frames = int(duration * settings.sample_rate / settings.hop_length) + 2
        self.stream = PitchStream(settings)
        self.pitch, self.loudness = Track(frames), Track(frames)
        self._ranged = 0  # frames already in the pitch range

    def push(self, block: Array, levels: Array) -> None:
        self.pitch.extend(self.stream.push(block, levels))
        self.loudness.extend(levels)

    def window(self, start: int, end: int) -> tuple[Array, Array, int]:
        """The F0 and loudness of frames ``start`` to ``end``, and how many of them no earlier
        window had (what joins the pitch range)."""
        f0 = self.pitch.slice(start, end)
        new = min(len(f0), end - max(start, self._ranged))  # frames no window has added yet
        self._ranged = end
        return f0, self.loudness.slice(start, end), new
