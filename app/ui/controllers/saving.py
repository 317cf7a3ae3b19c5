"""Saving what the window shows: the timeline of the tab in front as CSV or JSON, or the window
as a PNG; an existing file is replaced only when the user agrees, and a failure leaves none."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QTabWidget, QWidget

from app import export
from app.ui.controllers.listening import Listening
from app.ui.controllers.prompts import Prompts
from app.ui.views.inspector_panel import InspectorPanel


class Saving:
    def __init__(
        self,
        window: QWidget,
        tabs: QTabWidget,
        inspector: InspectorPanel,
        listening: Listening,
        prompts: Prompts,
        *,
        export_action: QAction,
        screenshot_action: QAction,
    ) -> None:
        """``window`` is what a screenshot shows; ``tabs`` says which timeline is in front."""
        self.window = window
        self.tabs = tabs
        self.inspector = inspector
        self.listening = listening
        self.prompts = prompts
        # QAction.triggered passes ``checked``: called bare, so it never lands in ``path``
        export_action.triggered.connect(lambda: self.timeline())
        screenshot_action.triggered.connect(lambda: self.screenshot())

    def timeline(self, path: Path | None = None) -> Path | None:
        """Ctrl+E: the inspector's or the live session's timeline as CSV or JSON."""
        if self.tabs.currentWidget() is self.inspector:
            a = self.inspector.analysis
            if a is None or not len(a.ends):
                self.prompts.say("Nothing to export: open a recording (with a model) first")
                return None
            document, name = a.to_dict(), (a.path.stem if a.path else "recording")
        else:
            if not self.listening.results:
                self.prompts.say("Nothing to export: no live results yet")
                return None
            document, name = self.listening.document(), "live-session"
        path = self.prompts.save_path(
            path, "Export timeline", f"{name}.csv", "CSV (*.csv);;JSON (*.json)"
        )
        if path is None:
            return None
        try:
            export.save_timeline(path, document, overwrite=True)
        except OSError as e:
            self.prompts.error("Export failed", str(e))
            return None
        self.prompts.say(f"Exported {path}")
        return path

    def screenshot(self, path: Path | None = None) -> Path | None:
        path = self.prompts.save_path(
            path, "Save screenshot", "emotion-meter.png", "PNG image (*.png)"
        )
        if path is None:
            return None
        png = QByteArray()
        buffer = QBuffer(png)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        encoded = self.window.grab().save(buffer, "PNG")
        buffer.close()
        try:
            if not encoded:
                raise export.ExportError("the picture could not be encoded as PNG.")
            export.write_atomic(path, bytes(png.data()), overwrite=True)
        except OSError as e:
            self.prompts.error("Screenshot failed", str(e))
            return None
        self.prompts.say(f"Saved {path}")
        return path
