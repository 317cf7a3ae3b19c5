"""Opening recordings in the inspector: each is analysed on a thread of its own while the panel
shows progress, and can be cancelled; the recent files are remembered. Every thread started is
stopped and joined on close, none is ever waited for before."""

from __future__ import annotations

import os
import queue
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QTabWidget

from app.audio import files
from app.engine import Engine
from app.ui.controllers.playback import Playback
from app.ui.controllers.prompts import Prompts
from app.ui.controllers.voices import Voices
from app.ui.views.inspector_panel import InspectorPanel
from app.worker import AnalysisJob, Done, Failed, Progress, WasCancelled

RECENT_MAX = 8


class Inspection:
    def __init__(
        self,
        engine: Engine | None,
        settings: QSettings,
        panel: InspectorPanel,
        tabs: QTabWidget,
        open_action: QAction,
        recent: QMenu,
        voices: Voices,
        playback: Playback,
        prompts: Prompts,
        title: Callable[[str], None],
    ) -> None:
        """``open_action`` asks for a file, ``recent`` lists the recent ones, ``title`` names
        the window after the recording shown; ``voices`` has the adaptation time for a file
        adapted to its speaker."""
        self.engine = engine
        self.settings = settings
        self.panel = panel
        self.tabs = tabs
        self.recent = recent
        self.voices = voices
        self.playback = playback
        self.prompts = prompts
        self.title = title
        self.job: AnalysisJob | None = None
        self.jobs: list[AnalysisJob] = []  # every job started, joined on close
        panel.adapt_box.setEnabled(voices.adaptive)
        panel.adapt_box.toggled.connect(self._adapt_changed)
        open_action.triggered.connect(self.choose)
        panel.cancel_button.clicked.connect(self.cancel)

    def restore(self) -> None:
        self.panel.adapt_box.setChecked(
            self.voices.adaptive and bool(self.settings.value("adapt_files", False, type=bool))
        )
        self._list_recent()

    def choose(self) -> None:
        path = self.prompts.open_audio("Open a recording")
        if path is not None:
            self.open(path)

    def open(self, path: str | os.PathLike[str]) -> None:
        """Analyse a recording on a worker thread; the inspector shows progress, then the result."""
        path = Path(path)
        self.cancel()
        self.playback.stop()
        self.tabs.setCurrentWidget(self.panel)
        adapting = self.panel.adapt_box.isChecked()
        self.job = AnalysisJob(
            path,
            self.engine,
            queue.Queue(),
            self.voices.adapt_seconds if adapting else None,
            self.voices.personal,
        )
        self.jobs = [j for j in self.jobs if j.is_alive()] + [self.job]
        self.job.start()
        self.panel.begin(path.name)
        self.settings.setValue("last_dir", str(path.parent))
        self.prompts.say(f"Analysing {path.name}…")

    def open_many(self, paths: Sequence[str | os.PathLike[str]]) -> None:
        """Several recordings (the command line, a drop): every one that cannot be opened is
        named in one message (one at a time, each hid the last), the readable ones go to the
        recent files and the last of them is shown."""
        good, bad = [], []
        for path in map(Path, paths):
            try:
                files.info(path)
                good.append(path)
            except files.AudioFileError as e:
                bad.append(str(e))  # each names its file
        if bad:
            self.prompts.error(f"Cannot open {len(bad)} of {len(paths)} recordings", "\n".join(bad))
        for path in good[:-1]:
            self.remember(path)
        if good:
            self.open(good[-1])

    def cancel(self) -> None:
        """Ask the running analysis to stop; it finishes on its own thread (never waited for)."""
        if self.job is not None:
            self.job.cancel.set()

    def stop(self) -> None:
        """On close: stop every analysis and join its thread."""
        for job in self.jobs:
            job.stop()
        self.jobs, self.job = [], None

    def drain(self) -> None:
        """Each frame: the running analysis's progress, then its result."""
        job = self.job
        if job is None:
            return
        while True:
            try:
                item = job.out.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, Progress):
                self.panel.set_progress(item.fraction)
                continue
            self.job = None
            if isinstance(item, Done):
                self.remember(job.path)  # only what opened: a bad path is no recent file
                self.panel.show_analysis(item.analysis)
                self.title(job.path.name)
                self.prompts.say(f"Analysed {job.path.name}")
            elif isinstance(item, Failed):
                self.panel.show_failure(job.path.name, "could not be analysed")
                self.prompts.error(f"Cannot open {job.path.name}", item.message)
            elif isinstance(item, WasCancelled):
                self.panel.show_failure(job.path.name, "analysis cancelled")
                self.prompts.say("Analysis cancelled")
            return

    def _adapt_changed(self, on: bool) -> None:
        self.settings.setValue("adapt_files", on)
        a = self.panel.analysis
        if a is not None and a.path is not None and self.job is None:
            self.open(a.path)  # the same recording, analysed the new way

    def remember(self, path: Path) -> None:
        full = os.path.realpath(path)  # never raises, not even on a link loop
        recent = [full] + [p for p in self.recent_files() if p != full]
        self.settings.setValue("recent", recent[:RECENT_MAX])
        self._list_recent()

    def recent_files(self) -> list[str]:
        return [str(p) for p in cast(list, self.settings.value("recent", [], type=list))]

    def _list_recent(self) -> None:
        self.recent.clear()
        for name in self.recent_files():
            action = self.recent.addAction(name)
            action.triggered.connect(lambda checked=False, n=name: self.open(n))
        self.recent.setEnabled(bool(self.recent_files()))
