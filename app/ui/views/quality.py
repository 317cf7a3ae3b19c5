"""The input-quality strip: a level meter with the good range marked, and the SNR, clipping and
bandwidth of the analysed window as numbers; the flags themselves are said by the bars."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.quality import Quality, Thresholds
from app.ui import theme
from app.ui.views.level_meter import LevelMeter


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
