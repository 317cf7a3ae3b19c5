"""The input level on a dBFS scale, with the range where the model judges well shaded green and
the range close to clipping red."""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QWidget

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
