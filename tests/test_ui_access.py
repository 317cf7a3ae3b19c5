"""An accessible window: every control and view has a name and every view a description for
screen readers, the inspector's cursor moves by keyboard, and the leading emotion can be
announced when it changes (offscreen, real parts)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QProgressBar,
    QSlider,
    QWidget,
)

from app.engine import Engine
from app.ui import theme
from app.ui.driver import Driver
from tests.test_ui import inspecting, make_window

CONTROLS = (QAbstractButton, QAbstractSpinBox, QComboBox, QSlider, QProgressBar, pg.PlotWidget)


def test_every_control_and_view_is_named(qtbot, tmp_path: Path, engine: Engine) -> None:
    window = make_window(qtbot, tmp_path / "s.ini", engine)
    unnamed, undescribed = [], []
    for widget in window.findChildren(QWidget):
        if not isinstance(widget, CONTROLS) or widget.objectName().startswith("qt_"):
            continue  # qt_*: Qt's own overflow buttons, named by Qt's platform layer
        face = QAccessible.queryAccessibleInterface(widget)
        if not (face and face.text(QAccessible.Text.Name)):
            unnamed.append(type(widget).__name__)
        if isinstance(widget, pg.PlotWidget) and not widget.accessibleDescription():
            undescribed.append(widget.accessibleName())
    assert not unnamed and not undescribed, (unnamed, undescribed)
    window.close()


def test_bars_read_out_likeliest_first(qtbot, tmp_path: Path, engine: Engine) -> None:
    window = make_window(qtbot, tmp_path / "s.ini", engine)
    bars = window.live.bars
    p = np.zeros(len(window.labels), np.float32)
    p[[1, 4]] = 0.25, 0.75
    bars.show_probabilities(p)
    said = bars.plot.accessibleDescription()
    first, second = (theme.label_text(window.labels[i]) for i in (4, 1))
    assert said.startswith(f"{first} 75%, {second} 25%")
    bars.show_probabilities(None)
    assert "Silence" in bars.plot.accessibleDescription()
    window.close()


def test_inspector_cursor_moves_by_keyboard(qtbot, tmp_path: Path, engine: Engine, clip: Path):
    window, a = inspecting(qtbot, tmp_path, engine, clip)
    inspector = window.inspector
    inspector.setFocus()
    qtbot.keyClick(inspector, Qt.Key.Key_Home)
    assert inspector.cursor_time == 0.0
    qtbot.keyClick(inspector, Qt.Key.Key_Right)
    qtbot.keyClick(inspector, Qt.Key.Key_Right)
    assert inspector.cursor_time == pytest.approx(2 * a.hop_seconds)
    k = int(np.argmin(np.abs(a.ends - a.window_seconds / 2 - inspector.cursor_time)))
    assert f"{a.ends[k]:.2f} s" in inspector.bars.detail.text()  # the window there is shown
    qtbot.keyClick(inspector, Qt.Key.Key_End)
    assert inspector.cursor_time == pytest.approx(a.duration)
    qtbot.keyClick(inspector, Qt.Key.Key_Left)
    assert inspector.cursor_time == pytest.approx(a.duration - a.hop_seconds)
    window.close()


def test_leading_emotion_is_announced_when_it_changes(
    qtbot, tmp_path: Path, engine: Engine, clip: Path
):
    window = make_window(qtbot, tmp_path / "s.ini", engine)
    driver = Driver(window)
    announcer = window.live.announcer
    assert not window.announce_action.isChecked() and not announcer.enabled  # off by default
    window.announce_action.setChecked(True)
    window.hop_spin.setValue(0.25)
    assert driver.start_file_input(clip, speed=2.0)
    qtbot.waitUntil(lambda: driver.worker is None, timeout=20_000)  # the whole file
    said = announcer.spoken
    words = [theme.label_text(x) for x in window.labels] + ["Uncertain", "Silence"]
    assert said and all(w in words for w in said) and set(said) - {"Silence"}
    assert all(a != b for a, b in itertools.pairwise(said))  # changes only
    window.close()
    again = make_window(qtbot, tmp_path / "s.ini", engine)  # the choice is remembered
    assert again.announce_action.isChecked() and again.live.announcer.enabled
    again.close()
