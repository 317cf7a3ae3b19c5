"""The toolbar: the input picker and the live analysis's hop and smoothing, between the actions
for listening and those for files."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLabel, QSizePolicy, QToolBar, QWidget


class Toolbar(QToolBar):
    def __init__(self, live: list[QAction], files: list[QAction]) -> None:
        """``live`` sits beside the input picker, ``files`` at the far end."""
        super().__init__("Controls")
        self.setObjectName("controls")
        self.setMovable(False)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addWidget(QLabel(" Input "))
        self.devices = QComboBox()
        self.devices.setMinimumWidth(260)
        self.devices.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # Tab reaches it; clicks keep focus
        self.devices.setAccessibleName("Input device")
        self.addWidget(self.devices)
        self.addActions(live)
        self.addSeparator()
        self.addWidget(QLabel(" Hop "))
        self.hop = spin(0.05, 2.0, 0.05, " s", "Hop", "Seconds between two analysed windows")
        self.addWidget(self.hop)
        self.addWidget(QLabel(" Smoothing "))
        self.smoothing = spin(0.0, 0.95, 0.05, "", "Smoothing", "0 = none, 0.9 = very slow")
        self.addWidget(self.smoothing)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.addWidget(spacer)
        self.addActions(files)


def spin(low: float, high: float, step: float, suffix: str, name: str, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setAccessibleName(name)
    spin.setAccessibleDescription(tip)
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setDecimals(2)
    spin.setSuffix(suffix)
    spin.setToolTip(tip)
    spin.setKeyboardTracking(False)
    return spin
