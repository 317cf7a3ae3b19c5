"""Look and feel: a dark theme that lets spectrograms stand out, and one colour per emotion
(:mod:`app.colours`: by convention, and apart for the colour-blind)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication, QGraphicsItem, QLabel, QWidget

from app.colours import emotion_colour

BACKGROUND = "#121419"
PANEL = "#1a1d24"
RAISED = "#242833"
TEXT = "#d7dbe3"
MUTED = "#8a91a0"
ACCENT = "#4cc2ff"
SILENCE = "#6b7280"
WARNING = "#f5b841"  # input quality flags: advice text, flagged stretches of a timeline
AXIS_WIDTH = 70  # px for every plot's left axis, so stacked plots share their x positions
WINDOW_REGION = (255, 255, 255, 22)  # the analysed window over the spectrogram
WINDOW_EDGE = (255, 255, 255, 170)

SPECTROGRAM_LEVELS = (-95.0, 5.0)  # dB of the log-mel display: near silence to loud speech
SPECTROGRAM_COLORMAP = "inferno"
ATTENTION_COLORMAP = "viridis"


def emotion_color(labels: tuple[str, ...], index: int) -> QColor:
    """The colour of the ``index``-th of a bundle's ``labels``, everywhere in the app."""
    return QColor(emotion_colour(labels, index))


def lookup_table(name: str) -> npt.NDArray[np.uint8]:
    """A 256-entry uint8 RGB table: images map through it without per-pixel float colours."""
    return pg.colormap.get(name).getLookupTable(nPts=256, alpha=False).astype(np.uint8)


def label_text(label: str) -> str:
    """How a bundle label is shown to people: ``pleasant_surprise`` → ``Pleasant surprise``."""
    return label.replace("_", " ").strip().capitalize()


def still(plot: pg.PlotItem) -> None:
    """A plot that is read, not navigated: no mouse panning or zooming, no buttons, no menu.
    Its axes are kept as pixmaps, redrawn only when their ticks change: a live view repaints
    ~30 times a second and its axes never move (8 % of a live frame, measured offscreen)."""
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setMenuEnabled(False)
    for name in ("left", "right", "bottom", "top"):
        plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def describe(widget: QWidget, name: str, description: str) -> None:
    """What a screen reader says of ``widget``: its name, then what it shows."""
    widget.setAccessibleName(name)
    widget.setAccessibleDescription(description)


def label(text: str, role: str, centred: bool = False) -> QLabel:
    """A label the style sheet styles by ``role`` (its object name)."""
    widget = QLabel(text)
    widget.setObjectName(role)
    if centred:
        widget.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return widget


def colour(widget: QWidget, colour: str | None) -> None:
    """Text in ``colour`` (None: the style's). Only a change is applied: a new style sheet
    re-polishes the widget and lays its window out again, a cost paid on every result otherwise."""
    sheet = f"color: {colour};" if colour else ""
    if widget.styleSheet() != sheet:
        widget.setStyleSheet(sheet)


def apply(app: QApplication) -> None:
    """Fusion style with a dark palette, plus pyqtgraph defaults to match."""
    app.setStyle("Fusion")
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: PANEL,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: BACKGROUND,
        QPalette.ColorRole.AlternateBase: RAISED,
        QPalette.ColorRole.ToolTipBase: RAISED,
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: RAISED,
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: BACKGROUND,
        QPalette.ColorRole.Link: ACCENT,
        QPalette.ColorRole.PlaceholderText: MUTED,
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(MUTED))
    app.setPalette(p)
    font = QFont(app.font())
    font.setPointSizeF(max(font.pointSizeF(), 10.0))
    app.setFont(font)
    app.setStyleSheet(STYLE)
    configure_plots()


def configure_plots() -> None:
    pg.setConfigOptions(
        background=BACKGROUND, foreground=MUTED, antialias=True, imageAxisOrder="row-major"
    )


STYLE = f"""
QToolBar {{ background: {PANEL}; border: none; border-bottom: 1px solid {RAISED}; spacing: 6px;
            padding: 4px; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; border-top: 1px solid {RAISED}; }}
QStatusBar QLabel {{ color: {MUTED}; padding: 0 8px; }}
QTabWidget::pane {{ border: none; }}
QTabBar::tab {{ background: {PANEL}; color: {MUTED}; padding: 6px 18px; border: none;
               border-bottom: 2px solid transparent; }}
QTabBar::tab:selected {{ color: {TEXT}; border-bottom: 2px solid {ACCENT}; }}
QProgressBar {{ background: {BACKGROUND}; border: 1px solid {RAISED}; border-radius: 3px;
               color: {TEXT}; text-align: center; max-height: 14px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 2px; }}
QPushButton, QToolButton {{ padding: 4px 10px; }}
QToolButton:checked {{ background: #7f1d1d; }}
QLabel#winner {{ font-size: 30pt; font-weight: 700; }}
QLabel#winnerDetail {{ color: {MUTED}; font-size: 11pt; }}
QLabel#fileTitle {{ font-size: 12pt; font-weight: 600; }}
QLabel#hint {{ color: {MUTED}; font-size: 11pt; }}
QLabel#advice {{ color: {WARNING}; font-size: 11pt; font-weight: 600; }}
QLabel#quality {{ color: {MUTED}; font-size: 10pt; }}
"""
