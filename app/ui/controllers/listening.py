"""The live session: listening to the chosen input (or a file played as one) on a worker thread.
Each frame moves what the worker produced into the live panel, the status-bar readouts, the voice
and the recording; the worker's results reach this thread only through its queue, and the worker
rings a bell (a queued signal) as each result is queued, so it is drawn at once, not next frame."""

from __future__ import annotations

import queue
import time
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLabel, QTabWidget

from app import export
from app.analyzer import SMOOTHING, LiveAnalyzer, LiveResult
from app.audio import sources
from app.audio.files import AudioFileError
from app.audio.sources import FileSource, Microphone, Source, SourceError
from app.engine import Engine
from app.ui.controllers.prompts import Prompts
from app.ui.controllers.recorder import Recorder
from app.ui.controllers.voices import Voices
from app.ui.views.live_panel import LivePanel
from app.worker import Failed, LiveWorker, RecordingFailed, Saved, Tick

READOUT_SECONDS = 0.5  # the status bar's figures: readable, and not a repaint of it every frame


class Bell(QObject):
    """Emitted from the worker's thread, delivered on the GUI's (a queued connection)."""

    rang = Signal()


class Listening:
    def __init__(
        self,
        engine: Engine | None,
        settings: QSettings,
        panel: LivePanel,
        tabs: QTabWidget,
        voices: Voices,
        recorder: Recorder,
        prompts: Prompts,
        *,
        devices: QComboBox,
        hop: QDoubleSpinBox,
        smoothing: QDoubleSpinBox,
        start: QAction,
        file_input: QAction,
        refresh: QAction,
    ) -> None:
        """``devices`` picks the input, ``hop`` and ``smoothing`` tune the analysis, ``start``
        starts or stops (and says which), ``file_input`` plays a file as the input, ``refresh``
        looks for devices again; ``tabs`` brings ``panel`` to the front when listening begins."""
        self.engine = engine
        self.settings = settings
        self.panel = panel
        self.tabs = tabs
        self.voices = voices
        self.recorder = recorder
        self.prompts = prompts
        self.devices = devices
        self.hop = hop
        self.smoothing = smoothing
        self.start_action = start
        self.worker: LiveWorker | None = None
        self.source: Source | None = None
        self.queue: queue.Queue[object] = queue.Queue()
        self.bell = Bell()
        self.bell.rang.connect(self.drain, Qt.ConnectionType.QueuedConnection)
        self.results: list[LiveResult] = []  # this session's, for export
        self._latency: float | None = None
        self._shown = 0.0  # when the readouts were last written
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
        devices.activated.connect(self._device_chosen)
        start.triggered.connect(self.toggle)
        file_input.triggered.connect(self.choose_file)
        refresh.triggered.connect(lambda: self.refresh_devices(rescan=True))

    @property
    def readouts(self) -> tuple[QLabel, QLabel, QLabel, QLabel]:
        """For the status bar: input device, sample rate, latency, blocks dropped."""
        return self.device_label, self.rate_label, self.latency_label, self.dropped_label

    def restore(self) -> None:
        """The hop and smoothing last used (the model's hop by default)."""
        default_hop = self.engine.bundle.hop_seconds if self.engine else 0.25
        self.hop.setValue(cast(float, self.settings.value("hop", default_hop, type=float)))
        self.smoothing.setValue(
            cast(float, self.settings.value("smoothing", SMOOTHING, type=float))
        )
        self.hop.valueChanged.connect(self._configure)  # only after both are set
        self.smoothing.valueChanged.connect(self._configure)

    def refresh_devices(self, rescan: bool) -> None:
        """Fill the device picker; ``rescan`` makes PortAudio look again (only while stopped)."""
        self.devices.clear()
        try:
            if rescan and self.worker is None:
                sources.rescan()
            devices = sources.input_devices()
        except SourceError as e:
            self.devices.addItem("No sound system", None)
            self.prompts.say(str(e))
            return
        if not devices:
            self.devices.addItem("No input device found", None)
            return
        self.devices.addItem("System default input", None)
        for device in devices:
            self.devices.addItem(str(device), device.index)
        wanted = self.settings.value("device")
        names = [d.name for d in devices]
        if wanted in names:
            self.devices.setCurrentIndex(names.index(wanted) + 1)

    def _device_chosen(self, row: int) -> None:
        index = self.devices.itemData(row)
        name = self.devices.itemText(row).rsplit(" (", 1)[0] if index is not None else None
        self.settings.setValue("device", name)
        if isinstance(self.source, Microphone):
            self.stop()
            self.start()

    def _configure(self) -> None:
        hop, smoothing = self.hop.value(), self.smoothing.value()
        self.settings.setValue("hop", hop)
        self.settings.setValue("smoothing", smoothing)
        if self.worker is not None:
            self.worker.configure(hop=hop, smoothing=smoothing)

    def toggle(self) -> None:
        if self.worker is None:
            self.start()
        else:
            self.stop()

    def start(self, source: Source | None = None) -> bool:
        """Listen to ``source`` (default: the chosen microphone); False with a message if not."""
        if self.worker is not None:
            return True
        if self.engine is None:
            self.prompts.error("No emotion model", "Live analysis needs an emotion model.")
            return False
        try:
            source = source or Microphone(self.devices.currentData())
            analyzer = LiveAnalyzer(
                self.engine,
                source.sample_rate,
                self.hop.value(),
                self.smoothing.value(),
                adapt=self.voices.adapting,
            )
            self.voices.prepare(analyzer)
            self.queue = queue.Queue()
            worker = LiveWorker(source, analyzer, self.queue, ring=self.bell.rang.emit)
            worker.start()
        except SourceError as e:
            self.prompts.error("Cannot listen", str(e))
            return False
        self.worker, self.source = worker, source
        self.results = []
        self._latency = None
        self.panel.reset()
        self.panel.bars.show_message("Listening…", "The first window needs a few seconds of sound.")
        self.tabs.setCurrentWidget(self.panel)
        self.start_action.setText("■ Stop")
        self.device_label.setText(source.name)
        self.rate_label.setText(f"{source.sample_rate / 1000:g} kHz")
        self.dropped_label.setText("dropped 0")
        self.voices.show(None)
        self.prompts.say(f"Listening to {source.name}")
        return True

    def stop(self) -> None:
        worker, self.worker = self.worker, None
        if worker is None:
            return
        self.recorder.stop()
        worker.stop()  # joins the thread, then closes the stream
        self.drain()  # what it produced last, and the finished recording
        self.panel.finish()
        self.source = None
        self.start_action.setText("▶ Start")
        self.latency_label.setText("")
        if self.panel.latest is None:
            self.panel.bars.show_message("Stopped", "Press Space or Start to listen.")
        self.prompts.say("Stopped listening")

    def choose_file(self) -> None:
        path = self.prompts.open_audio("Play a file as live input")
        if path is not None:
            self.stop()
            self.start_file(path)

    def start_file(self, path: Path, speed: float = 1.0) -> bool:
        """Feed a recording to the meter in real time, as if it came from a microphone."""
        try:
            source = FileSource(path, speed=speed)
        except AudioFileError as e:
            self.prompts.error("Cannot play this file", str(e))
            return False
        return self.start(source)

    def drain(self) -> None:
        """Each frame: draw what the worker produced since the last one, in one go."""
        ticks: list[Tick] = []
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Tick):
                ticks.append(item)
            elif isinstance(item, Saved):
                self.recorder.saved(item)
            elif isinstance(item, RecordingFailed):
                self.recorder.failed(item)
            elif isinstance(item, Failed):
                self.prompts.error("Live analysis", item.message)
        self.panel.apply(ticks)  # also without new ticks: held ones are drawn when due
        if not ticks:
            return
        results = [r for t in ticks for r in t.update.results]
        self.results.extend(results)
        self.recorder.add(results)
        if results:
            voice = next(t.voice for t in reversed(ticks) if t.update.results)
            self.voices.heard(voice, results[-1])
        source_latency = self.source.latency if self.source is not None else 0.0
        now = time.monotonic()
        latency = now - ticks[-1].arrival + source_latency
        self._latency = latency if self._latency is None else 0.9 * self._latency + 0.1 * latency
        if now - self._shown < READOUT_SECONDS:
            return
        self._shown = now
        self.latency_label.setText(
            f"latency {self._latency * 1000:.0f} ms · {self.panel.frames_per_second:.0f} fps"
        )
        self.dropped_label.setText(f"dropped {ticks[-1].dropped}")

    def end_if_over(self) -> None:
        """Each frame: stop when the worker died (it said why) or a file played as input ended."""
        if self.worker is not None and not self.worker.is_alive():
            self.stop()
            self.prompts.say(self.prompts.last_error, 15000)
        elif (
            self.worker is not None
            and isinstance(self.source, FileSource)
            and self.source.finished.is_set()
            and self.worker.caught_up
        ):
            name = self.source.path.name
            self.stop()
            self.prompts.say(f"Reached the end of {name}")

    def document(self) -> dict[str, Any]:
        """This session's results, for export."""
        source = self.source.name if self.source else "live"
        return export.live_document(
            self.results, self.panel.labels, self.panel.window_seconds, self.hop.value(), source
        )
