"""Speech gate: is anyone speaking in this window? Silence must show as silence, not "neutral".

A frame counts as voiced when it stands out from the tracked noise floor by a margin: speech is
found by its contrast, not by its level, so a quiet microphone (speech at -60 dBFS over a -85 dBFS
floor) is heard as well as a loud one; only digital silence is below every threshold. The
window opens the gate when enough of its newest frames are voiced and closes it (hysteresis)
only when clearly fewer are, so the meter does not flicker at pauses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

GATE_SECONDS = 1.0  # the newest part of a window that decides speech or silence
FLOOR_DB = -90.0  # frames quieter than this are never speech: below a 16-bit converter's noise
MARGIN_DB = 8.0  # above the noise floor: speech in a noisy room (5 dB SNR) still opens
OPEN_FRACTION = 0.2  # of the frames looked at that must be voiced to open the gate
CLOSE_FRACTION = 0.08
NOISE_PERCENTILE = 10
NOISE_RISE_DB = 0.5  # per update: the noise floor creeps up slowly, falls at once


@dataclass
class SpeechGate:
    floor_db: float = FLOOR_DB
    margin_db: float = MARGIN_DB
    open_fraction: float = OPEN_FRACTION
    close_fraction: float = CLOSE_FRACTION
    noise_db: float | None = None
    is_open: bool = False

    def update(self, levels: npt.NDArray[np.float32], recent: int | None = None) -> bool:
        """Feed a window's frame levels (dB); its last ``recent`` frames decide speech or not.

        The whole window feeds the noise-floor estimate: it more likely holds a pause.
        """
        if len(levels) == 0:
            return self.is_open
        k = len(levels) * NOISE_PERCENTILE // 100
        quiet = float(np.partition(levels, k)[k])  # the percentile, without np.percentile's cost
        if self.noise_db is None or quiet < self.noise_db:
            self.noise_db = quiet
        else:
            self.noise_db = min(quiet, self.noise_db + NOISE_RISE_DB)
        voiced = float(np.mean(levels[-(recent or len(levels)) :] > self.threshold))
        self.is_open = voiced >= (self.close_fraction if self.is_open else self.open_fraction)
        return self.is_open

    @property
    def threshold(self) -> float:
        """The level (dB) a frame must exceed to count as voiced."""
        noise = self.floor_db if self.noise_db is None else self.noise_db + self.margin_db
        return max(self.floor_db, noise)

    def voiced(self, levels: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
        """Which of these frames are speech by the last decision: none while the gate is shut."""
        if not self.is_open:
            return np.zeros(len(levels), bool)
        return np.asarray(levels > self.threshold)

    def reset(self) -> None:
        self.noise_db = None
        self.is_open = False
