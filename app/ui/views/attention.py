"""Where in the analysed window the model looked: a heat strip placed under the spectrogram at
exactly the seconds that window covers (the x axes are linked).

The top row is one window's attention (the newest live, the selected one in the inspector); the
bottom row, for a whole recording, is how much attention each moment got across the windows
that saw it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from app.ui import theme
from app.ui.views.spectrogram import ColourImage


class AttentionView(pg.PlotWidget):
    def __init__(self, with_track: bool) -> None:
        super().__init__()
        theme.describe(self, "Model attention", "Which moments of the analysed window the model "
                       "weighed most (brighter is more)")  # fmt: skip
        lut = theme.lookup_table(theme.ATTENTION_COLORMAP)
        self.window_image = ColourImage(axisOrder="row-major")
        self.track_image = ColourImage(axisOrder="row-major")
        for image in (self.window_image, self.track_image):
            image.setLookupTable(lut)
            self.addItem(image)
        self.setAntialiasing(False)
        p = self.getPlotItem()
        theme.still(p)
        left = p.getAxis("left")
        left.setWidth(theme.AXIS_WIDTH)
        left.setTicks([[(1.5, "attention"), *([(0.5, "overall")] if with_track else [])]])
        left.setStyle(tickLength=0)
        p.setLabel("bottom", "seconds")
        self.setYRange(0 if with_track else 1, 2, padding=0)
        self.setFixedHeight(84 if with_track else 62)
        self.has_window = False

    def show_window(self, end: float, seconds: float, attention: npt.NDArray[np.floating]) -> None:
        """One window's attention over ``[end - seconds, end]``, brightest where it looked most."""
        data = np.asarray(attention, np.float32)[None, :]
        top = max(float(data.max()), 1.5 / data.shape[1])  # a flat attention stays dim
        self.window_image.setImage(data, autoLevels=False, levels=(0.0, top))
        self.move_window(end, seconds)
        self.has_window = True

    def move_window(self, end: float, seconds: float) -> None:
        """Shift the window's strip (live: it slides left as time passes)."""
        self.window_image.setRect(QRectF(end - seconds, 1.05, seconds, 0.9))

    def show_track(
        self, ends: npt.NDArray[np.float64], seconds: float, attention: npt.NDArray[np.floating]
    ) -> None:
        """Every window's attention laid over time, averaged where windows overlap."""
        if len(ends) == 0:
            self.track_image.clear()
            return
        steps = attention.shape[1]
        step = seconds / steps
        origin = float(ends[0]) - seconds
        slots = round((float(ends[-1]) - origin) / step)
        total = np.zeros(slots, np.float64)
        count = np.zeros(slots, np.float64)
        for end, weights in zip(ends, attention, strict=True):
            first = round((float(end) - seconds - origin) / step)
            stop = min(slots, first + steps)
            total[first:stop] += weights[: stop - first]
            count[first:stop] += 1
        track = (total / np.maximum(count, 1) * steps).astype(np.float32)[None, :]
        self.track_image.setImage(
            track, autoLevels=False, levels=(0.0, max(1.5, float(track.max())))
        )
        self.track_image.setRect(QRectF(origin, 0.05, slots * step, 0.9))

    def clear_all(self) -> None:
        self.window_image.clear()
        self.track_image.clear()
        self.has_window = False
