"""A whole recording's log-mel spectrogram in the inspector, with the selected window shaded:
the same log-mel frames the model reads (no second FFT). Live, :mod:`app.ui.views.strips` draws
it."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter

from app.features import FeatureSettings, hz_to_mel
from app.ui import theme

TICKS_HZ = (100, 250, 500, 1000, 2000, 4000, 8000, 16000)


def frequency_ticks(s: FeatureSettings) -> list[tuple[float, str]]:
    """Round frequencies within the spectrogram, at their mel rows (0 to ``n_mels``)."""
    lo, hi = hz_to_mel(s.fmin), hz_to_mel(s.fmax)
    return [
        (
            float((hz_to_mel(hz) - lo) / (hi - lo) * s.n_mels),
            f"{hz / 1000:g}k" if hz >= 1000 else str(hz),
        )
        for hz in TICKS_HZ
        if s.fmin <= hz <= s.fmax
    ]


class ColourImage(pg.ImageItem):
    """An ImageItem whose float data and 256-entry LUT become an RGB32 image once per update.

    pyqtgraph hands Qt an 8-bit indexed image, which Qt converts on every paint: measured
    offscreen, drawing a 1000x64 spectrogram scaled to the window takes 9 ms that way and under
    1 ms as RGB32 (the conversion itself is a fraction of that, and only happens on new data).
    """

    def render(self) -> None:
        super().render()
        image = cast("QImage | None", getattr(self, "qimage", None))
        if image is not None and image.format() == QImage.Format.Format_Indexed8:
            self.qimage = image.convertToFormat(QImage.Format.Format_RGB32)


class Shade(pg.GraphicsObject):
    """The selected window the model judged: a translucent band with dashed edges, painted
    directly (a LinearRegionItem brings two draggable lines and hover logic it does not need)."""

    def __init__(self, height: float) -> None:
        super().__init__()
        self.height = height
        self.span = (0.0, 0.0)
        self.brush = pg.mkBrush(*theme.WINDOW_REGION)
        self.pen = pg.mkPen(theme.WINDOW_EDGE, width=1.5, style=Qt.PenStyle.DashLine)

    def move_to(self, start: float, end: float) -> None:
        self.prepareGeometryChange()
        self.span = (start, end)
        self.update()

    def boundingRect(self) -> QRectF:
        start, end = self.span
        return QRectF(start, 0, end - start, self.height)

    def paint(self, painter: QPainter, *args: object) -> None:
        box = self.boundingRect()
        painter.fillRect(box, self.brush)
        painter.setPen(self.pen)
        painter.drawLine(box.topLeft(), box.bottomLeft())
        painter.drawLine(box.topRight(), box.bottomRight())


class SpectrogramView(pg.PlotWidget):
    def __init__(self, settings: FeatureSettings) -> None:
        super().__init__()
        theme.describe(self, "Spectrogram", "How loud each frequency is over time (brighter is "
                       "louder); the shaded region is the window the model judges")  # fmt: skip
        self.settings = settings
        colours = theme.lookup_table(theme.SPECTROGRAM_COLORMAP)
        self.image = ColourImage(axisOrder="row-major")  # a whole recording
        self.image.setLookupTable(colours)
        self.image.setLevels(theme.SPECTROGRAM_LEVELS)
        self.addItem(self.image)
        self.setAntialiasing(False)  # smoothing a scaled image costs a frame's time and blurs it
        self.region = Shade(settings.n_mels)
        self.region.setZValue(10)
        self.region.hide()
        self.addItem(self.region)
        p = self.getPlotItem()
        theme.still(p)
        p.setLabel("left", "Hz")
        p.getAxis("left").setTicks([frequency_ticks(settings)])
        p.getAxis("left").setWidth(theme.AXIS_WIDTH)
        p.showAxis("bottom", False)
        self.setYRange(0, settings.n_mels, padding=0)
        self.columns_shown = 0

    def show_recording(self, spectrogram: npt.NDArray[np.floating[Any]], rate: float) -> None:
        """A whole recording's columns ``(columns, n_mels)`` at ``rate`` columns per second."""
        s = self.settings
        data = np.ascontiguousarray(spectrogram.T, dtype=np.float32)
        self.image.show()
        # a long recording has far more columns than pixels: average them rather than alias
        self.image.setAutoDownsample(True)
        self.image.setImage(data, autoLevels=False)
        # a column is drawn ending where its frame ends, like the model windows' end times
        start = (s.n_fft - s.hop_length) / s.sample_rate
        self.image.setRect(QRectF(start, 0, len(spectrogram) / rate, s.n_mels))
        self.columns_shown = len(spectrogram)
        self.region.hide()

    def clear_image(self) -> None:
        self.image.clear()
        self.region.hide()
        self.columns_shown = 0

    def show_window(self, start: float, end: float) -> None:
        """Shade the stretch of audio the shown emotion was computed from."""
        self.region.move_to(start, end)
        self.region.show()
