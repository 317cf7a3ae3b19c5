"""The recording inspector: a whole file's spectrogram, attention, pitch and loudness and emotion
timeline on one time axis; click or drag to a moment to see the window there (its emotions, its
voice's figures, where it sits between calm and excited), play from it with a cursor."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from app.analysis import Analysis
from app.features import FeatureSettings
from app.quality import advice
from app.ui import theme
from app.ui.views.affect import AffectView
from app.ui.views.attention import AttentionView
from app.ui.views.bars import EmotionBars
from app.ui.views.layout import views_beside_bars
from app.ui.views.prosody import VoiceView
from app.ui.views.spectrogram import SpectrogramView
from app.ui.views.timeline import TimelineView

HINT = "Open a recording to inspect it\n\nCtrl+O, drag and drop a file here, or File ▸ Recent"


class InspectorPanel(QWidget):
    selected = Signal(float)  # the user picked this moment (seconds)

    def __init__(self, settings: FeatureSettings, has_model: bool) -> None:
        super().__init__()
        self.settings = settings
        self.has_model = has_model
        self.analysis: Analysis | None = None
        self.cursor_time = 0.0
        self.title = theme.label("No recording", "fileTitle")
        self.info = theme.label("", "hint")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(320)
        self.progress.setAccessibleName("Analysis progress")
        self.cancel_button = QPushButton("Cancel")
        self.adapt_box = QCheckBox("Adapt to the speaker")
        self.adapt_box.setToolTip(
            "Judge emotion against this recording's own voice (learnt from all of it)"
        )
        self.play_button = QPushButton("▶ Play")
        self.play_button.setEnabled(False)
        self.play_button.setToolTip("Play from the cursor (Space)")
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addSpacing(12)
        header.addWidget(self.info, stretch=1)
        header.addWidget(self.adapt_box)
        header.addWidget(self.progress)
        header.addWidget(self.cancel_button)
        header.addWidget(self.play_button)
        self.set_busy(False)

        self.spectrogram = SpectrogramView(settings)
        self.attention = AttentionView(with_track=True)
        self.timeline = TimelineView(with_cursor=True)
        self.bars = EmotionBars()
        self.voice = VoiceView()
        self.affect = AffectView()
        assert self.timeline.cursor is not None
        self.lines: list[pg.InfiniteLine] = [self.timeline.cursor]
        for plot in (self.spectrogram, self.attention, self.voice):
            plot.setXLink(self.timeline)
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(theme.ACCENT, width=1.5))
            line.setZValue(20)
            plot.addItem(line)
            self.lines.append(line)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # arrows move the cursor (keyPressEvent)
        for plot in (self.spectrogram, self.attention, self.voice, self.timeline, self.affect):
            plot.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for plot in (self.spectrogram, self.attention, self.voice, self.timeline):
            plot.scene().sigMouseClicked.connect(lambda event, p=plot: self._clicked(p, event))
        self.timeline.getPlotItem().setMouseEnabled(x=True, y=False)  # wheel zooms time
        self.timeline.scrubbed.connect(self._scrubbed)

        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 0, 8)
        column.addWidget(self.bars, stretch=3)
        column.addWidget(self.affect, stretch=2)
        strips: list[tuple[QWidget, int]] = [
            (self.spectrogram, 5),
            (self.attention, 0),
            (self.voice, 2),
        ]
        split = views_beside_bars(strips, self.timeline, side)
        self.hint = theme.label(HINT, "hint", centred=True)
        self.stack = QStackedLayout()
        self.stack.addWidget(self.hint)
        self.stack.addWidget(split)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 4, 4)
        layout.addLayout(header)
        layout.addLayout(self.stack, stretch=1)

    def set_labels(self, labels: tuple[str, ...]) -> None:
        self.timeline.set_labels(labels)
        self.bars.set_labels(labels)
        self.affect.set_labels(labels)

    def set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setValue(0)

    def begin(self, name: str) -> None:
        """An analysis started: say what is being read (the previous recording stays shown
        until the new one is ready, or if it cannot be read)."""
        self.progress.setFormat(f"analysing {name}… %p%")
        self.progress.setToolTip(name)
        if self.analysis is None:
            self.title.setText(name)
            self.info.setText("")
        self.set_busy(True)

    def set_progress(self, fraction: float) -> None:
        self.progress.setValue(round(fraction * 1000))

    def show_analysis(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.set_busy(False)
        self.stack.setCurrentIndex(1)
        name = analysis.path.name if analysis.path else "recording"
        self.title.setText(name)
        self.spectrogram.show_recording(analysis.spectrogram, analysis.spectrogram_rate)
        # a window's point sits at its centre: the moment it describes best
        centres = analysis.ends - analysis.window_seconds / 2
        self.timeline.show_series(centres, analysis.probabilities)
        flagged = [bool(q.flags) for q in analysis.quality] or [False] * len(centres)
        self.timeline.show_flags(centres, np.array(flagged, bool) & analysis.speech)
        self.attention.clear_all()
        self.attention.show_track(analysis.ends, analysis.window_seconds, analysis.attention)
        s = self.settings
        centres = (np.arange(len(analysis.pitch)) * s.hop_length + s.n_fft / 2) / s.sample_rate
        self.voice.show_series(centres, analysis.pitch, analysis.loudness)
        self.voice.show_range(analysis.pitch_range)
        self.timeline.setXRange(0, analysis.duration, padding=0)
        self.timeline.getViewBox().setLimits(xMin=0, xMax=max(analysis.duration, 0.1))
        self.play_button.setEnabled(True)
        length = f"{analysis.duration:.1f} s"
        if not self.has_model:
            self.info.setText(f"{length} · no emotion model: spectrogram only")
            self.bars.show_message("No model", "The spectrogram is shown; emotions need a model.")
            return
        label, probabilities = analysis.overall
        overall = theme.label_text(label) if label else "silence (no speech found)"
        share = f" ({probabilities.max():.0%})" if label else ""
        if analysis.overall_uncertain:  # as the side panel and the CLI say
            overall, share = "uncertain", f" (perhaps {overall}{share})"
        voice = (
            f" · adapted to the speaker {analysis.adaptation:.0%}" if analysis.adaptation else ""
        )
        note = analysis.file_quality().get("note", "") if analysis.quality else ""
        self.info.setText(
            f"{length} · {len(analysis.ends)} windows · overall: {overall}{share}{voice}"
            + (f" · {note}" if note else "")
        )
        self.select(min(analysis.window_seconds / 2, analysis.duration / 2))

    def select(self, seconds: float) -> None:
        """Show the window centred nearest to ``seconds``: its probabilities and attention."""
        a = self.analysis
        if a is None:
            return
        self.set_cursor(seconds)
        if not len(a.ends):
            return
        centres = a.ends - a.window_seconds / 2
        k = int(np.argmin(np.abs(centres - seconds)))
        end = float(a.ends[k])
        self.spectrogram.show_window(end - a.window_seconds, end)
        self.attention.show_window(end, a.window_seconds, a.attention[k])
        start = max(0.0, end - a.window_seconds)
        where = f"window {start:.2f}–{end:.2f} s"
        q = a.quality[k] if a.quality else None
        self.bars.show_probabilities(a.probabilities[k] if a.speech[k] else None, where,
                                     advice=advice(q, bool(a.speech[k])),
                                     uncertain=bool(a.uncertain[k]))  # fmt: skip
        self.voice.show_prosody(a.prosody[k] if a.prosody and a.speech[k] else None)
        self.affect.show_until(a.probabilities, k)

    def set_cursor(self, seconds: float) -> None:
        self.cursor_time = seconds
        for line in self.lines:
            line.setValue(seconds)

    def _scrubbed(self, seconds: float) -> None:
        self.select(self._clamp(seconds))
        self.selected.emit(self.cursor_time)

    def _clicked(self, plot: pg.PlotWidget, event: MouseClickEvent) -> None:
        if self.analysis is None or event.button() != Qt.MouseButton.LeftButton:
            return
        point = plot.getViewBox().mapSceneToView(event.scenePos())
        self._scrubbed(point.x())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Left/Right step one window, Home/End go to either end: the timeline by keyboard."""
        a, key = self.analysis, Qt.Key(event.key())
        steps = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1}
        if a is None or key not in (*steps, Qt.Key.Key_Home, Qt.Key.Key_End):
            super().keyPressEvent(event)
            return
        if key in steps:
            target = self.cursor_time + steps[key] * a.hop_seconds
        else:
            target = 0.0 if key == Qt.Key.Key_Home else a.duration
        self._scrubbed(self._clamp(target))

    def _clamp(self, seconds: float) -> float:
        duration = self.analysis.duration if self.analysis else 0.0
        return min(max(0.0, seconds), duration)

    def show_failure(self, name: str, message: str) -> None:
        self.set_busy(False)
        if self.analysis is None:
            self.title.setText(name)
            self.info.setText(message)
