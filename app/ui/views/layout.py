"""The arrangement both panels share: time views stacked on the left, emotion bars beside them."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget


def views_beside_bars(
    strips: Sequence[tuple[QWidget, int]], timeline: QWidget, bars: QWidget
) -> QSplitter:
    """The views of the sound on one time axis (spectrogram, attention, pitch and loudness; each
    with its stretch) over the emotion timeline, the bars beside them."""
    views = QWidget()
    column = QVBoxLayout(views)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(0)
    for widget, stretch in strips:
        column.addWidget(widget, stretch=stretch)
    column.addSpacing(6)
    column.addWidget(timeline, stretch=3)
    split = QSplitter(Qt.Orientation.Horizontal)
    split.addWidget(views)
    split.addWidget(bars)
    split.setStretchFactor(0, 4)
    split.setStretchFactor(1, 1)
    return split
