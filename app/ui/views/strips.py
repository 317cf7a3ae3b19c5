"""The live strips: the last seconds of the spectrogram with the analysed window shaded, that
window's attention under it, and the voice's pitch and loudness, on one time axis in one widget.

They scroll ~30 times a second, so each frame is one plain paint: the axes from a pixmap made
when the size changes, the spectrogram's pixels (only new columns are coloured), a band, a
strip and two lines. As three pyqtgraph plots, every frame went through three graphics scenes
and rebuilt both lines through pyqtgraph's data pipeline, most of the GUI thread's time.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QRegion,
    QResizeEvent,
    QStaticText,
    QTransform,
)
from PySide6.QtWidgets import QWidget

from app.features import FeatureSettings
from app.prosody import FMAX_HZ, FMIN_HZ, Prosody
from app.ui import theme
from app.ui.views.prosody import LOUDNESS_COLOUR, LOUDNESS_DB, PITCH_COLOUR, RANGE_FILL, caption
from app.ui.views.spectrogram import frequency_ticks

SECONDS = 10.0  # of audio shown
PITCH_TICKS_HZ = (100, 200, 300, 400)
LOUDNESS_TICKS_DB = (-60, -40, -20, 0)
RIGHT = 56  # px for the loudness scale
ATTENTION_HEIGHT = 16
AXIS_HEIGHT = 22  # the time axis's labels
GAP = 6  # between strips
CHUNK_SECONDS = 0.5  # a voice line's points are made into a path once per chunk of this

Array = npt.NDArray[np.float32]


def packed(colours: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]:
    """A ``(256, 3)`` colour table as RGB32 pixels."""
    rgb = colours.astype(np.uint32)
    return np.uint32(0xFF000000) | rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]


class Scroll:
    """The spectrogram's pixels, kept coloured: each column is written twice, ``width`` apart,
    so the newest ``width`` columns are always one stretch of memory that a QImage views
    without a copy. Only new columns are coloured; nothing is shifted."""

    def __init__(self, levels: tuple[float, float], colours: npt.NDArray[np.uint8]) -> None:
        self.levels = levels
        self.colours = packed(colours)
        self.reset(1, 1)

    def reset(self, rows: int, width: int) -> None:
        """``width`` columns of the lowest level."""
        self.pixels = np.full((rows, 2 * width), self.colours[0], np.uint32)
        self.start = 0  # the oldest shown column's index in ``pixels``
        self._view()

    def append(self, columns: Array) -> None:
        """Colour ``columns`` ``(frames, rows)``, newest last, and shift the view to them."""
        width = self.pixels.shape[1] // 2
        columns = columns[-width:]
        if not len(columns):
            return
        lo, hi = self.levels
        # the image's top row is the highest mel band
        index = np.clip((columns.T[::-1] - lo) * (255 / (hi - lo)), 0, 255).astype(np.uint8)
        slots = (self.start + np.arange(len(columns))) % width
        self.pixels[:, slots] = self.pixels[:, slots + width] = self.colours[index]
        self.start = (self.start + len(columns)) % width
        self._view()

    def _view(self) -> None:
        rows, double = self.pixels.shape
        self._memory = self.pixels.reshape(-1)[self.start :]  # kept alive with the image
        self.image = QImage(
            self._memory.data, double // 2, rows, double * 4, QImage.Format.Format_RGB32
        )


class Trace:
    """A line that scrolls, as painter paths in (stream seconds, value) that the painter's
    transform places: a frame's points join the open chunk, and a chunk of
    :data:`CHUNK_SECONDS` is closed into the line's joined path, so a frame builds a few points
    instead of the whole line (10 s of frames through arrayToQPath, twice, was half of a
    frame's paint)."""

    def __init__(self) -> None:
        self._closed: list[tuple[float, QPainterPath]] = []  # each chunk's last time, its path
        self.joined = QPainterPath()  # the closed chunks
        self.open = QPainterPath()  # the newest points
        self._t = np.zeros(0)
        self._v = np.zeros(0)

    def append(self, times: npt.NDArray[np.float64], values: Array) -> None:
        self._t = np.concatenate([self._t, times])
        self._v = np.concatenate([self._v, values])
        if len(self._t) and self._t[-1] - self._t[0] >= CHUNK_SECONDS:
            self._closed.append((float(self._t[-1]), _path(self._t, self._v)))
            self._join()
            self._t, self._v = self._t[-1:], self._v[-1:]  # the next chunk goes on from here
        self.open = _path(self._t, self._v)

    def trim(self, before: float) -> None:
        """Forget the chunks that end before ``before`` (scrolled out of sight)."""
        kept = [c for c in self._closed if c[0] >= before]
        if len(kept) < len(self._closed):
            self._closed = kept
            self._join()

    def _join(self) -> None:
        self.joined = QPainterPath()
        for _, path in self._closed:
            self.joined.addPath(path)


def _path(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> QPainterPath:
    """A line through the points, broken where a value is not finite (unvoiced)."""
    return pg.arrayToQPath(x, y, connect="finite") if len(x) else QPainterPath()


class LiveStrips(QWidget):
    def __init__(self, settings: FeatureSettings, seconds: float = SECONDS) -> None:
        super().__init__()
        theme.describe(self, "Spectrogram, attention, pitch and loudness",
                       "The last seconds of sound: how loud each frequency is (brighter is "
                       "louder) with the window the model judges shaded, where in that window "
                       "it looked (brighter is more), and the voice's pitch in hertz and "
                       "loudness in dBFS")  # fmt: skip
        self.setToolTip("Newest sound at the right; the shaded stretch is what the model judged")
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # every pixel is painted
        self.setMinimumHeight(240)
        self.settings = settings
        self.seconds = seconds
        self.spectrum = Scroll(
            theme.SPECTROGRAM_LEVELS, theme.lookup_table(theme.SPECTROGRAM_COLORMAP)
        )
        self.heat = packed(theme.lookup_table(theme.ATTENTION_COLORMAP))
        self.small = QFont(self.font())
        self.small.setPointSizeF(self.font().pointSizeF() * 0.85)
        self.band_brush = QColor(*RANGE_FILL)
        self.shade_brush = QColor(*theme.WINDOW_REGION)
        self.shade_pen = QPen(QColor(*theme.WINDOW_EDGE), 1.5, Qt.PenStyle.DashLine)
        self.pitch_pen = QPen(QColor(PITCH_COLOUR), 1)
        self.loudness_pen = QPen(QColor(LOUDNESS_COLOUR), 1)
        for pen in (self.pitch_pen, self.loudness_pen):
            pen.setCosmetic(True)  # one pixel wide whatever the transform that places the line
        self._axes: QPixmap | None = None
        self._layout()
        self.reset()

    @property
    def frame_seconds(self) -> float:
        return self.settings.hop_length / self.settings.sample_rate

    def reset(self) -> None:
        """Empty strips: a new session."""
        width = max(1, round(self.seconds / self.frame_seconds))
        self.spectrum.reset(self.settings.n_mels, width)
        self.columns_shown = 0
        self.judged: tuple[float, float] | None = None  # seconds ago: the analysed window
        self.attention: Array | None = None
        self._heat: QImage | None = None
        self.times = np.zeros(0)  # stream seconds of each voice frame
        self.f0 = np.zeros(0, np.float32)
        self.loudness = np.zeros(0, np.float32)
        self.pitch_trace, self.loudness_trace = Trace(), Trace()
        self.origin = 0.0  # the stream time drawn at the right edge
        self.pitch_range: tuple[float, float, float] | None = None
        self.caption = ""
        self._caption = QStaticText("")
        self.update()  # all of it

    def append_columns(self, columns: Array) -> None:
        """New log-mel columns ``(frames, n_mels)``; the newest ends at the right edge."""
        self.spectrum.append(columns)
        self.columns_shown += len(columns)
        self.update(self._moving)

    def append_voice(self, times: npt.ArrayLike, f0: Array, loudness: Array, origin: float) -> None:
        """Pitch (Hz, NaN unvoiced) and loudness (dB) of frames at stream ``times``; ``origin``
        is the stream time now drawn at the right edge."""
        t = np.asarray(times, np.float64)
        self.times = np.concatenate([self.times, t])
        self.f0 = np.concatenate([self.f0, f0])
        self.loudness = np.concatenate([self.loudness, loudness])
        self.pitch_trace.append(t, f0)
        self.loudness_trace.append(t, loudness)
        shown = origin - self.seconds - self.frame_seconds
        old = int(np.searchsorted(self.times, shown))
        self.times, self.f0, self.loudness = self.times[old:], self.f0[old:], self.loudness[old:]
        self.pitch_trace.trim(shown)
        self.loudness_trace.trim(shown)
        self.origin = origin
        self.update(self._moving)

    def show_window(self, start: float, end: float) -> None:
        """Shade the analysed window, ``start`` to ``end`` seconds ago (negative)."""
        self.judged = (start, end)
        self.update(self._moving)

    def show_attention(self, attention: Array) -> None:
        """The analysed window's attention over its time steps, brightest where it looked most
        (a flat attention stays dim)."""
        self.attention = np.asarray(attention, np.float32)
        top = max(float(self.attention.max()), 1.5 / len(self.attention))
        index = np.clip(self.attention * (255 / top), 0, 255).astype(np.uint8)
        pixels = np.ascontiguousarray(self.heat[index][None, :])
        self._heat = QImage(
            pixels.data, len(index), 1, len(index) * 4, QImage.Format.Format_RGB32
        ).copy()
        self.update(self._moving)

    def show_range(self, hz: tuple[float, float, float] | None) -> None:
        """The speaker's usual pitch range (10th, 50th, 90th percentile), or none yet."""
        self.pitch_range = hz
        self.update(self._moving)

    def show_prosody(self, p: Prosody | None) -> None:
        """The analysed window's pitch, range, tempo and loudness in words."""
        text = caption(p)
        if text != self.caption:
            self.caption = text
            self._caption = QStaticText(text)
            self._caption.prepare(font=self.small)
            self.update(self._moving)

    # geometry: seconds ago and values to pixels

    def _layout(self) -> None:
        w, h = self.width(), self.height()
        left, right = theme.AXIS_WIDTH, max(theme.AXIS_WIDTH + 1, w - RIGHT)
        rest = max(2, h - ATTENTION_HEIGHT - AXIS_HEIGHT - 2 * GAP)
        spectrogram = round(rest * 5 / 7)
        self.spectrogram_rect = QRectF(left, 0, right - left, spectrogram)
        top = spectrogram + GAP // 2
        self.attention_rect = QRectF(left, top, right - left, ATTENTION_HEIGHT)
        top += ATTENTION_HEIGHT + GAP
        self.voice_rect = QRectF(left, top, right - left, rest - spectrogram)
        self._image = QRegion(self.spectrogram_rect.toAlignedRect())
        # what a frame repaints: the axes around it stay on screen as they are
        self._moving = self._image.united(self.attention_rect.toAlignedRect()).united(
            self.voice_rect.toAlignedRect()
        )

    def x_at(self, seconds_ago: npt.ArrayLike) -> npt.NDArray[np.float64]:
        r = self.spectrogram_rect
        return r.left() + (np.asarray(seconds_ago, np.float64) / self.seconds + 1) * r.width()

    def _y(self, value: npt.ArrayLike, lo: float, hi: float) -> npt.NDArray[np.float64]:
        r = self.voice_rect
        return r.bottom() - (np.asarray(value, np.float64) - lo) / (hi - lo) * r.height()

    def _placing(self, lo: float, hi: float) -> QTransform:
        """(stream seconds, value from ``lo`` to ``hi``) to pixels of the voice strip: the same
        as :meth:`x` and :meth:`_y`."""
        r = self.voice_rect
        sx = self.spectrogram_rect.width() / self.seconds
        sy = -r.height() / (hi - lo)
        dx = self.spectrogram_rect.right() - self.origin * sx
        return QTransform(sx, 0.0, 0.0, sy, dx, r.bottom() - lo * sy)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._layout()
        self._axes = None
        super().resizeEvent(event)

    # painting

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._axes is None:
            self._axes = self._draw_axes()
        p = QPainter(self)
        p.setClipRegion(event.region().subtracted(self._image))  # the image covers its own
        p.drawPixmap(0, 0, self._axes)
        p.setClipping(False)
        p.drawImage(self.spectrogram_rect, self.spectrum.image)
        p.setClipRect(self.spectrogram_rect)
        if self.judged is not None:
            start, end = (float(v) for v in self.x_at(self.judged))
            r = self.spectrogram_rect
            shade = QRectF(start, r.top(), end - start, r.height())
            p.fillRect(shade, self.shade_brush)
            p.setPen(self.shade_pen)
            p.drawLine(shade.topLeft(), shade.bottomLeft())
            p.drawLine(shade.topRight(), shade.bottomRight())
            if self._heat is not None:
                a = self.attention_rect
                p.setClipRect(a)
                p.drawImage(QRectF(start, a.top(), end - start, a.height()), self._heat)
        self._paint_voice(p)
        p.end()

    def _paint_voice(self, p: QPainter) -> None:
        r = self.voice_rect
        p.setClipRect(r)
        if self.pitch_range is not None:
            low, _, high = self.pitch_range
            top, bottom = self._y([high, low], FMIN_HZ, FMAX_HZ)
            p.fillRect(QRectF(r.left(), top, r.width(), bottom - top), self.band_brush)
        lines = ((self.pitch_trace, self.pitch_pen, (FMIN_HZ, FMAX_HZ)),
                 (self.loudness_trace, self.loudness_pen, LOUDNESS_DB))  # fmt: skip
        for trace, pen, (lo, hi) in lines:
            p.setTransform(self._placing(lo, hi))
            p.setPen(pen)
            p.drawPath(trace.joined)
            p.drawPath(trace.open)
        p.resetTransform()
        if self.caption:
            p.setFont(self.small)
            p.setPen(QColor(theme.TEXT))
            p.drawStaticText(QPointF(r.left() + 4, r.top() + 2), self._caption)

    def _draw_axes(self) -> QPixmap:
        """Everything that does not move: background, scales and their names."""
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap(self.size() * ratio)
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(QColor(theme.BACKGROUND))
        p = QPainter(pixmap)
        p.setFont(self.small)
        p.setPen(QColor(theme.MUTED))
        spec, voice, att = self.spectrogram_rect, self.voice_rect, self.attention_rect
        for row, text in frequency_ticks(self.settings):
            y = spec.bottom() - row / self.settings.n_mels * spec.height()
            self._tick(p, spec.left(), y, text)
        for hz in PITCH_TICKS_HZ:
            self._tick(p, voice.left(), float(self._y(hz, FMIN_HZ, FMAX_HZ)), str(hz))
        for db in LOUDNESS_TICKS_DB:
            self._tick(p, voice.right(), float(self._y(db, *LOUDNESS_DB)), str(db), right=True)
        self._name(p, spec, "Hz", spec.left() - 52)
        self._name(p, voice, "pitch (Hz)", voice.left() - 52)
        self._name(p, voice, "loudness (dBFS)", voice.right() + 46)
        title = QRectF(0, att.top(), att.left() - 8, att.height())
        p.drawText(title, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, "attention")
        bottom = voice.bottom()
        p.drawLine(QPointF(voice.left(), bottom), QPointF(voice.right(), bottom))
        for ago in range(-int(self.seconds), 1):
            x = float(self.x_at(ago))
            p.drawLine(QPointF(x, bottom), QPointF(x, bottom + 4))
            if ago % 2 == 0:
                label = QRectF(x - 20, bottom + 4, 40, AXIS_HEIGHT - 4)
                p.drawText(label, Qt.AlignmentFlag.AlignHCenter, f"{ago:g}" if ago else "now")
        name = QRectF(0, bottom + 4, voice.left() - 24, AXIS_HEIGHT - 4)  # clear of "-10"
        p.drawText(name, Qt.AlignmentFlag.AlignRight, "seconds")
        p.end()
        return pixmap

    @staticmethod
    def _tick(p: QPainter, x: float, y: float, text: str, right: bool = False) -> None:
        """A tick and its value beside the scale at ``x``: outside on the left, or the right."""
        side = 1 if right else -1
        p.drawLine(QPointF(x, y), QPointF(x + 4 * side, y))
        box = QRectF(x + 6, y - 8, RIGHT - 8, 16) if right else QRectF(x - 40, y - 8, 34, 16)
        align = Qt.AlignmentFlag.AlignLeft if right else Qt.AlignmentFlag.AlignRight
        p.drawText(box, align | Qt.AlignmentFlag.AlignVCenter, text)

    @staticmethod
    def _name(p: QPainter, rect: QRectF, text: str, x: float) -> None:
        """A scale's name, written upwards at ``x`` beside ``rect``'s middle."""
        p.save()
        p.translate(x, rect.center().y())
        p.rotate(-90)
        p.drawText(
            QRectF(-rect.height() / 2, -8, rect.height(), 16), Qt.AlignmentFlag.AlignCenter, text
        )
        p.restore()
