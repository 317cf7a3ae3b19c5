"""What tests and benchmarks do to the window, in the words they use: start listening, open a
file, export, read the last error. Each hands over to the controller whose job it is, so the
window itself only composes and wires."""

from __future__ import annotations

import os
from pathlib import Path

from app.adapt import Moments
from app.analyzer import LiveResult
from app.audio.sources import Player, Source
from app.ui.main_window import MainWindow
from app.worker import AnalysisJob, LiveWorker


class Driver:
    def __init__(self, window: MainWindow) -> None:
        self.window = window

    # ---- the live session ----

    @property
    def worker(self) -> LiveWorker | None:
        return self.window.listening.worker

    @property
    def session(self) -> list[LiveResult]:
        """This live session's results, for export."""
        return self.window.listening.results

    def start_live(self, source: Source | None = None) -> bool:
        return self.window.listening.start(source)

    def stop_live(self) -> None:
        self.window.listening.stop()

    def start_file_input(self, path: Path, speed: float = 1.0) -> bool:
        return self.window.listening.start_file(path, speed)

    @property
    def recording(self) -> Path | None:
        return self.window.recorder.path

    def start_recording(self, path: Path | None = None) -> bool:
        return self.window.recorder.start(path)

    # ---- adapting to the speaker ----

    @property
    def adaptive(self) -> bool:
        return self.window.voices.adaptive

    @property
    def voice(self) -> Moments | None:
        return self.window.voices.voice

    @property
    def start_voice(self) -> tuple[str, Moments] | None:
        return self.window.voices.start_voice

    @property
    def voices_dir(self) -> Path:
        return self.window.voices.folder

    @voices_dir.setter
    def voices_dir(self, folder: Path) -> None:
        self.window.voices.folder = folder

    def set_adapt_seconds(self, seconds: float) -> None:
        self.window.voices.set_adapt_seconds(seconds)

    def new_speaker(self) -> None:
        self.window.voices.new_speaker()

    def save_voice(self, name: str | None = None) -> Path | None:
        return self.window.voices.save(name)

    def use_voice(self, path: Path) -> bool:
        return self.window.voices.use(path)

    # ---- the inspector, playback, saving, messages ----

    @property
    def job(self) -> AnalysisJob | None:
        return self.window.inspection.job

    def open_file(self, path: str | os.PathLike[str]) -> None:
        self.window.inspection.open(path)

    def open_files(self, paths: list[str | os.PathLike[str]]) -> None:
        self.window.inspection.open_many(paths)

    def recent_files(self) -> list[str]:
        return self.window.inspection.recent_files()

    @property
    def player(self) -> Player | None:
        return self.window.playback.player

    def export_timeline(self, path: Path | None = None) -> Path | None:
        return self.window.saving.timeline(path)

    def save_screenshot(self, path: Path | None = None) -> Path | None:
        return self.window.saving.screenshot(path)

    @property
    def last_error(self) -> str:
        return self.window.prompts.last_error

    @last_error.setter
    def last_error(self, text: str) -> None:
        self.window.prompts.last_error = text

    def may_replace(self, path: Path) -> bool:
        return self.window.prompts.may_replace(path)
