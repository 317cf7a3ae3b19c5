"""The live meter: the scrolling strips (spectrogram with the analysed window shaded, that window's
attention, the voice's pitch and loudness), the probability history, the current answer in large
type and where the voice sits between calm and excited, unpleasant and pleasant."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QToolButton, QVBoxLayout, QWidget

from app.analyzer import LiveResult
from app.features import FeatureSettings
from app.quality import Thresholds, advice
from app.ui import theme
from app.ui.announce import Announcer
from app.ui.views.affect import AffectView
from app.ui.views.bars import EmotionBars
from app.ui.views.layout import views_beside_bars
from app.ui.views.quality import QualityStrip
from app.ui.views.strips import LiveStrips
from app.ui.views.timeline import TimelineView
from app.worker import Tick

FRAME_SECONDS = 0.025  # scrolling views redrawn every other 16 ms GUI frame (~31/s; at 0.03,
# a tick a little early pushed the redraw to every third: 29/s)
HISTORY_SECONDS = 30.0


class LivePanel(QWidget):
    def __init__(
        self,
        settings: FeatureSettings,
        labels: tuple[str, ...],
        window_seconds: float,
        thresholds: Thresholds,
    ) -> None:
        super().__init__()
        self.labels = labels
        self.settings = settings
        self.window_seconds = window_seconds
        self.strips = LiveStrips(settings)
        self.affect = AffectView()
        self.affect.set_labels(labels)
        self.timeline = TimelineView(with_cursor=False)
        self.timeline.set_labels(labels)
        self.bars = EmotionBars()
        self.bars.set_labels(labels)
        self.quality = QualityStrip(thresholds)
        self.voice_label = theme.label("", "hint", centred=True)
        self.voice_label.setToolTip("How far the meter has adapted to the speaker's own voice")
        self.voice_label.setWordWrap(True)
        self.voice_buttons = QHBoxLayout()
        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 0, 8)
        column.addWidget(self.bars, stretch=3)
        column.addWidget(self.affect, stretch=2)
        column.addWidget(self.quality)
        column.addWidget(self.voice_label)
        column.addLayout(self.voice_buttons)
        split = views_beside_bars([(self.strips, 7)], self.timeline, side)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)
        self.latest: LiveResult | None = None
        self._draw_times: list[float] = []
        self.announcer = Announcer(self.bars.winner)
        self.reset()

    def add_voice_actions(self, actions: list[QAction]) -> None:
        """Buttons for adapting to the voice, under the bars where the answer is read."""
        self.voice_buttons.addStretch()
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            self.voice_buttons.addWidget(button)
        self.voice_buttons.addStretch()

    def reset(self) -> None:
        """A new session: empty views."""
        self.strips.reset()
        self.affect.clear_data()
        self._frames = 0  # frames drawn in the voice tracks: their times
        self.timeline.clear_data()
        self.timeline.setXRange(-HISTORY_SECONDS, 0, padding=0)
        self.latest = None
        self._draw_times = []
        self._held: list[Tick] = []  # ticks not drawn yet
        self._history: list[LiveResult] = []  # results drawn, not yet in the history views
        self._now = 0.0  # stream seconds the history views' "seconds ago" counts from
        self._drawn = 0.0  # when the views were last drawn
        self.announcer.reset()
        self.quality.show_quality(None)

    def apply(self, ticks: list[Tick]) -> None:
        """Draw what the worker produced since the last frame, in one go: at once when it holds
        a result, else about 30 times a second (each redraw of the scrolling views costs the
        same however few columns it adds). A result's answer is painted first; the history
        views (timeline, valence and arousal) take it on the next call, a tick (~20 ms) later,
        so their redraw does not delay the answer. Called every GUI frame, with no ticks too:
        ticks held back are drawn when their frame is due, not when the next one arrives."""
        self.finish()
        self._held += ticks
        clock = time.monotonic()
        result = any(t.update.results for t in ticks)
        if not self._held or (not result and clock - self._drawn < FRAME_SECONDS):
            return
        ticks, self._held, self._drawn = self._held, [], clock
        columns = [t.update.log_mel for t in ticks if len(t.update.log_mel)]
        now = ticks[-1].stream_time
        if columns:
            self.strips.append_columns(np.concatenate(columns))
        pitch = [t.update.pitch for t in ticks if len(t.update.pitch)]
        if pitch:
            f0 = np.concatenate(pitch)
            loudness = np.concatenate([t.update.loudness for t in ticks if len(t.update.pitch)])
            s = self.settings
            centres = (np.arange(self._frames, self._frames + len(f0)) * s.hop_length
                       + s.n_fft / 2) / s.sample_rate  # fmt: skip
            self._frames += len(f0)
            self.strips.append_voice(centres, f0, loudness, origin=now)
        results = [r for t in ticks for r in t.update.results]
        if results:
            self._history += results
            self._now = now
            latest = self.latest = results[-1]
            q = latest.quality
            speaking = latest.probabilities is not None
            first = "provisional: from the first seconds" if latest.provisional else ""
            self.bars.show_probabilities(latest.probabilities, first, advice=advice(q, speaking),
                                         uncertain=latest.uncertain)  # fmt: skip
            self.quality.show_quality(q)
            self.strips.show_attention(latest.attention)
            self.strips.show_prosody(latest.prosody)
            self.strips.show_range(latest.pitch_range)
            self.announcer.update(self.bars.winner.text())
        if self.latest is not None:  # the analysed window slides left as new audio arrives
            end = self.latest.time - now
            self.strips.show_window(end - self.window_seconds, end)
        self._draw_times = [t for t in self._draw_times if clock - t < 1.0] + [clock]

    def finish(self) -> None:
        """Put the results already drawn into the history views too (also when listening stops)."""
        if not self._history:
            return
        results, self._history = self._history, []
        times = [r.time for r in results]
        probabilities = [r.probabilities for r in results]
        self.timeline.append(times, probabilities, HISTORY_SECONDS, origin=self._now)
        for r in results:
            self.affect.append(r.probabilities)

    @property
    def frames_per_second(self) -> float:
        """Redraws in the last second: the meter's actual frame rate."""
        return float(len(self._draw_times))
