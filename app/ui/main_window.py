"""The main window: the live meter and the recording inspector as two tabs, with the actions,
toolbar, menus and status bar around them. It only composes and wires: each job is a controller's
(listening, inspection, playback, recording, voices, saving); tests and benchmarks drive it
through :class:`app.ui.driver.Driver`.

It stops every thread and stream on close. Worker results arrive through queues that one GUI
timer drains about 60 times a second, so no other thread ever touches a widget and the GUI thread
never waits on audio or the model.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox, QTabWidget

from app import bundle
from app.audio.sources import Source
from app.batch import cores
from app.engine import Engine
from app.features import FeatureSettings
from app.quality import Thresholds
from app.ui import about, theme
from app.ui.controllers.inspection import Inspection
from app.ui.controllers.listening import Listening
from app.ui.controllers.playback import Playback
from app.ui.controllers.prompts import Prompts
from app.ui.controllers.recorder import Recorder
from app.ui.controllers.saving import Saving
from app.ui.controllers.voices import Voices
from app.ui.views.inspector_panel import InspectorPanel
from app.ui.views.live_panel import LivePanel
from app.ui.views.teach_dialog import TeachDialog
from app.ui.views.toolbar import Toolbar

APP_NAME = "Emotion Meter"
ORGANIZATION = "EmotionMeter"
FRAME_MS = 16  # ~60 Hz: drain the queues, redraw, move the play cursor
LANES = min(2, cores())  # the live meter and a file's analysis run side by side
LIVE_TAB, INSPECTOR_TAB = 0, 1
# closed like the close button (threads stopped, settings saved) when the session ends or on
# Ctrl+C; Python runs the handler at its next call, which the frame timer makes every 16 ms
QUIT_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class MainWindow(QMainWindow):
    def __init__(
        self,
        engine: Engine | None,
        model_problem: str | None = None,
        settings: QSettings | None = None,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.settings = settings if settings is not None else QSettings(ORGANIZATION, APP_NAME)
        b = engine.bundle if engine else None
        features = b.features if b else FeatureSettings()
        self.labels: tuple[str, ...] = b.labels if b else ()
        self.live = LivePanel(features, self.labels, b.window_seconds if b else 3.0,
                              b.quality if b else Thresholds())  # fmt: skip
        self.inspector = InspectorPanel(features, has_model=b is not None)
        self.inspector.set_labels(self.labels)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.live, "Live")
        self.tabs.addTab(self.inspector, "Recording")
        self.setCentralWidget(self.tabs)
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.voice_label = self.live.voice_label

        self._build_actions()
        self._build_toolbar()
        self._build_menus()
        self._build_controllers()
        self._build_status()
        self.live.add_voice_actions([self.adapt_action, self.new_speaker_action])
        self._restore()
        self.listening.refresh_devices(rescan=False)
        self.timer = QTimer(self)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self._frame)
        self.timer.start()
        if model_problem:
            self.live.bars.show_message("No model", "Live analysis needs an emotion model.")
            self.prompts.error(
                "No emotion model",
                f"{model_problem}\n\nLive analysis is off; the inspector still shows spectrograms.",
            )
        else:
            self.live.bars.show_message("Ready", "Press Space or Start to listen.")

    # ---- construction ----

    def _action(
        self, text: str, shortcut: str | None = None, tip: str = "", checkable: bool = False
    ) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{tip or text} ({shortcut})" if shortcut else tip or text)
        action.setCheckable(checkable)
        self.addAction(action)  # shortcuts work whichever widget has the focus
        return action

    def _build_actions(self) -> None:
        self.start_action = self._action(
            "▶ Start", tip="Start or stop listening (Space on the Live tab)"
        )
        # Space acts on the tab in front: listen on Live, play in the inspector
        self.space_action = self._action("Start/stop", "Space")
        self.space_action.triggered.connect(self.toggle)
        self.record_action = self._action(
            "● Record", "Ctrl+R", "Record the input and its results", checkable=True
        )
        self.open_action = self._action("Open…", "Ctrl+O", "Open a recording")
        self.export_action = self._action("Export…", "Ctrl+E", "Export the timeline as CSV or JSON")
        self.screenshot_action = self._action(
            "Screenshot…", "Ctrl+Shift+S", "Save a PNG of the window"
        )
        self.file_input_action = self._action(
            "Play a file as live input…", tip="Feed a recording to the meter"
        )
        self.refresh_action = self._action(
            "Look for devices again", tip="Look for input devices again"
        )
        self.refresh_action.setIconText("⟳")
        self.quit_action = self._action("Quit", "Ctrl+Q")
        self.quit_action.triggered.connect(self.close)
        self.adapt_action = self._action(
            "Adapt to voice",
            tip="Learn the speaker's own voice as they talk and judge emotion against it",
            checkable=True,
        )
        self.new_speaker_action = self._action(
            "New speaker", "Ctrl+Shift+N", "Forget the voice learnt so far"
        )
        self.save_voice_action = self._action(
            "Save voice…", tip="Keep the voice learnt so far as a named profile"
        )
        self.adapt_time_action = self._action(
            "Adaptation time…", tip="Seconds of speech after which the voice learnt counts half"
        )
        self.teach_action = self._action(
            "Teach it my voice…", tip="Act each emotion a few times so it learns how you sound"
        )
        self.teach_action.triggered.connect(self.teach_voice)
        self.announce_action = self._action(
            "Announce the leading emotion",
            tip="Screen readers say the leading emotion when it changes",
            checkable=True,
        )
        self.announce_action.toggled.connect(self._announce)
        self.announce_action.setChecked(bool(self.settings.value("announce", False, type=bool)))
        self.about_action = self._action("About the model")
        self.about_action.triggered.connect(self.about_model)

    def _build_toolbar(self) -> None:
        bar = Toolbar([self.refresh_action, self.start_action, self.record_action],
                      [self.open_action, self.export_action, self.screenshot_action])  # fmt: skip
        self.addToolBar(bar)
        self.device_combo, self.hop_spin, self.smoothing_spin = bar.devices, bar.hop, bar.smoothing

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.open_action)
        self.recent_menu = menu.addMenu("Recent")
        menu.addActions([self.export_action, self.screenshot_action])
        menu.addSeparator()
        menu.addAction(self.quit_action)
        menu = self.menuBar().addMenu("&Live")
        menu.addActions(
            [self.start_action, self.record_action, self.file_input_action, self.refresh_action]
        )
        menu.addSeparator()
        menu.addAction(self.announce_action)
        menu = self.menuBar().addMenu("&Voice")
        menu.addActions([self.adapt_action, self.new_speaker_action, self.save_voice_action,
                         self.adapt_time_action])  # fmt: skip
        self.voices_menu = menu.addMenu("Use a saved voice")
        menu.addSeparator()
        menu.addAction(self.teach_action)
        menu = self.menuBar().addMenu("&Help")
        menu.addAction(self.about_action)

    def _build_controllers(self) -> None:
        """Each job's controller, handed the widgets and actions it drives (and connects)."""
        self.prompts = Prompts(self, self.settings)
        self.voices = Voices(
            self.engine, self.settings, self.voice_label, self.voices_menu, self.prompts,
            lambda: self.listening.worker, adapt=self.adapt_action,
            new_speaker=self.new_speaker_action, save=self.save_voice_action,
            adapt_time=self.adapt_time_action,
        )  # fmt: skip
        self.recorder = Recorder(self.record_action, self.live, self.hop_spin, self.prompts,
                                 lambda: self.listening.worker)  # fmt: skip
        self.listening = Listening(
            self.engine, self.settings, self.live, self.tabs, self.voices, self.recorder,
            self.prompts, devices=self.device_combo, hop=self.hop_spin,
            smoothing=self.smoothing_spin, start=self.start_action,
            file_input=self.file_input_action, refresh=self.refresh_action,
        )  # fmt: skip
        self.playback = Playback(self.inspector, self.prompts)
        self.inspection = Inspection(
            self.engine, self.settings, self.inspector, self.tabs, self.open_action,
            self.recent_menu, self.voices, self.playback, self.prompts,
            lambda name: self.setWindowTitle(f"{name} — {APP_NAME}"),
        )  # fmt: skip
        self.saving = Saving(
            self, self.tabs, self.inspector, self.listening, self.prompts,
            export_action=self.export_action, screenshot_action=self.screenshot_action,
        )  # fmt: skip

    def _build_status(self) -> None:
        readouts = self.listening.readouts
        self.device_label, self.rate_label, self.latency_label, self.dropped_label = readouts
        for label in readouts:
            self.statusBar().addPermanentWidget(label)

    def _restore(self) -> None:
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 780)
        self.listening.restore()
        self.voices.restore()
        self.inspection.restore()

    # ---- what the window does itself ----

    def toggle(self) -> None:
        """Space: start/stop listening, or play/stop in the inspector."""
        if self.tabs.currentIndex() == INSPECTOR_TAB:
            self.playback.toggle()
        else:
            self.listening.toggle()

    def _announce(self, on: bool) -> None:
        self.live.announcer.enabled = on
        self.settings.setValue("announce", on)

    def about_model(self) -> None:
        if self.engine is None:
            self.prompts.error("No emotion model", "No model is loaded.")
            return
        QMessageBox.information(self, "About the model", self.about_text())

    def about_text(self) -> str:
        """What the loaded model is, what it is built on and under which licence."""
        assert self.engine is not None
        return about.text(self.engine.bundle)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.inspection.open_many(list(paths))

    def _frame(self) -> None:
        """About 60 times a second: what the threads produced reaches the widgets."""
        self.listening.drain()
        self.inspection.drain()
        self.playback.follow()
        self.listening.end_if_over()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.stop()
        self.listening.stop()
        self.playback.stop()
        self.inspection.stop()
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.sync()
        event.accept()

    def teach_voice(self) -> TeachDialog | None:
        """Open the wizard that teaches it the user's voice through the live input."""
        if self.engine is None or not self.voices.teachable:
            self.prompts.error(
                "Cannot teach this model", "Teaching a voice needs an encoder model."
            )
            return None

        def listen() -> Source | None:
            if self.listening.worker is None and not self.listening.start():
                return None
            return self.listening.source

        dialog = TeachDialog(self.engine, listen, self.voices.keep_taught, self)
        dialog.show()
        return dialog


def load_engine(model: Path | None) -> tuple[Engine | None, str | None]:
    """The model, or why there is none (the app still runs: the inspector shows spectrograms)."""
    try:
        return Engine(bundle.load(model), lanes=LANES), None
    except bundle.BundleError as e:
        return None, str(e)
    except ImportError as e:
        return None, f"The model runtime (LiteRT) is not installed: {e}"


def run(files: list[Path], model: Path | None = None) -> int:
    """The GUI entry point: open ``files`` in the inspector (the last one shown)."""
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else APP_NAME])
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORGANIZATION)
    app.setDesktopFileName("emotion-meter")  # Wayland matches the window to its menu entry
    app.setWindowIcon(QIcon(str(bundle.assets_dir() / "icons" / "emotion-meter.svg")))
    theme.apply(app)
    engine, problem = load_engine(model)
    window = MainWindow(engine, problem)
    window.show()
    if files:
        window.inspection.open_many(list(files))
    previous = {
        sig: signal.signal(sig, lambda *_: QTimer.singleShot(0, window.close))
        for sig in QUIT_SIGNALS
    }
    try:
        return app.exec()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
