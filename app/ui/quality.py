"""The input-quality strip: a level meter with the good range marked, and the SNR, clipping and
bandwidth of the analysed window as numbers; the flags themselves are said by the bars."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.quality import Quality, Thresholds
from app.ui import theme

SCALE_DB = (-90.0, 0.0)  # the meter's span, dBFS
LOUD_DB = -3.0  # above this the input is close to clipping
GOOD = QColor(108, 194, 74, 70)
HOT = QColor(239, 91, 91, 140)


class LevelMeter(QWidget):
    """Speech level on a dBFS scale; the range where the model judges well is shaded."""

    def __init__(self, quiet_db: float | None) -> None:
        super().__init__()
        self.quiet_db = SCALE_DB[0] if quiet_db is None else quiet_db
        self.level_db: float | None = None
        self.setMinimumSize(120, 14)
        self.setMaximumHeight(16)
        self.setAccessibleName("Input level")

    def set_level(self, db: float | None) -> None:
        if db != self.level_db:
            self.level_db = db
            self.setAccessibleDescription("no signal" if db is None else f"{db:.0f} dBFS")
            self.update()

    def _x(self, db: float) -> float:
        low, high = SCALE_DB
        return (min(max(db, low), high) - low) / (high - low) * self.width()

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        h = self.height()
        p.fillRect(self.rect(), QColor(theme.BACKGROUND))
        p.fillRect(QRectF(self._x(self.quiet_db), 0, self._x(LOUD_DB) - self._x(self.quiet_db), h),
                   GOOD)  # fmt: skip
        p.fillRect(QRectF(self._x(LOUD_DB), 0, self.width() - self._x(LOUD_DB), h), HOT)
        if self.level_db is not None:
            p.fillRect(QRectF(0, h * 0.3, self._x(self.level_db), h * 0.4), QColor(theme.TEXT))
        p.setPen(QColor(theme.RAISED))
        p.drawRect(self.rect().adjusted(0, 0, -1, -1))
        p.end()


class QualityStrip(QWidget):
    def __init__(self, thresholds: Thresholds) -> None:
        super().__init__()
        self.meter = LevelMeter(thresholds.too_quiet_db)
        self.meter.setToolTip("Speech level; the green range is where the model judges well, "
                              "red is close to clipping")  # fmt: skip
        self.figures = theme.label("", "quality")
        self.figures.setAccessibleName("Input quality")
        self.figures.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.figures.setWordWrap(True)
        layout = QVBoxLayout(self)  # the figures under the meter: the side column is narrow
        layout.setContentsMargins(8, 0, 8, 0)
        layout.addWidget(self.meter)
        layout.addWidget(self.figures)
        self.show_quality(None)

    def show_quality(self, q: Quality | None) -> None:
        """The analysed window's quality; ``None`` before the first result."""
        self.meter.set_level(None if q is None else q.level_db)
        theme.colour(self.figures, theme.WARNING if q is not None and q.flags else None)
        if q is None:
            self.figures.setText("level —")
            return
        band = f"{q.bandwidth_hz / 1000:.1f} kHz" if q.bandwidth_hz == q.bandwidth_hz else "—"
        self.figures.setText(f"{q.level_db:.0f} dBFS · SNR {q.snr_db:.0f} dB · "
                             f"clip {q.clipping:.1%} · {band}")  # fmt: skip
