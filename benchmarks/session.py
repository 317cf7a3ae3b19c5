"""A live session measured from outside: the app's own source, worker and (when it exists) main
window, with a ring buffer that notes when each write landed, so a result's latency is timed
from the moment its window's last sample arrived.

Latency is timed to the moment the result was emitted and, with the window, to the end of the
first repaint after the GUI applied it. The app's own ``LiveResult.latency`` is kept beside it:
it counts from the newest sample read, so it can only be shorter.
"""

from __future__ import annotations

import math
import os
import queue
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.analyzer import LiveAnalyzer, Update
from app.audio.ringbuffer import RingBuffer
from app.audio.sources import FileSource
from app.engine import Engine
from app.worker import Failed, LiveWorker, Tick
from benchmarks import material, proc

LOG_WRITES = 8192  # arrival times kept: over a minute of 10 ms writes


class TimedRing(RingBuffer):
    """The source's ring buffer, noting when each write landed (preallocated: no drift)."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._written = np.zeros(LOG_WRITES, np.int64)
        self._times = np.zeros(LOG_WRITES, np.float64)
        self.writes = 0

    def write(self, block: Any) -> None:
        super().write(block)
        i = self.writes % LOG_WRITES
        self._written[i] = self.written
        self._times[i] = time.monotonic()
        self.writes += 1

    def arrival(self, sample: int) -> float:
        """When the ring first held ``sample`` samples; NaN if that is no longer logged."""
        k = self.writes
        order = np.arange(max(0, k - LOG_WRITES), k) % LOG_WRITES
        written = self._written[order]
        j = int(np.searchsorted(written, sample))
        if j >= len(written) or (j == 0 and k > LOG_WRITES):
            return math.nan
        return float(self._times[order[j]])


@dataclass
class LiveRun:
    """What one live session measured; per-interval lists give the spread over time."""

    seconds: float
    hop: float
    interval: float
    latency_ms: array = field(default_factory=lambda: array("d"))
    app_latency_ms: array = field(default_factory=lambda: array("d"))
    paint_ms: array = field(default_factory=lambda: array("d"))
    apply_ms: array = field(default_factory=lambda: array("d"))  # GUI: drawing a frame's ticks
    repaint_ms: array = field(default_factory=lambda: array("d"))  # GUI: painting the window
    results_per_s: list[float] = field(default_factory=list)
    cpu_percent: list[float] = field(default_factory=list)
    push_cpu_percent: list[float] = field(default_factory=list)
    main_cpu_percent: list[float] = field(default_factory=list)  # the GUI / draining thread
    ticks_per_s: list[float] = field(default_factory=list)
    paints_per_s: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    rss_before: float = 0.0
    peak_rss: float = 0.0
    dropped: int = 0
    writes: int = 0
    results: int = 0
    first_result: float = 0.0  # time.monotonic() of the first result emitted
    first_painted: float = 0.0  # ... and of the end of its first repaint (GUI only)
    failure: str = ""


class Recorder:
    """Books every result and, every ``interval`` seconds, CPU, memory and rates."""

    def __init__(self, run: LiveRun, ring: TimedRing, rate: int) -> None:
        self.run = run
        self.ring = ring
        self.rate = rate
        self.push_cpu = 0.0  # thread CPU seconds spent in LiveAnalyzer.push
        self.paints = 0
        self.unpainted: list[float] = []  # arrival times of results applied, not yet painted
        self.ticks = 0
        self._last = self._mark()

    def _mark(self) -> _Mark:
        return _Mark(
            time.monotonic(),
            proc.cpu_seconds(),
            time.thread_time(),
            self.run.results,
            self.push_cpu,
            self.paints,
            self.ticks,
        )

    def watch(self, analyzer: LiveAnalyzer) -> None:
        """Count the worker thread's own CPU time inside ``analyzer.push``."""
        push = analyzer.push

        def timed_push(chunk: Any, arrival: float | None = None) -> Update:
            start = time.thread_time()
            try:
                return push(chunk, arrival)
            finally:
                self.push_cpu += time.thread_time() - start

        analyzer.push = timed_push  # type: ignore[method-assign]

    def tick(self, tick: Tick) -> list[float]:
        """Book a tick's results; return their windows' arrival times."""
        self.ticks += 1
        arrivals = []
        for r in tick.update.results:
            emitted = tick.arrival + r.latency
            arrived = self.ring.arrival(math.ceil(r.time * self.rate - 1e-6))
            self.run.latency_ms.append((emitted - arrived) * 1000)
            self.run.app_latency_ms.append(r.latency * 1000)
            self.run.results += 1
            arrivals.append(arrived)
            self.run.first_result = self.run.first_result or emitted
        self.run.dropped = tick.dropped
        return arrivals

    def painted(self, when: float) -> None:
        if self.unpainted:
            self.run.first_painted = self.run.first_painted or when
        for arrived in self.unpainted:
            self.run.paint_ms.append((when - arrived) * 1000)
        self.unpainted = []

    def sample(self, force: bool = False) -> None:
        """Close an interval (call it from the GUI or draining thread, whose CPU it books)."""
        now, last, run = self._mark(), self._last, self.run
        if not force and now.time - last.time < run.interval:
            return
        dt = max(now.time - last.time, 1e-9)
        run.cpu_percent.append((now.cpu - last.cpu) / dt * 100)
        run.main_cpu_percent.append((now.main_cpu - last.main_cpu) / dt * 100)
        run.push_cpu_percent.append((now.push - last.push) / dt * 100)
        if last.results:  # the rate counts only once results flow (the first window takes 3 s)
            run.results_per_s.append((now.results - last.results) / dt)
        run.paints_per_s.append((now.paints - last.paints) / dt)
        run.ticks_per_s.append((now.ticks - last.ticks) / dt)
        run.rss_mb.append(proc.rss_mb())
        self._last = now


@dataclass(frozen=True)
class _Mark:
    """Counters at the start of a sampling interval."""

    time: float
    cpu: float
    main_cpu: float
    results: int
    push: float
    paints: int
    ticks: int


def _source(path: Path) -> FileSource:
    source = FileSource(path)
    source.ring = TimedRing(source.ring.capacity)
    return source


def sampling_interval(seconds: float) -> float:
    """About a dozen samples of CPU, memory and rates per session, at most 5 s apart."""
    return min(5.0, max(0.5, seconds / 12))


def run_headless(path: Path, seconds: float, interval: float = 5.0) -> LiveRun:
    """The live worker on a file source for ``seconds``; results drained as the GUI would."""
    b = material.load_bundle()
    engine = Engine(b)
    source = _source(path)
    analyzer = LiveAnalyzer(engine, source.sample_rate)
    out: queue.Queue[object] = queue.Queue()
    worker = LiveWorker(source, analyzer, out)
    run = LiveRun(seconds, b.hop_seconds, interval, rss_before=proc.rss_mb())
    rec = Recorder(run, source.ring, source.sample_rate)  # type: ignore[arg-type]
    rec.watch(analyzer)
    worker.start()
    end = time.monotonic() + seconds
    try:
        while (now := time.monotonic()) < end:
            try:
                item = out.get(timeout=min(0.1, end - now))
            except queue.Empty:
                item = None
            if isinstance(item, Tick):
                rec.tick(item)
            elif isinstance(item, Failed):
                run.failure = item.message
                break
            rec.sample()
    finally:
        worker.stop()
    rec.sample(force=True)
    run.writes = source.ring.writes  # type: ignore[attr-defined]
    run.peak_rss = proc.peak_rss_mb()
    return run


def ui_available() -> bool:
    try:
        from app.ui.main_window import MainWindow  # noqa: F401
    except ImportError:
        return False
    return True


def run_gui(path: Path, seconds: float, interval: float = 5.0, first_only: bool = False) -> LiveRun:
    """The real main window (offscreen Qt) playing ``path`` as live input for ``seconds``.

    A result counts as painted when the first repaint of the window that began after the GUI
    applied it has finished (Qt paints a window in one pass when it handles UpdateRequest).
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEvent, QEventLoop, QObject, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.ui import main_window, theme
    from app.ui.driver import Driver

    app = QApplication.instance() or QApplication(["emotion-meter-benchmark"])
    theme.apply(app)  # type: ignore[arg-type]
    engine, problem = main_window.load_engine(None)
    if engine is None:
        raise RuntimeError(problem)
    settings = QSettings(str(material.scratch() / "gui-settings.ini"), QSettings.Format.IniFormat)
    window = main_window.MainWindow(engine, None, settings)
    driver = Driver(window)
    window.show()
    source = _source(path)
    run = LiveRun(seconds, engine.bundle.hop_seconds, interval, rss_before=proc.rss_mb())
    rec = Recorder(run, source.ring, source.sample_rate)  # type: ignore[arg-type]
    loop = QEventLoop()
    apply: Callable[[list[Tick]], None] = window.live.apply

    def applied(ticks: list[Tick]) -> None:
        start = time.perf_counter()
        apply(ticks)
        run.apply_ms.append((time.perf_counter() - start) * 1000)
        for t in ticks:
            rec.unpainted += rec.tick(t)

    window.live.apply = applied  # type: ignore[method-assign]
    spectrogram = window.live.strips

    class PaintWatcher(QObject):
        """Times each repaint of the window, and which results it put on screen."""

        def __init__(self) -> None:
            super().__init__()
            self.pending: list[float] = []
            self.paints_before = 0
            self.started = 0.0
            self.outstanding = 0  # repaints begun whose end has not been seen yet

        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            kind = event.type()
            if kind == QEvent.Type.Paint and obj is spectrogram:
                rec.paints += 1
            elif kind == QEvent.Type.UpdateRequest and obj is window:
                self.pending, rec.unpainted = self.pending + rec.unpainted, []
                if not self.outstanding:  # the first of a burst of repaints
                    self.paints_before = rec.paints
                    self.started = time.perf_counter()
                self.outstanding += 1
                QTimer.singleShot(0, self.synced)  # runs once this repaint has finished
            return False

        def synced(self) -> None:
            self.outstanding -= 1
            if self.outstanding or rec.paints == self.paints_before:
                return  # nothing painted in that pass: the results wait for the next one
            run.repaint_ms.append((time.perf_counter() - self.started) * 1000)
            later, rec.unpainted, self.pending = rec.unpainted, self.pending, []
            rec.painted(time.monotonic())  # the results applied before this repaint began
            rec.unpainted = later
            if first_only and run.first_painted:
                loop.quit()

    watcher = PaintWatcher()
    window.installEventFilter(watcher)
    spectrogram.installEventFilter(watcher)
    sampler = QTimer()
    sampler.timeout.connect(rec.sample)
    sampler.start(int(interval * 1000))
    if not driver.start_live(source):
        raise RuntimeError(f"the main window did not start live input: {driver.last_error}")
    rec.watch(driver.worker.analyzer)  # type: ignore[union-attr]
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    sampler.stop()
    rec.sample(force=True)
    run.writes = source.ring.writes  # type: ignore[attr-defined]
    window.close()
    window.removeEventFilter(watcher)
    spectrogram.removeEventFilter(watcher)
    window.deleteLater()
    run.peak_rss = proc.peak_rss_mb()
    if driver.last_error:
        run.failure = driver.last_error
    return run
