"""Is the sound in a window speech at all? Rhythmic noise, a buzz with a beat or reversed speech
open the speech gate (it hears contrast, not speech), and the model then named an emotion with
confidence; this check says "not speech" instead, so the window is shown as uncertain.

A logistic regression on a few spectral-temporal measures of the window's voiced frames, from the
log-mel and frame levels the analysis already has (0.3 ms a window). Its
parameters are fitted by ``emotion-meter-train speechcheck`` on the training noise recordings
against corpus speech and live in the bundle's ``speech_check`` block: the app holds no constant
of it, and a bundle without the block skips the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

MIN_VOICED = 20  # voiced frames below which a window is not measured (too_short says it)
RHYTHM_HZ = (2.0, 8.0)  # syllable rate: the band of the level's modulation speech fills
MODULATION_HZ = (0.5, 25.0)  # the modulation band it is a share of
RANGE_DB = 50.0  # levels are floored this far below the window's loudest frame: a clip edited
# to end in digital silence fell 80 dB at once, and read as speech played backwards
DB_TO_LN = np.float32(np.log(10) / 10)  # dB to natural log: power is exp(dB * this)
NAMES = ("flatness_db", "shape_change_db", "shape_spread_db", "rhythm_share", "onset_skew")

Array = npt.NDArray[np.float32]


def measures(
    log_mel: Array, levels: Array, voiced: npt.NDArray[np.bool_], rate: float
) -> Array | None:
    """The :data:`NAMES` of a window: how flat its spectrum is, how fast and how far its shape
    moves (formants do; a noise's or a buzz's does not), how much of its loudness moves at the
    syllable rate, and whether it rises faster than it falls (speech starts sharply and dies away;
    reversed, the other way). ``rate``: frames per second. None when too little is voiced."""
    if int(voiced.sum()) < MIN_VOICED:
        return None
    spoken = log_mel[voiced]
    power = np.log(np.mean(np.exp(spoken * DB_TO_LN), axis=1)) / DB_TO_LN  # float32: 0.2 ms
    flatness = float(np.mean(spoken.mean(axis=1) - power))
    shape = log_mel - log_mel.mean(axis=1, keepdims=True)
    steps = np.diff(shape, axis=0)[voiced[1:] & voiced[:-1]]
    change = float(np.sqrt(np.mean(steps * steps, axis=1)).mean()) if len(steps) else 0.0
    spread = float(shape[voiced].std(axis=0).mean())
    spectrum = np.abs(np.fft.rfft(levels - levels.mean())) ** 2
    hz = np.fft.rfftfreq(len(levels), 1 / rate)
    band = spectrum[(hz >= MODULATION_HZ[0]) & (hz <= MODULATION_HZ[1])].sum()
    rhythm = spectrum[(hz >= RHYTHM_HZ[0]) & (hz <= RHYTHM_HZ[1])].sum()
    share = float(rhythm / band) if band > 0 else 0.0
    floored = np.maximum(levels.astype(np.float64), float(levels.max()) - RANGE_DB)
    rises = np.diff(floored)[voiced[1:] | voiced[:-1]]
    sd = rises.std()
    skew = float(np.mean((rises - rises.mean()) ** 3) / sd**3) if sd > 0 else 0.0
    return np.array([flatness, change, spread, share, skew], np.float32)


@dataclass(frozen=True)
class SpeechCheck:
    """The fitted check: standardised :data:`NAMES`, then a logistic regression; a window whose
    probability of speech is under ``below`` is flagged ``not_speech``."""

    mean: Array
    scale: Array
    weights: Array
    bias: float
    below: float

    @classmethod
    def from_meta(cls, block: Any) -> SpeechCheck | None:
        """The bundle's ``speech_check`` block (None: no check); ``ValueError`` saying what is
        wrong with it."""
        if block is None:
            return None
        if not isinstance(block, dict) or tuple(block.get("measures", ())) != NAMES:
            raise ValueError(f"the speech check does not measure {', '.join(NAMES)}")
        try:
            mean, scale, weights = (np.asarray(block[k], np.float32)
                                    for k in ("mean", "scale", "weights"))  # fmt: skip
            found = cls(mean, scale, weights, float(block["bias"]), float(block["below"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"the speech check is incomplete or invalid ({e})") from e
        arrays = (found.mean, found.scale, found.weights)
        if any(a.shape != (len(NAMES),) or not np.isfinite(a).all() for a in arrays) or not (
            (found.scale > 0).all() and np.isfinite(found.bias) and 0 < found.below < 1
        ):
            raise ValueError("the speech check's parameters are not finite, or out of range")
        return found

    def probability(self, values: Array) -> float:
        """How likely a window with these :func:`measures` is speech."""
        z = float(np.dot((values - self.mean) / self.scale, self.weights) + self.bias)
        return float(1 / (1 + np.exp(-np.clip(z, -50, 50))))

    def is_speech(self, values: Array | None) -> bool:
        """Whether the window passes (one too little voiced to measure passes: too_short)."""
        return values is None or self.probability(values) >= self.below
