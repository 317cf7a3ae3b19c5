"""Pitch and loudness under the spectrogram, on its time axis: why the voice sounds as it does.

Pitch is drawn on voiced frames (Hz; gaps where unvoiced), over a band marking the speaker's
usual range (10th to 90th percentile, once enough voice is heard); loudness is a line on the
right-hand scale (dBFS). A caption gives the analysed window's figures: median pitch, range, tempo.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg

from app.prosody import FMAX_HZ, FMIN_HZ, Prosody
from app.ui import theme

LOUDNESS_DB = (-70.0, 0.0)
PITCH_COLOUR = "#7fd1ff"
LOUDNESS_COLOUR = "#f2b36b"
RANGE_FILL = (127, 209, 255, 30)

Array = npt.NDArray[np.float32]


def caption(p: Prosody | None) -> str:
    """The window's prosody in words; empty when there is none."""
    if p is None or np.isnan(p.pitch_hz):
        return ""
    parts = [f"pitch {p.pitch_hz:.0f} Hz", f"range {p.pitch_range_st:.1f} semitones"]
    if not np.isnan(p.tempo):
        parts.append(f"{p.tempo:.1f} syllables/s")
    if not np.isnan(p.loudness_db):
        parts.append(f"{p.loudness_db:.0f} dBFS")
    return " · ".join(parts)


class VoiceView(pg.PlotWidget):
    def __init__(self) -> None:
        super().__init__()
        p = self.getPlotItem()
        theme.still(p)
        p.getAxis("left").setWidth(theme.AXIS_WIDTH)
        p.setLabel("left", "pitch", units="Hz")
        p.getAxis("left").enableAutoSIPrefix(False)
        p.getAxis("bottom").setStyle(showValues=False)
        self.setYRange(FMIN_HZ, FMAX_HZ, padding=0)
        self.setMinimumHeight(80)
        self.setAntialiasing(False)  # thin lines redrawn ~30 times a second: speed over polish
        self.band = pg.LinearRegionItem(
            orientation="horizontal",
            movable=False,
            brush=pg.mkBrush(RANGE_FILL),
            pen=pg.mkPen(None),
        )
        self.band.setVisible(False)
        self.addItem(self.band)
        self.pitch = self.plot(pen=pg.mkPen(PITCH_COLOUR, width=1), connect="finite")
        self.loudness_box = pg.ViewBox(enableMouse=False)
        p.showAxis("right")
        p.scene().addItem(self.loudness_box)
        p.getAxis("right").linkToView(self.loudness_box)
        p.getAxis("right").setLabel("loudness", units="dBFS")
        p.getAxis("right").enableAutoSIPrefix(False)
        self.loudness_box.setXLink(p)
        self.loudness_box.setYRange(*LOUDNESS_DB, padding=0)
        self.loudness = pg.PlotDataItem(pen=pg.mkPen(LOUDNESS_COLOUR, width=1))
        self.loudness_box.addItem(self.loudness)
        for item in (self.pitch, self.loudness):  # an hour's 360,000 frames draw as fast
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
        p.vb.sigResized.connect(self._fit_overlay)
        self.text = pg.TextItem("", color=theme.TEXT, anchor=(0, 0))
        self.text.setParentItem(p.vb)
        self.text.setPos(4, 2)
        self.setAccessibleName("Pitch and loudness")
        self.setAccessibleDescription(
            "Pitch of the voice in hertz (line), the speaker's usual range (band) and loudness in "
            "dBFS (line) over time, under the spectrogram"
        )

    def _fit_overlay(self) -> None:
        self.loudness_box.setGeometry(self.getPlotItem().vb.sceneBoundingRect())

    def clear_data(self) -> None:
        self.pitch.setData([], [])
        self.loudness.setData([], [])
        self.band.setVisible(False)
        self.text.setText("")

    def show_series(self, times: npt.ArrayLike, f0: Array, loudness: Array) -> None:
        """A recording's tracks, all at once."""
        self.pitch.setData(np.asarray(times, np.float64), np.asarray(f0, np.float32))
        self.loudness.setData(np.asarray(times, np.float64), np.asarray(loudness, np.float32))

    def show_range(self, hz: tuple[float, float, float] | None) -> None:
        """The speaker's usual pitch range (10th and 90th percentile), or none yet."""
        self.band.setVisible(hz is not None)
        if hz is not None:
            self.band.setRegion((hz[0], hz[2]))

    def show_prosody(self, p: Prosody | None) -> None:
        self.text.setText(caption(p))
