"""The main window: the live meter and the recording inspector as two tabs, with the actions,
toolbar, menus and status bar around them. It only composes and wires: each job is a controller's
(listening, recording, voices), and its methods below hand over.

It stops every thread and stream on close. Worker results arrive through queues that one GUI
timer drains about 60 times a second, so no other thread ever touches a widget and the GUI thread
never waits on audio or the model.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
from pathlib import Path
from typing import cast

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSettings, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox, QTabWidget

from app import bundle
from app.adapt import Moments
from app.analyzer import LiveResult
from app.audio.files import AudioFileError
from app.audio.sources import Player, Source, SourceError
from app.engine import Engine
from app.features import FeatureSettings
from app.quality import Thresholds
from app.ui import about, export, theme
from app.ui.about import judging_text as judging_text  # the About box's words, kept importable
from app.ui.inspector import InspectorPanel
from app.ui.listening import Listening
from app.ui.live import LivePanel
from app.ui.prompts import Prompts
from app.ui.recorder import Recorder
from app.ui.toolbar import Toolbar
from app.ui.voices import Voices
from app.worker import AnalysisJob, Done, Failed, LiveWorker, Progress, WasCancelled

APP_NAME = "Emotion Meter"
ORGANIZATION = "EmotionMeter"
FRAME_MS = 16  # ~60 Hz: drain the queues, redraw, move the play cursor
RECENT_MAX = 8
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
        self.job: AnalysisJob | None = None
        self.jobs: list[AnalysisJob] = []  # every job started, joined on close
        self.player: Player | None = None

        self._build_actions()
        self._build_toolbar()
        self._build_menus()
        self._build_controllers()
        self._build_status()
        self.live.add_voice_actions([self.adapt_action, self.new_speaker_action])
        self.inspector.adapt_box.setEnabled(self.voices.adaptive)
        self.inspector.adapt_box.toggled.connect(self._inspector_adapt_changed)
        self.inspector.cancel_button.clicked.connect(self.cancel_analysis)
        self.inspector.play_button.clicked.connect(self.toggle_playback)
        self.inspector.selected.connect(self._moved_cursor)
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
        self.open_action.triggered.connect(self.choose_file)
        self.export_action = self._action("Export…", "Ctrl+E", "Export the timeline as CSV or JSON")
        self.export_action.triggered.connect(self.export_timeline)
        self.screenshot_action = self._action(
            "Screenshot…", "Ctrl+Shift+S", "Save a PNG of the window"
        )
        self.screenshot_action.triggered.connect(self.save_screenshot)
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
        menu = self.menuBar().addMenu("&Voice")
        menu.addActions([self.adapt_action, self.new_speaker_action, self.save_voice_action,
                         self.adapt_time_action])  # fmt: skip
        self.voices_menu = menu.addMenu("Use a saved voice")
        menu = self.menuBar().addMenu("&Help")
        menu.addAction(self.about_action)

    def _build_controllers(self) -> None:
        """Each job's controller, handed the widgets and actions it drives (and connects)."""
        self.prompts = Prompts(self, self.settings)
        self.voices = Voices(
            self.engine, self.settings, self.voice_label, self.voices_menu, self.prompts,
            lambda: self.worker, adapt=self.adapt_action, new_speaker=self.new_speaker_action,
            save=self.save_voice_action, adapt_time=self.adapt_time_action,
        )  # fmt: skip
        self.recorder = Recorder(
            self.record_action, self.live, self.hop_spin, self.prompts, lambda: self.worker
        )
        self.listening = Listening(
            self.engine, self.settings, self.live, self.tabs, self.voices, self.recorder,
            self.prompts, devices=self.device_combo, hop=self.hop_spin,
            smoothing=self.smoothing_spin, start=self.start_action,
            file_input=self.file_input_action, refresh=self.refresh_action,
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
        self.inspector.adapt_box.setChecked(
            self.voices.adaptive and bool(self.settings.value("adapt_files", False, type=bool))
        )
        self._rebuild_recent()

    # ---- what the window does itself ----

    def toggle(self) -> None:
        """Space: start/stop listening, or play/stop in the inspector."""
        if self.tabs.currentIndex() == INSPECTOR_TAB:
            self.toggle_playback()
        else:
            self.listening.toggle()

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
            self.open_file(paths[0])

    def _frame(self) -> None:
        self.listening.drain()
        self._drain_job()
        self._follow_player()
        self.listening.end_if_over()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.stop()
        self.listening.stop()
        self.stop_playback()
        for job in self.jobs:
            job.stop()
        self.jobs, self.job = [], None
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.sync()
        event.accept()

    # ---- handed over: the live session ----

    @property
    def worker(self) -> LiveWorker | None:
        return self.listening.worker

    @property
    def session(self) -> list[LiveResult]:
        """This live session's results, for export."""
        return self.listening.results

    def start_live(self, source: Source | None = None) -> bool:
        return self.listening.start(source)

    def stop_live(self) -> None:
        self.listening.stop()

    def start_file_input(self, path: Path, speed: float = 1.0) -> bool:
        return self.listening.start_file(path, speed)

    @property
    def recording(self) -> Path | None:
        return self.recorder.path

    def start_recording(self, path: Path | None = None) -> bool:
        return self.recorder.start(path)

    # ---- handed over: adapting to the speaker ----

    @property
    def adaptive(self) -> bool:
        return self.voices.adaptive

    @property
    def voice(self) -> Moments | None:
        return self.voices.voice

    @property
    def start_voice(self) -> tuple[str, Moments] | None:
        return self.voices.start_voice

    @property
    def voices_dir(self) -> Path:
        return self.voices.folder

    @voices_dir.setter
    def voices_dir(self, folder: Path) -> None:
        self.voices.folder = folder

    def set_adapt_seconds(self, seconds: float) -> None:
        self.voices.set_adapt_seconds(seconds)

    def new_speaker(self) -> None:
        self.voices.new_speaker()

    def save_voice(self, name: str | None = None) -> Path | None:
        return self.voices.save(name)

    def use_voice(self, path: Path) -> bool:
        return self.voices.use(path)

    # ---- the inspector ----

    def _inspector_adapt_changed(self, on: bool) -> None:
        self.settings.setValue("adapt_files", on)
        a = self.inspector.analysis
        if a is not None and a.path is not None and self.job is None:
            self.open_file(a.path)  # the same recording, analysed the new way

    def choose_file(self) -> None:
        path = self.prompts.open_audio("Open a recording")
        if path is not None:
            self.open_file(path)

    def open_file(self, path: str | os.PathLike[str]) -> None:
        """Analyse a recording on a worker thread; the inspector shows progress, then the result."""
        path = Path(path)
        self.cancel_analysis()
        self.stop_playback()
        self.tabs.setCurrentIndex(INSPECTOR_TAB)
        adapting = self.inspector.adapt_box.isChecked()
        self.job = AnalysisJob(
            path, self.engine, queue.Queue(), self.voices.adapt_seconds if adapting else None
        )
        self.jobs = [j for j in self.jobs if j.is_alive()] + [self.job]
        self.job.start()
        self.inspector.begin(path.name)
        self.remember(path)
        self.settings.setValue("last_dir", str(path.parent))
        self.prompts.say(f"Analysing {path.name}…")

    def cancel_analysis(self) -> None:
        """Ask the running analysis to stop; it finishes on its own thread (never waited for)."""
        if self.job is not None:
            self.job.cancel.set()

    def _drain_job(self) -> None:
        job = self.job
        if job is None:
            return
        while True:
            try:
                item = job.out.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, Progress):
                self.inspector.set_progress(item.fraction)
                continue
            self.job = None
            if isinstance(item, Done):
                self.inspector.show_analysis(item.analysis)
                self.setWindowTitle(f"{job.path.name} — {APP_NAME}")
                self.prompts.say(f"Analysed {job.path.name}")
            elif isinstance(item, Failed):
                self.inspector.show_failure(job.path.name, "could not be analysed")
                self.prompts.error(f"Cannot open {job.path.name}", item.message)
            elif isinstance(item, WasCancelled):
                self.inspector.show_failure(job.path.name, "analysis cancelled")
                self.prompts.say("Analysis cancelled")
            return

    def remember(self, path: Path) -> None:
        recent = [str(path.resolve())] + [
            p for p in self.recent_files() if p != str(path.resolve())
        ]
        self.settings.setValue("recent", recent[:RECENT_MAX])
        self._rebuild_recent()

    def recent_files(self) -> list[str]:
        return [str(p) for p in cast(list, self.settings.value("recent", [], type=list))]

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for name in self.recent_files():
            action = self.recent_menu.addAction(name)
            action.triggered.connect(lambda checked=False, n=name: self.open_file(n))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # ---- playback ----

    def toggle_playback(self) -> None:
        if self.player is not None:
            self.stop_playback()
        else:
            self.play_from(self.inspector.cursor_time)

    def play_from(self, seconds: float) -> bool:
        a = self.inspector.analysis
        if a is None or a.path is None:
            return False
        self.stop_playback()
        try:
            player = Player(a.path, seconds)
            player.start()
        except (SourceError, AudioFileError) as e:
            self.prompts.say(f"Cannot play: {e}")
            self.prompts.last_error = str(e)
            return False
        self.player = player
        self.inspector.play_button.setText("■ Stop")
        return True

    def stop_playback(self) -> None:
        player, self.player = self.player, None
        if player is not None:
            player.stop()
        self.inspector.play_button.setText("▶ Play")

    def _moved_cursor(self, seconds: float) -> None:
        if self.player is not None:
            self.play_from(seconds)

    def _follow_player(self) -> None:
        if self.player is None:
            return
        if self.player.playing:
            self.inspector.select(self.player.position)
        else:
            self.stop_playback()

    # ---- exports ----

    def export_timeline(self, path: Path | None = None) -> Path | None:
        """Ctrl+E: the inspector's or the live session's timeline as CSV or JSON."""
        if self.tabs.currentIndex() == INSPECTOR_TAB:
            a = self.inspector.analysis
            if a is None or not len(a.ends):
                self.prompts.say("Nothing to export: open a recording (with a model) first")
                return None
            document, name = a.to_dict(), (a.path.stem if a.path else "recording")
        else:
            if not self.session:
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

    def save_screenshot(self, path: Path | None = None) -> Path | None:
        path = self.prompts.save_path(
            path, "Save screenshot", "emotion-meter.png", "PNG image (*.png)"
        )
        if path is None:
            return None
        png = QByteArray()
        buffer = QBuffer(png)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        encoded = self.grab().save(buffer, "PNG")
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

    # ---- messages ----

    @property
    def last_error(self) -> str:
        return self.prompts.last_error

    @last_error.setter
    def last_error(self, text: str) -> None:
        self.prompts.last_error = text

    def may_replace(self, path: Path) -> bool:
        return self.prompts.may_replace(path)


def load_engine(model: Path | None) -> tuple[Engine | None, str | None]:
    """The model, or why there is none (the app still runs: the inspector shows spectrograms)."""
    try:
        return Engine(bundle.load(model)), None
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
    for path in files[:-1]:
        window.remember(Path(path))
    if files:
        window.open_file(files[-1])
    previous = {
        sig: signal.signal(sig, lambda *_: QTimer.singleShot(0, window.close))
        for sig in QUIT_SIGNALS
    }
    try:
        return app.exec()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
