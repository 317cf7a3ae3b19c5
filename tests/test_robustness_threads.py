"""Long sessions: many start/stop cycles of the live worker and open/close cycles of the window
leave no thread, stream or file handle behind."""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import threading
from pathlib import Path
from typing import cast

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from app.analyzer import LiveAnalyzer
from app.audio.sources import FileSource
from app.engine import Engine
from app.ui import theme
from app.ui.driver import Driver
from app.ui.main_window import MainWindow
from app.worker import LiveWorker, Tick
from tests.data import datasets
from tests.robustness import Report, report_fixture  # noqa: F401  (the fixture)

CLIP = ("ravdess", "Actor_01", "03-01-05-02-01-01-01.flac")
WORKER_CYCLES = 100
WINDOW_CYCLES = 20


def open_files() -> dict[str, str]:
    """This process's open file descriptors and what they point at."""
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed already
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
    return fds


def threads() -> set[threading.Thread]:
    return set(threading.enumerate())


def test_worker_start_stop_cycles_leave_nothing_behind(engine: Engine, report: Report) -> None:
    clip = datasets().joinpath(*CLIP)
    analyzer = LiveAnalyzer(engine, FileSource(clip).sample_rate)
    gc.collect()
    before_threads, before_fds = threads(), open_files()
    ticks = 0
    for i in range(WORKER_CYCLES):
        source = FileSource(clip, speed=50.0)
        out: queue.Queue[object] = queue.Queue()
        worker = LiveWorker(source, analyzer, out, interval=0.005)
        worker.start()
        if i % 10 == 0:  # now and then long enough to analyse something
            source.finished.wait(5)
        worker.stop()
        assert not worker.is_alive() and not source.running
        while not out.empty():
            ticks += isinstance(out.get_nowait(), Tick)
    gc.collect()
    left = threads() - before_threads
    assert not left, left
    extra = {fd: what for fd, what in open_files().items() if before_fds.get(fd) != what}
    assert not extra, extra
    assert ticks > 0
    report("Threads", f"{WORKER_CYCLES} start/stop cycles of the live worker on a FileSource",
           f"no thread left (threading.enumerate()), no new file descriptor (/proc/self/fd); "
           f"{ticks} updates analysed along the way")  # fmt: skip


def test_window_open_close_cycles_leave_nothing_behind(
    qtbot, tmp_path: Path, engine: Engine, report: Report
) -> None:
    theme.apply(cast(QApplication, QApplication.instance()))
    clip = datasets().joinpath(*CLIP)
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)

    def cycle(i: int) -> None:
        window = MainWindow(engine, None, settings)
        driver = Driver(window)
        window.show()
        if i % 2 == 0:  # a live session from a file and an analysis, both cut short by close
            assert driver.start_file_input(clip, speed=20.0)
            driver.open_file(clip)
            qtbot.wait(50)
        window.close()
        window.deleteLater()
        qtbot.wait(10)

    cycle(0)  # Qt opens its fonts and plugins once
    gc.collect()
    before_threads, before_fds = threads(), open_files()
    for i in range(WINDOW_CYCLES):
        cycle(i)
    gc.collect()

    def extra() -> dict[str, str]:
        return {fd: what for fd, what in open_files().items() if before_fds.get(fd) != what}

    # Qt's own worker threads (not Python's) may hold an eventfd for a moment after a close
    qtbot.waitUntil(lambda: not extra(), timeout=5_000)
    left = threads() - before_threads
    assert not left, left
    report("Threads", f"{WINDOW_CYCLES} open/close cycles of the main window (half of them "
           "closed mid live session and mid analysis)",
           "no thread left, no new file descriptor")  # fmt: skip
