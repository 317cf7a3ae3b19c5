"""The main window: the live meter and the recording inspector as two tabs.

It owns every thread and stream (live worker, analysis jobs, player) and stops them on close.
Worker results arrive through queues that one GUI timer drains about 60 times a second, so no
other thread ever touches a widget and the GUI thread never waits on audio or the model.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import time
from pathlib import Path
from typing import cast

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSettings, QStandardPaths, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
)

from app import adapt, bundle
from app.adapt import TIME_CONSTANT, Moments
from app.analyzer import SMOOTHING, LiveAnalyzer, LiveResult
from app.audio import sources
from app.audio.files import AudioFileError
from app.audio.sources import FileSource, Microphone, Player, Source, SourceError
from app.engine import Engine
from app.features import FeatureSettings
from app.quality import Thresholds
from app.ui import about, export, theme
from app.ui.about import judging_text as judging_text  # the About box's words, kept importable
from app.ui.inspector import InspectorPanel
from app.ui.live import LivePanel
from app.ui.prompts import Prompts
from app.ui.toolbar import Toolbar
from app.worker import (
    AnalysisJob,
    Done,
    Failed,
    LiveWorker,
    Progress,
    RecordingFailed,
    Saved,
    Tick,
    WasCancelled,
)

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

        self.worker: LiveWorker | None = None
        self.source: Source | None = None
        self.live_queue: queue.Queue[object] = queue.Queue()
        self.session: list[LiveResult] = []  # this live session's results, for export
        self.recording: Path | None = None
        self.recorded: list[LiveResult] = []
        self.job: AnalysisJob | None = None
        self.jobs: list[AnalysisJob] = []  # every job started, joined on close
        self.player: Player | None = None
        self.prompts = Prompts(self, self.settings)
        self._latency: float | None = None
        self.voice: Moments | None = None  # the live speaker's statistics, as last reported
        self.start_voice: tuple[str, Moments] | None = None  # a saved voice to start from
        self.voices_dir = (
            Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
            / "voices"
        )

        self._build_actions()
        self._build_toolbar()
        self._build_menus()
        self._build_status()
        self.voice_label = self.live.voice_label
        self.live.add_voice_actions([self.adapt_action, self.new_speaker_action])
        self.inspector.adapt_box.setEnabled(self.adaptive)
        self.inspector.adapt_box.toggled.connect(self._inspector_adapt_changed)
        self.inspector.cancel_button.clicked.connect(self.cancel_analysis)
        self.inspector.play_button.clicked.connect(self.toggle_playback)
        self.inspector.selected.connect(self._moved_cursor)
        self._restore()
        self.refresh_devices(rescan=False)
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
        self, text: str, slot: object, shortcut: str | None = None, tip: str = ""
    ) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{tip or text} ({shortcut})" if shortcut else tip or text)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work whichever widget has the focus
        return action

    def _build_actions(self) -> None:
        self.start_action = self._action(
            "▶ Start", self.toggle_live, tip="Start or stop listening (Space on the Live tab)"
        )
        # Space acts on the tab in front: listen on Live, play in the inspector
        self.space_action = self._action("Start/stop", self.toggle, "Space")
        self.record_action = self._action(
            "● Record", self._record_toggled, "Ctrl+R", "Record the input and its results"
        )
        self.record_action.setCheckable(True)
        self.open_action = self._action("Open…", self.choose_file, "Ctrl+O", "Open a recording")
        self.export_action = self._action(
            "Export…", self.export_timeline, "Ctrl+E", "Export the timeline as CSV or JSON"
        )
        self.screenshot_action = self._action(
            "Screenshot…", self.save_screenshot, "Ctrl+Shift+S", "Save a PNG of the window"
        )
        self.file_input_action = self._action(
            "Play a file as live input…", self.choose_live_file, tip="Feed a recording to the meter"
        )
        self.refresh_action = self._action(
            "Look for devices again",
            lambda: self.refresh_devices(rescan=True),
            tip="Look for input devices again",
        )
        self.refresh_action.setIconText("⟳")
        self.quit_action = self._action("Quit", self.close, "Ctrl+Q")
        self.adapt_action = self._action(
            "Adapt to voice",
            self._adapt_changed,
            tip="Learn the speaker's own voice as they talk and judge emotion against it",
        )
        self.adapt_action.setCheckable(True)
        self.adapt_action.setEnabled(self.adaptive)
        self.new_speaker_action = self._action(
            "New speaker", self.new_speaker, "Ctrl+Shift+N", "Forget the voice learnt so far"
        )
        self.new_speaker_action.setEnabled(self.adaptive)
        self.save_voice_action = self._action(
            "Save voice…", self.save_voice, tip="Keep the voice learnt so far as a named profile"
        )
        self.save_voice_action.setEnabled(self.adaptive)
        self.adapt_time_action = self._action(
            "Adaptation time…",
            self.choose_adapt_seconds,
            tip="Seconds of speech after which the voice learnt counts half",
        )
        self.adapt_time_action.setEnabled(self.adaptive)

    def _build_toolbar(self) -> None:
        bar = Toolbar([self.refresh_action, self.start_action, self.record_action],
                      [self.open_action, self.export_action, self.screenshot_action])  # fmt: skip
        self.addToolBar(bar)
        self.device_combo, self.hop_spin, self.smoothing_spin = bar.devices, bar.hop, bar.smoothing
        self.device_combo.activated.connect(self._device_chosen)

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.open_action)
        self.recent_menu = menu.addMenu("Recent")
        menu.addAction(self.export_action)
        menu.addAction(self.screenshot_action)
        menu.addSeparator()
        menu.addAction(self.quit_action)
        menu = self.menuBar().addMenu("&Live")
        menu.addAction(self.start_action)
        menu.addAction(self.record_action)
        menu.addAction(self.file_input_action)
        menu.addAction(self.refresh_action)
        menu = self.menuBar().addMenu("&Voice")
        menu.addAction(self.adapt_action)
        menu.addAction(self.new_speaker_action)
        menu.addAction(self.save_voice_action)
        menu.addAction(self.adapt_time_action)
        self.voices_menu = menu.addMenu("Use a saved voice")
        self.voices_menu.aboutToShow.connect(self._rebuild_voices)
        self.voices_menu.setEnabled(self.adaptive)
        menu = self.menuBar().addMenu("&Help")
        menu.addAction(self._action("About the model", self.about_model))

    def _build_status(self) -> None:
        self.device_label = QLabel("no input")
        self.rate_label = QLabel("")
        self.latency_label = QLabel("")
        self.dropped_label = QLabel("")
        for label, tip in (
            (self.device_label, "Input device"),
            (self.rate_label, "Input sample rate"),
            (self.latency_label, "From sound reaching the input to it being on screen"),
            (self.dropped_label, "Audio blocks lost because the analysis fell behind"),
        ):
            label.setToolTip(tip)
            self.statusBar().addPermanentWidget(label)

    def _restore(self) -> None:
        s = self.settings
        geometry = s.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 780)
        default_hop = self.engine.bundle.hop_seconds if self.engine else 0.25
        self.hop_spin.setValue(cast(float, s.value("hop", default_hop, type=float)))
        self.smoothing_spin.setValue(cast(float, s.value("smoothing", SMOOTHING, type=float)))
        self.hop_spin.valueChanged.connect(self._analysis_changed)  # only after both are set
        self.smoothing_spin.valueChanged.connect(self._analysis_changed)
        self.adapt_action.setChecked(self.adaptive and bool(s.value("adapt", True, type=bool)))
        self.inspector.adapt_box.setChecked(
            self.adaptive and bool(s.value("adapt_files", False, type=bool))
        )
        self._show_voice(None)
        self._rebuild_recent()

    # ---- messages and file dialogs (app/ui/prompts.py) ----

    @property
    def last_error(self) -> str:
        return self.prompts.last_error

    @last_error.setter
    def last_error(self, text: str) -> None:
        self.prompts.last_error = text

    def may_replace(self, path: Path) -> bool:
        return self.prompts.may_replace(path)

    # ---- live ----

    def refresh_devices(self, rescan: bool) -> None:
        """Fill the device picker; ``rescan`` makes PortAudio look again (only while stopped)."""
        self.device_combo.clear()
        try:
            if rescan and self.worker is None:
                sources.rescan()
            devices = sources.input_devices()
        except SourceError as e:
            self.device_combo.addItem("No sound system", None)
            self.prompts.say(str(e))
            return
        if not devices:
            self.device_combo.addItem("No input device found", None)
            return
        self.device_combo.addItem("System default input", None)
        for device in devices:
            self.device_combo.addItem(str(device), device.index)
        wanted = self.settings.value("device")
        names = [d.name for d in devices]
        if wanted in names:
            self.device_combo.setCurrentIndex(names.index(wanted) + 1)

    def _device_chosen(self, row: int) -> None:
        index = self.device_combo.itemData(row)
        name = self.device_combo.itemText(row).rsplit(" (", 1)[0] if index is not None else None
        self.settings.setValue("device", name)
        if isinstance(self.source, Microphone):
            self.stop_live()
            self.start_live()

    def _analysis_changed(self) -> None:
        hop, smoothing = self.hop_spin.value(), self.smoothing_spin.value()
        self.settings.setValue("hop", hop)
        self.settings.setValue("smoothing", smoothing)
        if self.worker is not None:
            self.worker.configure(hop=hop, smoothing=smoothing)

    def toggle(self) -> None:
        """Space: start/stop listening, or play/stop in the inspector."""
        if self.tabs.currentIndex() == INSPECTOR_TAB:
            self.toggle_playback()
        else:
            self.toggle_live()

    def toggle_live(self) -> None:
        if self.worker is None:
            self.start_live()
        else:
            self.stop_live()

    def start_live(self, source: Source | None = None) -> bool:
        """Listen to ``source`` (default: the chosen microphone); False with a message if not."""
        if self.worker is not None:
            return True
        if self.engine is None:
            self.prompts.error("No emotion model", "Live analysis needs an emotion model.")
            return False
        try:
            source = source or Microphone(self.device_combo.currentData())
            analyzer = LiveAnalyzer(
                self.engine,
                source.sample_rate,
                self.hop_spin.value(),
                self.smoothing_spin.value(),
                adapt=self.adapt_action.isChecked(),
            )
            analyzer.set_adapt_seconds(self.adapt_seconds)
            if self.start_voice is not None:
                analyzer.new_speaker(self.start_voice[1])
            self.live_queue = queue.Queue()
            worker = LiveWorker(source, analyzer, self.live_queue)
            worker.start()
        except SourceError as e:
            self.prompts.error("Cannot listen", str(e))
            return False
        self.worker, self.source = worker, source
        self.session = []
        self._latency = None
        self.live.reset()
        self.live.bars.show_message("Listening…", "The first window needs a few seconds of sound.")
        self.tabs.setCurrentIndex(LIVE_TAB)
        self.start_action.setText("■ Stop")
        self.device_label.setText(source.name)
        self.rate_label.setText(f"{source.sample_rate / 1000:g} kHz")
        self.dropped_label.setText("dropped 0")
        self._show_voice(None)
        self.prompts.say(f"Listening to {source.name}")
        return True

    def stop_live(self) -> None:
        worker, self.worker = self.worker, None
        if worker is None:
            return
        if self.recording is not None:
            self.stop_recording()
        worker.stop()  # joins the thread, then closes the stream
        self._drain_live()  # what it produced last, and the finished recording
        self.source = None
        self.start_action.setText("▶ Start")
        self.latency_label.setText("")
        if self.live.latest is None:
            self.live.bars.show_message("Stopped", "Press Space or Start to listen.")
        self.prompts.say("Stopped listening")

    def choose_live_file(self) -> None:
        path = self.prompts.open_audio("Play a file as live input")
        if path is not None:
            self.stop_live()
            self.start_file_input(path)

    def start_file_input(self, path: Path, speed: float = 1.0) -> bool:
        """Feed a recording to the meter in real time, as if it came from a microphone."""
        try:
            source = FileSource(path, speed=speed)
        except AudioFileError as e:
            self.prompts.error("Cannot play this file", str(e))
            return False
        return self.start_live(source)

    def _drain_live(self) -> None:
        ticks: list[Tick] = []
        while True:
            try:
                item = self.live_queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Tick):
                ticks.append(item)
            elif isinstance(item, Saved):
                self._recording_saved(item)
            elif isinstance(item, RecordingFailed):
                self.recording = None  # the session's results stay, for export
                self.record_action.setChecked(False)
                self.prompts.error("Recording stopped", item.message)
            elif isinstance(item, Failed):
                self.prompts.error("Live analysis", item.message)
        if not ticks:
            return
        self.live.apply(ticks)
        results = [r for t in ticks for r in t.update.results]
        self.session.extend(results)
        if self.recording is not None:
            self.recorded.extend(results)
        if results:
            self.voice = next(t.voice for t in reversed(ticks) if t.update.results)
            self._show_voice(results[-1])
        source_latency = self.source.latency if self.source is not None else 0.0
        latency = time.monotonic() - ticks[-1].arrival + source_latency
        self._latency = latency if self._latency is None else 0.9 * self._latency + 0.1 * latency
        self.latency_label.setText(
            f"latency {self._latency * 1000:.0f} ms · {self.live.frames_per_second:.0f} fps"
        )
        self.dropped_label.setText(f"dropped {ticks[-1].dropped}")

    # ---- adapting to the speaker ----

    @property
    def adaptive(self) -> bool:
        """The model was trained to adapt to a speaker (older ones only run cold)."""
        return self.engine is not None and self.engine.bundle.adapt_seconds is not None

    def _adapt_changed(self) -> None:
        on = self.adapt_action.isChecked()
        self.settings.setValue("adapt", on)
        if self.worker is not None:
            self.worker.configure(adapting=on)
        self._show_voice(None)

    @property
    def adapt_seconds(self) -> float:
        """The adaptation time constant: the user's choice, else the model's."""
        default = (self.engine.bundle.adapt_seconds if self.engine else None) or TIME_CONSTANT
        return cast(float, self.settings.value("adapt_seconds", default, type=float))

    def set_adapt_seconds(self, seconds: float) -> None:
        self.settings.setValue("adapt_seconds", seconds)
        if self.worker is not None:
            self.worker.configure(adapt_seconds=seconds)
        self.prompts.say(f"The voice learnt counts half after {seconds:g} s of speech")

    def choose_adapt_seconds(self) -> None:
        seconds, ok = QInputDialog.getDouble(
            self.prompts.window,
            "Adaptation time",
            "Seconds of speech after which the voice learnt counts half\n"
            "(shorter adapts faster, longer is steadier):",
            self.adapt_seconds,
            1.0,
            600.0,
            1,
        )
        if ok:
            self.set_adapt_seconds(seconds)

    def new_speaker(self) -> None:
        """Forget the voice learnt so far: the next speaker starts cold."""
        self.start_voice = None
        self.voice = None
        if self.worker is not None:
            self.worker.new_speaker(None)
        self._show_voice(None)
        self.prompts.say("New speaker: adapting from the start")

    def _show_voice(self, latest: LiveResult | None) -> None:
        if not self.adaptive:
            self.voice_label.setText("voice: not adaptive (model)")
        elif not self.adapt_action.isChecked():
            self.voice_label.setText("voice: adaptation off")
        elif latest is None or latest.speech_seconds == 0:
            start = self.start_voice[0] if self.start_voice else "new speaker"
            self.voice_label.setText(f"voice: {start}, speak to adapt")
        else:
            self.voice_label.setText(
                f"adapted to your voice: {latest.adaptation:.0%} "
                f"({latest.speech_seconds:.0f} s of speech)"
            )

    def save_voice(self, name: str | None = None) -> Path | None:
        """Keep the voice learnt so far as a named profile, to start from another day."""
        if self.engine is None or self.voice is None or self.voice.count == 0:
            self.prompts.say("No voice to save yet: listen to someone speak first")
            return None
        if name is None:
            name, ok = QInputDialog.getText(
                self.prompts.window, "Save voice", "Name of this voice:"
            )
            if not ok or not name.strip():
                return None
        safe = "".join(c if c.isalnum() or c in " -_" else "_" for c in name.strip())
        path = self.voices_dir / f"{safe or 'voice'}.json"
        if not self.may_replace(path):
            return None
        try:
            self.voices_dir.mkdir(parents=True, exist_ok=True)
            adapt.save_profile(path, name.strip(), self.voice, self.engine.bundle.features)
        except OSError as e:
            self.prompts.error("Could not save the voice", f"{path}: {e.strerror or e}")
            return None
        self.prompts.say(f"Saved the voice {name.strip()!r}")
        return path

    def use_voice(self, path: Path) -> bool:
        """Start adapting from a saved voice (now if listening, else at the next start)."""
        if self.engine is None:
            return False
        try:
            name, voice = adapt.load_profile(path, self.engine.bundle.features)
        except adapt.ProfileError as e:
            self.prompts.error("Cannot use this voice", str(e))
            return False
        self.start_voice, self.voice = (name, voice), voice
        if self.worker is not None:
            self.worker.new_speaker(voice)
        self.adapt_action.setChecked(True)
        self._adapt_changed()
        self.prompts.say(f"Using the saved voice {name!r}")
        return True

    def _rebuild_voices(self) -> None:
        self.voices_menu.clear()
        saved = sorted(self.voices_dir.glob("*.json")) if self.voices_dir.is_dir() else []
        for path in saved:
            action = self.voices_menu.addAction(path.stem)
            action.triggered.connect(lambda checked=False, p=path: self.use_voice(p))
        if not saved:
            self.voices_menu.addAction("(no saved voices)").setEnabled(False)

    def _inspector_adapt_changed(self, on: bool) -> None:
        self.settings.setValue("adapt_files", on)
        a = self.inspector.analysis
        if a is not None and a.path is not None and self.job is None:
            self.open_file(a.path)  # the same recording, analysed the new way

    # ---- recording the live session ----

    def _record_toggled(self, checked: bool) -> None:
        if checked:
            self.start_recording()
        else:
            self.stop_recording()

    def start_recording(self, path: Path | None = None) -> bool:
        """Write the input to a WAV file, and its results beside it (JSON, CSV) when stopped."""
        if self.worker is None:
            self.record_action.setChecked(False)
            self.prompts.error("Not listening", "Start listening before recording.")
            return False
        name = f"emotion-meter-{time.strftime('%Y%m%d-%H%M%S')}.wav"
        path = self.prompts.save_path(path, "Record to", name, "WAV audio (*.wav)")
        if path is None:
            self.record_action.setChecked(False)
            return False
        self.recording, self.recorded = path, []
        self.worker.record(path)
        self.record_action.setChecked(True)
        self.prompts.say(f"Recording to {path}")
        return True

    def stop_recording(self) -> None:
        if self.recording is None:
            return
        if self.worker is not None:
            self.worker.record(None)
        self.record_action.setChecked(False)

    def _recording_saved(self, saved: Saved) -> None:
        wav = saved.path
        document = export.live_document(
            self.recorded, self.labels, self.live.window_seconds, self.hop_spin.value(), str(wav)
        )
        document["audio_starts_at"] = round(saved.start, 6)  # results' times are stream times
        self.recording = None
        try:
            # the user chose (and agreed to replace) the WAV; its results belong with it
            export.save_timeline(wav.with_suffix(".json"), document, overwrite=True)
            export.save_timeline(wav.with_suffix(".csv"), document, overwrite=True)
        except OSError as e:
            self.prompts.error("Could not save the results", str(e))
            return
        self.prompts.say(f"Saved {wav.name} with its results (.json, .csv)")

    # ---- the inspector ----

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
            path, self.engine, queue.Queue(), self.adapt_seconds if adapting else None
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

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_file(paths[0])

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
            source = self.source.name if self.source else "live"
            document = export.live_document(
                self.session, self.labels, self.live.window_seconds, self.hop_spin.value(), source
            )
            name = "live-session"
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

    def about_model(self) -> None:
        if self.engine is None:
            self.prompts.error("No emotion model", "No model is loaded.")
            return
        QMessageBox.information(self, "About the model", self.about_text())

    def about_text(self) -> str:
        """What the loaded model is, what it is built on and under which licence."""
        assert self.engine is not None
        return about.text(self.engine.bundle)

    # ---- the frame clock and shutdown ----

    def _frame(self) -> None:
        self._drain_live()
        self._drain_job()
        self._follow_player()
        if self.worker is not None and not self.worker.is_alive():  # it failed and said why
            self.stop_live()
            self.prompts.say(self.prompts.last_error, 15000)
        elif (
            self.worker is not None
            and isinstance(self.source, FileSource)
            and self.source.finished.is_set()
            and self.worker.caught_up
        ):
            name = self.source.path.name
            self.stop_live()
            self.prompts.say(f"Reached the end of {name}")

    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.stop()
        self.stop_live()
        self.stop_playback()
        for job in self.jobs:
            job.stop()
        self.jobs, self.job = [], None
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.sync()
        event.accept()


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
