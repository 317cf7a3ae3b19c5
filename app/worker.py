"""The threads between the audio and the window: a live worker and a whole-file analysis job.

Both are plain ``threading.Thread``s that hand their results over in a ``queue.Queue``; the GUI
drains it with a timer, and the live worker rings (``ring``, a queued Qt signal) as each result
is queued so it is drawn without waiting for the timer. No widget is touched from another thread
and the GUI thread never waits for audio or for the model.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf

from app.adapt import Moments
from app.analysis import Analysis
from app.analyzer import LiveAnalyzer, Update
from app.atomic import part_path
from app.audio import files
from app.audio.sources import Source
from app.engine import Engine
from app.features import FeatureSettings, FrameStream, Pipeline
from app.offline import Cancelled, Columns, analyze_file, progress_blocks
from app.personal import Voice
from app.speaker import file_moments, speaker_norm

INTERVAL = 0.02  # seconds between reads of the ring buffer


@dataclass(frozen=True)
class Tick:
    """One read's worth of analysis, with what the status bar needs to describe it."""

    update: Update
    arrival: float  # time.monotonic() when the newest analysed sample arrived
    stream_time: float  # seconds of audio analysed so far (end of the newest frame)
    dropped: int  # blocks lost so far: device overflows plus ring buffer overruns
    voice: Moments | None = None  # the speaker's statistics so far, to save as a voice profile


@dataclass(frozen=True)
class Saved:
    """A recording of the input was finished and renamed into place."""

    path: Path
    start: float  # stream seconds of its first sample, the clock of the results' times


@dataclass(frozen=True)
class Failed:
    message: str


@dataclass(frozen=True)
class RecordingFailed(Failed):
    """The recording could not be started or continued; the analysis goes on."""


@dataclass(frozen=True)
class Progress:
    fraction: float


@dataclass(frozen=True)
class Done:
    analysis: Analysis


@dataclass(frozen=True)
class WasCancelled:
    path: Path


class LiveWorker(threading.Thread):
    """Reads the source's new samples when a model window's last sample has arrived, and at
    least every ``interval``, and pushes them through the analyzer.

    Owns the source's life: :meth:`start` starts it (raising ``SourceError`` at once, on the
    caller's thread) and :meth:`stop` stops it after the thread has finished.
    """

    def __init__(
        self,
        source: Source,
        analyzer: LiveAnalyzer,
        out: queue.Queue[object],
        interval: float = INTERVAL,
        ring: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name="live-worker", daemon=True)
        self.source = source
        self.analyzer = analyzer
        self.out = out
        self.interval = interval
        self.ring = ring  # called after each result is queued: the GUI drains it at once
        self._reader = source.ring.reader()  # before the source starts: no sample is missed
        self._quit = threading.Event()
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wav: sf.SoundFile | None = None
        self._wav_path: Path | None = None
        self._wav_start = 0.0
        self._samples_read = 0

    def configure(
        self,
        hop: float | None = None,
        smoothing: float | None = None,
        adapting: bool | None = None,
        adapt_seconds: float | None = None,
    ) -> None:
        """Change the analysis hop, smoothing or speaker adaptation; applied on the worker's
        thread before its next read, so the analyzer is only ever touched by one thread."""
        if hop is not None:
            self._commands.put(partial(self.analyzer.set_hop, hop))
        if smoothing is not None:
            self._commands.put(partial(setattr, self.analyzer, "smoothing", smoothing))
        if adapting is not None:
            self._commands.put(partial(self.analyzer.set_adapting, adapting))
        if adapt_seconds is not None:
            self._commands.put(partial(self.analyzer.set_adapt_seconds, adapt_seconds))

    def new_speaker(self, voice: Moments | None = None) -> None:
        """Forget the voice adapted to so far, or start from a saved one."""
        self._commands.put(partial(self.analyzer.new_speaker, voice))

    def use_personal(self, voice: Voice | None) -> None:
        """Judge with a personal voice from the next window on (None: the general model)."""
        self._commands.put(partial(setattr, self.analyzer, "personal", voice))

    def record(self, path: Path | None) -> None:
        """Start writing the input to a WAV file at ``path``, or stop with ``None``."""
        self._commands.put(partial(self._set_recording, path))

    def start(self) -> None:
        self.source.start()
        super().start()

    @property
    def caught_up(self) -> bool:
        """Every sample the source has written so far has been analysed."""
        return self._reader.available == 0

    def stop(self) -> None:
        self._quit.set()
        self.source.ring.arrived.set()
        if self.is_alive():
            self.join()
        self.source.stop()

    def run(self) -> None:
        reader = self._reader
        frames = 0
        try:
            while not self._quit.is_set():
                reader.wait(self.analyzer.due(), self.interval)  # a window's last sample, or
                if self._quit.is_set():  # ``interval``: the spectrogram keeps scrolling
                    break
                while not self._commands.empty():
                    self._commands.get()()
                samples = reader.read()
                fault = None if len(samples) else self.source.fault
                if fault is not None:  # keep what was heard; the GUI says why it stopped
                    self.out.put(Failed(f"Listening stopped: {fault}"))
                    break
                self._samples_read += len(samples)
                arrival = self.source.last_arrival
                if self._wav is not None and len(samples):
                    self._write_recording(samples)
                if not len(samples):
                    continue
                update = self.analyzer.push(samples, arrival)
                frames += len(update.log_mel)
                if len(update.log_mel) or update.results:
                    end = self.analyzer.windowing.end_seconds(frames) if frames else 0
                    dropped = self.source.dropped + reader.overflows
                    voice = self.analyzer.voice if update.results else None
                    self.out.put(Tick(update, arrival, end, dropped, voice))
                    if update.results and self.ring is not None:
                        self.ring()
        except Exception as e:  # report, do not die silently: the GUI shows it
            self.out.put(Failed(f"The live analysis stopped: {e}"))
        finally:
            self._set_recording(None)

    def _write_recording(self, samples: np.ndarray) -> None:
        """Append to the recording; a full disk ends the recording (the partial file is removed,
        nothing half-written is left), never the analysis."""
        assert self._wav is not None and self._wav_path is not None
        try:
            self._wav.write(samples)
        except (sf.LibsndfileError, OSError, RuntimeError) as e:
            wav, path = self._wav, self._wav_path
            self._wav = self._wav_path = None
            with contextlib.suppress(sf.LibsndfileError, OSError, RuntimeError):
                wav.close()
            with contextlib.suppress(OSError):
                part_path(path).unlink(missing_ok=True)
            self.out.put(
                RecordingFailed(f"Recording to {path} stopped: {e}. The analysis goes on.")
            )

    def _set_recording(self, path: Path | None) -> None:
        if self._wav is not None and self._wav_path is not None:
            wav, done = self._wav, self._wav_path
            self._wav = self._wav_path = None
            try:
                wav.close()
                os.replace(part_path(done), done)
            except (sf.LibsndfileError, OSError, RuntimeError) as e:
                with contextlib.suppress(OSError):
                    part_path(done).unlink(missing_ok=True)
                self.out.put(RecordingFailed(f"Could not finish the recording {done}: {e}"))
            else:
                self.out.put(Saved(done, self._wav_start))
        if path is not None:
            if not path.parent.is_dir():
                self.out.put(
                    RecordingFailed(f"Could not record to {path}: its folder does not exist.")
                )
                return
            try:
                self._wav = sf.SoundFile(
                    part_path(path), "w", self.source.sample_rate, 1, "PCM_16", format="WAV"
                )
                self._wav_path = path
                self._wav_start = self._samples_read / self.source.sample_rate
            except (sf.LibsndfileError, OSError, RuntimeError) as e:
                with contextlib.suppress(OSError):  # our temporary name, nothing of the user's
                    part_path(path).unlink(missing_ok=True)
                self.out.put(
                    RecordingFailed(
                        f"Could not record to {path}: the file could not be written (is the "
                        f"disk full, or the folder read-only?). Details: {e}"
                    )
                )


class AnalysisJob(threading.Thread):
    """Analyses one file on its own thread: :class:`Progress`, then :class:`Done`,
    :class:`Failed` or :class:`WasCancelled` in ``out``. Without a model (``engine`` None) it
    still gives the spectrogram, with no windows. With ``adapt_seconds`` (the adaptation time
    constant) it first learns the voice of the whole file, then analyses it against that voice."""

    def __init__(
        self,
        path: Path,
        engine: Engine | None,
        out: queue.Queue[object],
        adapt_seconds: float | None = None,
        voice: Voice | None = None,
    ) -> None:
        super().__init__(name="analysis", daemon=True)
        self.voice = voice
        self.path = path
        self.engine = engine
        self.out = out
        adaptive = engine is not None and engine.bundle.adapt_seconds is not None
        self.adapt_seconds = adapt_seconds if adaptive else None
        self.cancel = threading.Event()

    def run(self) -> None:
        def progress(fraction: float) -> None:
            self.out.put(Progress(fraction))

        try:
            if self.engine is None:
                analysis = spectrogram_only(self.path, progress, self.cancel)
            elif self.adapt_seconds is not None:
                half = 0.5
                voice = file_moments(
                    self.path, self.engine.bundle, lambda f: progress(half * f), self.cancel
                )
                norm = speaker_norm(self.engine, voice, self.adapt_seconds)
                analysis = analyze_file(
                    self.path, self.engine, lambda f: progress(half + half * f), self.cancel, norm,
                    self.voice,
                )  # fmt: skip
                analysis.speaker = "this file"
            else:
                analysis = analyze_file(
                    self.path, self.engine, progress, self.cancel, voice=self.voice
                )
        except Cancelled:
            self.out.put(WasCancelled(self.path))
        except files.AudioFileError as e:
            self.out.put(Failed(str(e)))
        except Exception as e:  # a bug or a model failure must not kill the app
            self.out.put(Failed(f"Could not analyse {self.path.name}: {e}"))
        else:
            self.out.put(Done(analysis))

    def stop(self) -> None:
        self.cancel.set()
        if self.is_alive():
            self.join()


def spectrogram_only(
    path: Path,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
    settings: FeatureSettings | None = None,
) -> Analysis:
    """The display spectrogram of a file without a model: an :class:`Analysis` with no windows."""
    s = settings or FeatureSettings()
    meta = files.info(path)
    stream = FrameStream(Pipeline(s))
    columns = Columns(s, meta.duration)
    for block in progress_blocks(path, s.sample_rate, meta.duration, progress, cancel):
        columns.add(stream.push(block)[0])
    return Analysis(
        labels=(),
        duration=meta.duration,
        window_seconds=0.0,
        hop_seconds=0.0,
        ends=np.zeros(0),
        speech=np.zeros(0, bool),
        probabilities=np.zeros((0, 0), np.float32),
        attention=np.zeros((0, 0), np.float32),
        spectrogram=columns.spectrogram(),
        spectrogram_rate=columns.rate,
        path=path,
    )
