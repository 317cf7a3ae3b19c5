"""The log-mel spectrogram: scrolling while live, the whole recording in the inspector.

Both show the same log-mel frames the model reads (no second FFT). Live, new columns go into a
doubled buffer (each column written twice, ``width`` apart) so that the newest ``width`` columns
are always one contiguous slice: only new columns are written, nothing is shifted. The live time
axis is "seconds ago" and never moves, so axes and linked views are not redrawn every frame.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage

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


class SpectrogramView(pg.PlotWidget):
    def __init__(self, settings: FeatureSettings) -> None:
        super().__init__()
        theme.describe(self, "Spectrogram", "How loud each frequency is over time (brighter is "
                       "louder); the shaded region is the window the model judges")  # fmt: skip
        self.settings = settings
        self.image = ColourImage(axisOrder="row-major")
        self.image.setLookupTable(theme.lookup_table(theme.SPECTROGRAM_COLORMAP))
        self.image.setLevels(theme.SPECTROGRAM_LEVELS)
        self.addItem(self.image)
        self.setAntialiasing(False)  # smoothing a scaled image costs a frame's time and blurs it
        edge = pg.mkPen(theme.WINDOW_EDGE, width=1.5, style=Qt.PenStyle.DashLine)
        self.region = pg.LinearRegionItem(
            movable=False, brush=pg.mkBrush(*theme.WINDOW_REGION), pen=edge
        )
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
        self._buffer = np.zeros((settings.n_mels, 0), np.float32)
        self._next = 0
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
        self._buffer = np.full(
            (self.settings.n_mels, 2 * width), theme.SPECTROGRAM_LEVELS[0], np.float32
        )
        self._next = 0
        self.columns_shown = 0
        self.region.hide()
        self.image.setAutoDownsample(False)
        span = width * self.frame_seconds
        self.image.setRect(QRectF(-span, 0, span, self.settings.n_mels))
        self.setXRange(-span, 0, padding=0)
        self._show_live()

    def append(self, columns: npt.NDArray[np.float32]) -> None:
        """Add new log-mel columns ``(frames, n_mels)``; the newest ends at x = 0."""
        width = self._buffer.shape[1] // 2
        columns = columns[-width:]
        k = len(columns)
        if k:
            slots = (self._next + np.arange(k)) % width
            self._buffer[:, slots] = columns.T
            self._buffer[:, slots + width] = columns.T
            self._next = (self._next + k) % width
            self.columns_shown += k
        self._show_live()

    def _show_live(self) -> None:
        width = self._buffer.shape[1] // 2
        self.image.setImage(self._buffer[:, self._next : self._next + width], autoLevels=False)

    def show_recording(self, spectrogram: npt.NDArray[np.float32], rate: float) -> None:
        """A whole recording's columns ``(columns, n_mels)`` at ``rate`` columns per second."""
        s = self.settings
        data = np.ascontiguousarray(spectrogram.T, dtype=np.float32)
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
        self.region.setRegion((start, end))
        self.region.show()
