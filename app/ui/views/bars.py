"""The answer at a glance: the winning emotion in large type, and every label's probability.

"Silence" replaces the answer while the speech gate is closed, so silence never reads as calm
or neutral; "Uncertain" replaces it when no emotion is clearly ahead; and when the sound is
outside what the model can judge the bars dim and one sentence says why and what to do.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.ui import theme

LABEL_WIDTH = 84  # pixels for the emotion names beside the bars


class EmotionBars(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.winner = theme.label("—", "winner", centred=True)
        self.detail = theme.label("", "winnerDetail", centred=True)
        self.detail.setWordWrap(True)
        self.advice = theme.label("", "advice", centred=True)
        self.advice.setWordWrap(True)
        self.advice.setAccessibleName("Input quality advice")
        self.plot = pg.PlotWidget()
        theme.describe(self.plot, "Emotion probabilities", "No result yet")
        p = self.plot.getPlotItem()
        theme.still(p)
        p.hideAxis("bottom")
        p.getAxis("left").setStyle(tickLength=0)
        p.getAxis("left").setTextPen(theme.TEXT)
        p.getAxis("left").setWidth(LABEL_WIDTH)  # sized while hidden, it would drop labels
        self.plot.setXRange(0, 1.18, padding=0)
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.68, width=[], pen=None)
        self.plot.addItem(self.bars)
        self.texts: list[pg.TextItem] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 12, 8, 8)
        layout.addWidget(self.winner)
        layout.addWidget(self.detail)
        layout.addWidget(self.advice)
        layout.addWidget(self.plot, stretch=1)
        self.labels: tuple[str, ...] = ()
        self.setMinimumWidth(280)
        self.show_message("—", "")

    def set_labels(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        for text in self.texts:
            self.plot.removeItem(text)
        n = len(labels)
        self.texts = [pg.TextItem("", color=theme.MUTED, anchor=(0, 0.5)) for _ in labels]
        for text in self.texts:
            self.plot.addItem(text)
        self.plot.getAxis("left").setTicks(
            [[(n - 1 - i, theme.label_text(label)) for i, label in enumerate(labels)]]
        )
        self.plot.setYRange(-0.6, n - 0.4, padding=0)
        self._draw(np.zeros(n, np.float32))

    def _draw(self, probabilities: npt.NDArray[np.float32], dim: bool = False) -> None:
        n = len(self.labels)
        brushes = []
        for i in range(n):
            colour = theme.emotion_color(self.labels, i)
            colour.setAlpha(90 if dim else 255)
            brushes.append(pg.mkBrush(colour))
        self.bars.setOpts(
            x0=np.zeros(n),
            y=n - 1 - np.arange(n),
            width=probabilities,
            brushes=brushes,
        )
        for i, (text, p) in enumerate(zip(self.texts, probabilities, strict=True)):
            text.setText(f"{p:.0%}" if p > 0 else "")
            text.setPos(float(p) + 0.02, n - 1 - i)

    def show_probabilities(
        self,
        probabilities: npt.NDArray[np.float32] | None,
        detail: str = "",
        advice: str = "",
        uncertain: bool = False,
    ) -> None:
        """One window's probabilities, or ``None`` for silence; ``advice``: the sound is outside
        what the model can judge (the bars dim), or too quiet to find speech in;
        ``uncertain``: no emotion clearly ahead."""
        self.advice.setText(advice)
        self.plot.setAccessibleDescription(self.spoken(probabilities))
        if probabilities is None:
            self.winner.setText("Silence")
            self._colour(theme.SILENCE)
            self.detail.setText(detail or "no speech detected")
            self._draw(np.zeros(len(self.labels), np.float32))
            return
        best = int(np.argmax(probabilities))
        top = f"{theme.label_text(self.labels[best])} {probabilities[best]:.0%}"
        if uncertain:
            self.winner.setText("Uncertain")
            self._colour(theme.MUTED)
            self.detail.setText(f"no emotion clearly ahead (top: {top})"
                                + (f" · {detail}" if detail else ""))  # fmt: skip
        else:
            self.winner.setText(theme.label_text(self.labels[best]))
            self._colour(theme.MUTED if advice else theme.emotion_color(self.labels, best).name())
            self.detail.setText(f"{probabilities[best]:.0%}" + (f" · {detail}" if detail else ""))
        self._draw(np.asarray(probabilities, np.float32), dim=bool(advice) or uncertain)

    def spoken(self, probabilities: npt.NDArray[np.float32] | None) -> str:
        """The bars in words, likeliest first: what a screen reader reads."""
        if probabilities is None:
            return "Silence: no speech detected"
        order = np.argsort(probabilities)[::-1]
        return ", ".join(
            f"{theme.label_text(self.labels[i])} {probabilities[i]:.0%}" for i in order
        )

    def show_message(self, headline: str, detail: str) -> None:
        """A state rather than an answer: ready, analysing, no model…"""
        self.winner.setText(headline)
        self._colour(theme.MUTED)
        self.detail.setText(detail)
        self.advice.setText("")
        self._draw(np.zeros(len(self.labels), np.float32), dim=True)

    def _colour(self, colour: str) -> None:
        theme.colour(self.winner, colour)
