"""One model window's judgement, the same for the live meter (app.analyzer) and a file's analysis
(app.offline), so the two cannot drift apart: the speech gate, the window's quality, the model's
input, the personal voice, familiarity, prosody and the speaker's pitch range, and uncertainty.

The caller streams the frames, chooses the normalisation (the live meter adapts as it goes, a
file is normalised once) and runs the model (a file runs it on its own threads).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.adapt import Moments, Norm, SpeechFrames
from app.bundle import Bundle
from app.engine import Prediction
from app.features import Pipeline, Windowing, fit_frames, normalise, silence_frame
from app.personal import Voice
from app.prosody import PitchRange, Prosody, summarise
from app.quality import Meter, Quality, doubtful, familiarity

Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Heard:
    """A window before the model: speech or silence, and what the gate made of its frames."""

    speech: bool
    new: Moments  # its voiced frames no earlier window had: what adapting to the speaker adds
    voiced: npt.NDArray[np.bool_]  # per frame of the window, by this window's decision
    quality: Quality  # before familiarity, which needs the model (:meth:`Judge.judged`)


class Judge:
    """The per-window steps of one stream, in order; it keeps the gate, the clipping count
    (:meth:`push` every sample the analysis reads) and the speaker's pitch range."""

    def __init__(self, bundle: Bundle, windowing: Windowing) -> None:
        s = bundle.features
        self.size = windowing.size
        self.uncertain_below = bundle.uncertain_below
        self.speech_frames = SpeechFrames(windowing.gate)
        self.meter = Meter(s, bundle.quality, windowing.size, bundle.speech_check)
        self.pitch_range = PitchRange()
        self._fill = silence_frame(Pipeline(s))
        self._above = bundle.familiarity.unfamiliar_above if bundle.familiarity else None
        self._hop_seconds = s.hop_length / s.sample_rate

    def push(self, samples: Array) -> None:
        self.meter.push(samples)

    def hear(self, features: Array, levels: Array, end: int, provisional: bool = False) -> Heard:
        """The window of ``features`` and frame ``levels`` ending at frame ``end``; a
        ``provisional`` one (shorter than a window, more to come) leaves the gate as it was."""
        frames = copy.deepcopy(self.speech_frames) if provisional else self.speech_frames
        new = frames.update(features, levels, end)
        voiced = frames.gate.voiced(levels)
        quality = self.meter.measure(features, levels, voiced, end)
        return Heard(frames.speaking, new, voiced, quality)

    def model_input(self, features: Array, norm: Norm) -> Array:
        """What the model judges: exactly a window (a short one padded with silence),
        normalised."""
        window = fit_frames(features, self.size, self._fill)
        return normalise(window, norm.mean, norm.std)

    def judged(
        self, prediction: Prediction, quality: Quality, voice: Voice | None = None
    ) -> tuple[Array, Quality]:
        """The window's probabilities (a personal ``voice`` judges instead of the general head)
        and its quality with how familiar the model found it."""
        probabilities = prediction.probabilities
        if voice is not None and prediction.embedding is not None:
            probabilities = voice.judge(prediction.embedding, probabilities)
        return probabilities, familiarity(quality, prediction.distance, self._above)

    def prosody(
        self, f0: Array, loudness: Array, voiced: npt.NDArray[np.bool_], new: int
    ) -> Prosody:
        """The window's prosody from its frames' F0 and loudness; its ``new`` frames (none in an
        earlier window) add their voiced F0 to the speaker's pitch range."""
        if new > 0:
            self.pitch_range.add(f0[-new:][voiced[-new:]])
        return summarise(f0, loudness, voiced, self._hop_seconds)

    def uncertain(self, probabilities: Array | None, quality: Quality) -> bool:
        """Speech (``probabilities``; None in silence) with no emotion clearly ahead, or unlike
        what the model learnt, or not judgeable at all."""
        if probabilities is None:
            return False
        return float(probabilities.max()) < self.uncertain_below or doubtful(quality)
