"""The arrangement both panels share: time views stacked on the left, emotion bars beside them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget


def views_beside_bars(
    spectrogram: QWidget, attention: QWidget, voice: QWidget, timeline: QWidget, bars: QWidget
) -> QSplitter:
    """Spectrogram over its attention strip, the voice's pitch and loudness, and the timeline,
    all sharing one time axis."""
    views = QWidget()
    column = QVBoxLayout(views)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(0)
    column.addWidget(spectrogram, stretch=5)
    column.addWidget(attention)
    column.addWidget(voice, stretch=2)
    column.addSpacing(6)
    column.addWidget(timeline, stretch=3)
    split = QSplitter(Qt.Orientation.Horizontal)
    split.addWidget(views)
    split.addWidget(bars)
    split.setStretchFactor(0, 4)
    split.setStretchFactor(1, 1)
    return split
