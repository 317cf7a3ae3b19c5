"""Recording the live session: the worker writes the input to a WAV file; once it is finished,
the results heard meanwhile are written beside it as JSON and CSV."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDoubleSpinBox

from app import export
from app.analyzer import LiveResult
from app.ui.controllers.prompts import Prompts
from app.ui.views.live_panel import LivePanel
from app.worker import LiveWorker, RecordingFailed, Saved


class Recorder:
    def __init__(
        self,
        action: QAction,
        panel: LivePanel,
        hop: QDoubleSpinBox,
        prompts: Prompts,
        worker: Callable[[], LiveWorker | None],
    ) -> None:
        """``action`` is the Record toggle, ``panel`` and ``hop`` describe the results written;
        ``worker`` is the running live analysis, if any."""
        self.action = action
        self.panel = panel
        self.hop = hop
        self.prompts = prompts
        self.worker = worker
        action.triggered.connect(self._toggled)
        self.path: Path | None = None  # the WAV being written
        self.results: list[LiveResult] = []  # heard since it began

    def _toggled(self, checked: bool) -> None:
        if checked:
            self.start()
        else:
            self.stop()

    def start(self, path: Path | None = None) -> bool:
        """Write the input to a WAV file, and its results beside it (JSON, CSV) when stopped."""
        worker = self.worker()
        if worker is None:
            self.action.setChecked(False)
            self.prompts.error("Not listening", "Start listening before recording.")
            return False
        name = f"emotion-meter-{time.strftime('%Y%m%d-%H%M%S')}.wav"
        path = self.prompts.save_path(path, "Record to", name, "WAV audio (*.wav)")
        if path is None:
            self.action.setChecked(False)
            return False
        self.path, self.results = path, []
        worker.record(path)
        self.action.setChecked(True)
        self.prompts.say(f"Recording to {path}")
        return True

    def stop(self) -> None:
        if self.path is None:
            return
        if (worker := self.worker()) is not None:
            worker.record(None)
        self.action.setChecked(False)

    def add(self, results: list[LiveResult]) -> None:
        if self.path is not None:
            self.results.extend(results)

    def saved(self, saved: Saved) -> None:
        """The worker finished the WAV: its results go beside it."""
        wav = saved.path
        document = export.live_document(
            self.results, self.panel.labels, self.panel.window_seconds, self.hop.value(), str(wav)
        )
        document["audio_starts_at"] = round(saved.start, 6)  # results' times are stream times
        self.path = None
        try:
            # the user chose (and agreed to replace) the WAV; its results belong with it
            export.save_timeline(wav.with_suffix(".json"), document, overwrite=True)
            export.save_timeline(wav.with_suffix(".csv"), document, overwrite=True)
        except OSError as e:
            self.prompts.error("Could not save the results", str(e))
            return
        self.prompts.say(f"Saved {wav.name} with its results (.json, .csv)")

    def failed(self, failure: RecordingFailed) -> None:
        self.path = None  # the session's results stay, for export
        self.action.setChecked(False)
        self.prompts.error("Recording stopped", failure.message)
