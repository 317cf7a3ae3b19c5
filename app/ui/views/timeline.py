"""Each emotion's probability over time, one line per label in its colour; silence is a grey
band with no lines (the model is not asked to guess when nobody speaks); stretches whose input
quality is flagged carry an amber band along the top."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import Signal

from app.ui import theme

SILENCE_Y = -0.06
FLAG_Y = 1.06  # the band over the top that marks stretches whose input quality is flagged
# Lines wider than a pixel, antialiased, take Qt's slow stroker: 3.4 ms to repaint a live
# timeline of 60 points per emotion, against 0.46 ms aliased (offscreen, one core)
LINES = {"connect": "finite", "antialias": False}


class TimelineView(pg.PlotWidget):
    scrubbed = Signal(float)  # the user dragged the cursor to this many seconds

    def __init__(self, with_cursor: bool) -> None:
        super().__init__()
        theme.describe(self, "Emotion timeline", "Each emotion's probability over time, a line "
                       "per emotion; grey is silence, amber flagged input")  # fmt: skip
        p = self.getPlotItem()
        theme.still(p)
        p.setLabel("bottom", "seconds")
        p.getAxis("left").setWidth(theme.AXIS_WIDTH)
        p.getAxis("left").setTicks([[(0.0, "0"), (0.5, "50%"), (1.0, "100%")]])
        p.showGrid(x=False, y=True, alpha=0.15)
        self.setYRange(SILENCE_Y - 0.04, FLAG_Y + 0.04, padding=0)
        self.curves: list[pg.PlotDataItem] = []
        self.silence = self.plot(pen=pg.mkPen(theme.SILENCE, width=5), **LINES)
        self.flagged = self.plot(pen=pg.mkPen(theme.WARNING, width=5), **LINES)
        self.cursor: pg.InfiniteLine | None = None
        if with_cursor:
            self.cursor = pg.InfiniteLine(
                angle=90, movable=True, pen=pg.mkPen(theme.ACCENT, width=2), hoverPen=theme.TEXT
            )
            self.cursor.setZValue(20)
            self.cursor.sigDragged.connect(lambda line: self.scrubbed.emit(float(line.value())))
            self.addItem(self.cursor)
        self._times = np.zeros(0)
        self._probabilities = np.zeros((0, 0), np.float32)
        self._origin = 0.0

    def set_labels(self, labels: tuple[str, ...]) -> None:
        for curve in self.curves:
            self.removeItem(curve)
        self.curves = [
            self.plot(pen=pg.mkPen(theme.emotion_color(labels, i), width=2), name=label, **LINES)
            for i, label in enumerate(labels)
        ]
        self.clear_data()

    def clear_data(self) -> None:
        self.flagged.setData([], [])
        self._origin = 0.0
        self._times = np.zeros(0)
        self._probabilities = np.zeros((0, len(self.curves)), np.float32)
        self._redraw()

    def show_series(
        self, times: npt.NDArray[np.float64], probabilities: npt.NDArray[np.float32]
    ) -> None:
        """All points at once; rows of NaN are silence."""
        self._times = np.asarray(times, np.float64)
        self._probabilities = np.asarray(probabilities, np.float32).reshape(
            len(times), len(self.curves)
        )
        self._redraw()

    def append(
        self,
        times: list[float],
        probabilities: list[npt.NDArray[np.float32] | None],
        keep: float,
        origin: float,
    ) -> None:
        """Live: add points (``None`` = silence), forget those older than ``keep`` seconds, and
        draw them at ``time - origin`` (the live axis is "seconds ago")."""
        self._origin = origin
        rows = [
            np.full(len(self.curves), np.nan, np.float32) if p is None else p for p in probabilities
        ]
        self._times = np.concatenate([self._times, times])
        self._probabilities = np.concatenate(
            [self._probabilities, np.reshape(rows, (-1, len(self.curves)))]
        )
        old = int(np.searchsorted(self._times, self._times[-1] - keep))
        self._times, self._probabilities = self._times[old:], self._probabilities[old:]
        self._redraw()

    def _redraw(self) -> None:
        for curve, column in zip(self.curves, self._probabilities.T, strict=False):
            curve.setData(self._times - self._origin, column)
        silent = (
            np.isnan(self._probabilities).any(axis=1) if len(self.curves) else np.zeros(0, bool)
        )
        self.silence.setData(self._times - self._origin, np.where(silent, SILENCE_Y, np.nan))

    def show_flags(self, times: npt.NDArray[np.float64], flagged: npt.NDArray[np.bool_]) -> None:
        """Mark the points whose input quality is flagged (a recording's, all at once)."""
        self.flagged.setData(np.asarray(times, np.float64), np.where(flagged, FLAG_Y, np.nan))

    @property
    def points(self) -> int:
        return len(self._times)

    def set_cursor(self, seconds: float) -> None:
        if self.cursor is not None:
            self.cursor.setValue(seconds)
