"""The log-mel spectrogram: scrolling while live, the whole recording in the inspector.

Both show the same log-mel frames the model reads (no second FFT). Live, new columns are coloured
once into a doubled image (each column written twice, ``width`` apart) so that the newest
``width`` columns are always one stretch of it, which Qt draws where it lies: only new columns
are written and coloured, nothing is shifted or converted per frame. The live time axis is
"seconds ago" and never moves, so axes and linked views are not redrawn every frame.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter, QTransform

from app.features import FeatureSettings, hz_to_mel
from app.ui import theme

TICKS_HZ = (100, 250, 500, 1000, 2000, 4000, 8000, 16000)


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


class LiveImage(pg.GraphicsObject):
    """The scrolling image: RGB32 pixels kept coloured, one column per frame.

    Through pyqtgraph's ImageItem every frame coloured all 64x1000 floats again (rescale,
    look-up, an indexed image made RGB32); here a frame colours only its new columns and hands
    Qt a view of the pixels: three new columns and a repaint, offscreen at 900x260, 2.05 ->
    1.13 ms (medians of 200, both in one run).
    """

    def __init__(self, levels: tuple[float, float], colours: npt.NDArray[np.uint8]) -> None:
        super().__init__()
        self.levels = levels
        rgb = colours.astype(np.uint32)
        self.colours = 0xFF000000 | rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]
        self.pixels = np.zeros((0, 0), np.uint32)
        self.start = 0  # the oldest shown column's index in ``pixels``
        self._qimage: QImage | None = None

    def reset(self, rows: int, width: int) -> None:
        """``width`` columns of the lowest level."""
        self.pixels = np.full((rows, 2 * width), self.colours[0], np.uint32)
        self.start = 0
        self._show()

    def append(self, columns: npt.NDArray[np.float32]) -> None:
        """Colour ``columns`` ``(frames, rows)`` and show them newest at the right."""
        width = self.pixels.shape[1] // 2
        columns = columns[-width:]
        if not len(columns):
            return
        lo, hi = self.levels
        index = np.clip((columns.T - lo) * (255 / (hi - lo)), 0, 255).astype(np.uint8)
        slots = (self.start + np.arange(len(columns))) % width
        self.pixels[:, slots] = self.pixels[:, slots + width] = self.colours[index]
        self.start = (self.start + len(columns)) % width
        self._show()

    def _show(self) -> None:
        rows, double = self.pixels.shape
        # rows of ``width`` pixels, ``double`` apart, from ``start``: no copy
        view = self.pixels.reshape(-1)[self.start :]
        self._qimage = QImage(view, double // 2, rows, double * 4, QImage.Format.Format_RGB32)
        self._view = view  # the QImage reads it: kept alive with it
        self.update()

    def boundingRect(self) -> QRectF:
        rows, double = self.pixels.shape
        return QRectF(0, 0, double // 2, rows)

    def paint(self, painter: QPainter, *args: object) -> None:
        if self._qimage is not None:
            painter.drawImage(self.boundingRect(), self._qimage)


class Shade(pg.GraphicsObject):
    """The window the model judges: a translucent band with dashed edges, moved every frame
    while live. Painted directly; a LinearRegionItem (two draggable lines with hover logic)
    made each live frame of the spectrogram 16 % dearer (offscreen, 600 frames interleaved)."""

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
        self.live = LiveImage(theme.SPECTROGRAM_LEVELS, colours)
        self.live.hide()
        self.addItem(self.live)
        self.setAntialiasing(False)  # smoothing a scaled image costs a frame's time and blurs it
        self.region = Shade(settings.n_mels)
        self.region.setZValue(10)
        self.region.hide()
        self.addItem(self.region)
        p = self.getPlotItem()
        theme.still(p)
        p.setLabel("left", "Hz")
        p.getAxis("left").setTicks([self._frequency_ticks()])
        p.getAxis("left").setWidth(theme.AXIS_WIDTH)
        p.showAxis("bottom", False)
        self.setYRange(0, settings.n_mels, padding=0)
        self.columns_shown = 0

    def _frequency_ticks(self) -> list[tuple[float, str]]:
        s = self.settings
        lo, hi = hz_to_mel(s.fmin), hz_to_mel(s.fmax)
        return [
            (
                float((hz_to_mel(hz) - lo) / (hi - lo) * s.n_mels),
                f"{hz / 1000:g}k" if hz >= 1000 else str(hz),
            )
            for hz in TICKS_HZ
            if s.fmin <= hz <= s.fmax
        ]

    @property
    def frame_seconds(self) -> float:
        return self.settings.hop_length / self.settings.sample_rate

    def start_live(self, span_seconds: float) -> None:
        """Empty scrolling display of the last ``span_seconds``."""
        width = max(1, round(span_seconds / self.frame_seconds))
        self.live.reset(self.settings.n_mels, width)
        self.columns_shown = 0
        self.region.hide()
        self.image.clear()
        self.image.hide()
        span = width * self.frame_seconds
        self.live.setTransform(QTransform.fromTranslate(-span, 0).scale(self.frame_seconds, 1))
        self.live.show()
        self.setXRange(-span, 0, padding=0)

    def append(self, columns: npt.NDArray[np.float32]) -> None:
        """Add new log-mel columns ``(frames, n_mels)``; the newest ends at x = 0."""
        self.live.append(columns)
        self.columns_shown += len(columns)

    def show_recording(self, spectrogram: npt.NDArray[np.float32], rate: float) -> None:
        """A whole recording's columns ``(columns, n_mels)`` at ``rate`` columns per second."""
        s = self.settings
        data = np.ascontiguousarray(spectrogram.T, dtype=np.float32)
        self.live.hide()
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
