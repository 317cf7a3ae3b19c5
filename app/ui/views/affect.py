"""Valence and arousal: where the voice sits between unpleasant and pleasant, calm and excited,
with a fading trail of where it was. Derived from the emotion probabilities through the rated
positions of the emotion words (:mod:`app.affect`), and labelled so."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtGui import QColor

from app import affect
from app.ui import theme

TRAIL = 24  # points of history drawn, fading

Array = npt.NDArray[np.float64]


class AffectView(pg.PlotWidget):
    def __init__(self) -> None:
        super().__init__()
        p = self.getPlotItem()
        theme.still(p)
        p.setTitle("valence · arousal (derived)", size="9pt")
        p.setLabel("bottom", "unpleasant ← → pleasant")
        p.setLabel("left", "calm ← → excited")
        for side in ("bottom", "left"):
            p.getAxis(side).setTicks([[]])
        self.setRange(xRange=(-1.05, 1.05), yRange=(-1.05, 1.05), padding=0)
        self.setMinimumSize(180, 200)
        for x0, y0, x1, y1 in ((-1, 0, 1, 0), (0, -1, 0, 1)):
            self.plot([x0, x1], [y0, y1], pen=pg.mkPen(theme.RAISED, width=1))
        self.words: list[pg.TextItem] = []
        self.trail = pg.ScatterPlotItem(size=7, pen=None)
        self.point = pg.ScatterPlotItem(size=16, pen=pg.mkPen(theme.TEXT, width=1.5))
        # made once: pyqtgraph caches a rendered symbol per brush *object*, so brushes made per
        # draw rendered every point afresh and grew its cache without end
        self._fade = [pg.mkBrush(QColor(127, 209, 255, round(255 * a)))
                      for a in np.linspace(0.1, 0.7, TRAIL)]  # fmt: skip
        self._accent = pg.mkBrush(theme.ACCENT)
        self.addItem(self.trail)
        self.addItem(self.point)
        self.labels: tuple[str, ...] = ()
        self._points = np.zeros((0, 2))
        self.setAccessibleName("Valence and arousal")
        self.setAccessibleDescription(
            "Where the voice sits from unpleasant to pleasant (left to right) and calm to excited "
            f"(bottom to top), derived from the emotions through {affect.SOURCE}"
        )
        self.setToolTip(
            f"Derived, not measured: each emotion placed where people rate its word "
            f"({affect.SOURCE}), weighted by its probability"
        )

    def set_labels(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        for item in self.words:
            self.removeItem(item)
        self.words = []
        for i, (label, (x, y)) in enumerate(zip(labels, affect.coordinates(labels), strict=True)):
            if np.isnan(x):
                continue
            item = pg.TextItem(theme.label_text(label), color=theme.emotion_color(labels, i),
                               anchor=(0.5, 0.5))  # fmt: skip
            item.setPos(x, y)
            self.words.append(item)
            self.addItem(item)
        self.clear_data()

    def clear_data(self) -> None:
        self._points = np.zeros((0, 2))
        self._draw()

    def append(self, probabilities: npt.ArrayLike | None) -> None:
        """Live: the newest window (``None``: silence, which leaves no point)."""
        if probabilities is None:
            return
        xy = affect.position(probabilities, self.labels)
        if np.isfinite(xy).all():
            self._points = np.concatenate([self._points, xy])[-TRAIL:]
            self._draw()

    def show_until(self, probabilities: npt.ArrayLike, k: int) -> None:
        """A recording: the trail of windows up to and including window ``k``."""
        xy = affect.position(probabilities, self.labels)[: k + 1]
        self._points = xy[np.isfinite(xy).all(axis=1)][-TRAIL:]
        self._draw()

    @property
    def current(self) -> Array | None:
        return self._points[-1] if len(self._points) else None

    def _draw(self) -> None:
        n = len(self._points)
        if not n:
            self.trail.setData([], [])
            self.point.setData([], [])
            return
        self.trail.setData(self._points[:, 0], self._points[:, 1], brush=self._fade[-n:])
        x, y = self._points[-1]
        self.point.setData([x], [y], brush=self._accent)
