"""Talking to the user: notes in the status bar, error boxes that never block, and file dialogs
that start in the last folder used and never replace a file without asking."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, Qt
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.oga *.mp3 *.aif *.aiff *.au);;All files (*)"


class Prompts:
    def __init__(self, window: QMainWindow, settings: QSettings) -> None:
        self.window = window  # the parent of every dialog
        self.settings = settings
        self.last_error = ""
        self._box: QMessageBox | None = None

    def say(self, text: str, milliseconds: int = 8000) -> None:
        self.window.statusBar().showMessage(text, milliseconds)

    def error(self, title: str, text: str) -> None:
        """A clear, non-blocking message; the app carries on."""
        self.last_error = text
        self.say(f"{title}: {text.splitlines()[0]}", 15000)
        if self._box is not None:
            self._box.close()
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self.window
        )
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()
        self._box = box

    def folder(self) -> Path:
        """Where file dialogs start: the last folder used, else Documents."""
        last = self.settings.value("last_dir")
        return Path(
            str(last)
            if last
            else QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        )

    def open_audio(self, title: str) -> Path | None:
        """An audio file the user picks, or None if they cancel."""
        chosen, _ = QFileDialog.getOpenFileName(
            self.window, title, str(self.folder()), AUDIO_FILTER
        )
        return Path(chosen) if chosen else None

    def save_path(self, path: Path | None, title: str, name: str, filters: str) -> Path | None:
        """``path`` if it is free or may be replaced, else (without one) where the user chooses
        to save ``name``; None if they decline."""
        if path is None:
            return self._ask_save(title, name, filters)
        return path if self.may_replace(path) else None

    def _ask_save(self, title: str, name: str, filters: str) -> Path | None:
        chosen, selected = QFileDialog.getSaveFileName(
            self.window, title, str(self.folder() / name), filters
        )
        if not chosen:
            return None
        path = Path(chosen)
        if not path.suffix and "*." in selected:  # the dialog may not add the filter's suffix
            path = path.with_suffix(selected.split("*", 1)[1].split(")")[0].split()[0])
            if not self.may_replace(path):  # the dialog only asked about the name as typed
                return None
        self.settings.setValue("last_dir", str(path.parent))
        return path

    def may_replace(self, path: Path) -> bool:
        """True if ``path`` is free, or the user agrees to replace it: nothing is overwritten
        without asking."""
        if not path.exists():
            return True
        answer = QMessageBox.question(
            self.window,
            "Replace file?",
            f"{path.name} already exists in {path.parent}. Replace it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes
