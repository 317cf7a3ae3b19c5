"""Adapting to the speaker: their own feature statistics take over from the training ones.

Emotion is a departure from a person's own baseline, so the features are shifted by how the
current speaker's voice departs from the training speakers': their mean over speech frames
(silence never counts: the speech gate decides) minus the training speakers' speech mean. The
shift is weighed by ``n / (n + prior)``, ``n`` speech frames seen and ``prior`` the frames of
``time_constant`` seconds, so a new voice starts cold and is half adapted after that time; the
scale stays the training one (a few seconds of speech say little about a voice's variance).
Training draws the same shift from random subsets of a speaker's clips, so the model works cold,
adapted, and anywhere in between. No Qt here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app import atomic
from app.features import FeatureSettings, Windowing, window_starts
from app.gate import SpeechGate

TIME_CONSTANT = 10.0  # seconds of speech after which the speaker's statistics weigh half
PROFILE_FORMAT = 1

Array = npt.NDArray[np.float32]
Sums = npt.NDArray[np.float64]


class ProfileError(Exception):
    """A voice profile that cannot be read or belongs to another model, with the reason."""


@dataclass(frozen=True)
class Moments:
    """Sufficient statistics of feature frames for their mean: count and sum (float64).

    Adding two gives the statistics of both sets of frames, subtracting removes one (leave one
    out), so running and batch statistics are the same numbers.
    """

    count: int
    total: Sums

    @classmethod
    def empty(cls, n_features: int) -> Moments:
        return cls(0, np.zeros(n_features))

    @classmethod
    def of(cls, frames: Array) -> Moments:
        return cls(len(frames), np.asarray(frames, np.float64).sum(axis=0))

    def __add__(self, other: Moments) -> Moments:
        return Moments(self.count + other.count, self.total + other.total)

    def __sub__(self, other: Moments) -> Moments:
        if other.count > self.count:
            raise ValueError("cannot remove more frames than there are")
        return Moments(self.count - other.count, self.total - other.total)

    @property
    def mean(self) -> Sums:
        return self.total / max(self.count, 1)

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "total": self.total.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Moments:
        count = int(data["count"])
        total = np.asarray(data["total"], np.float64)
        if count < 0 or total.ndim != 1 or not np.isfinite(total).all():
            raise ValueError("inconsistent statistics")
        return cls(count, total)


def pooled(moments: list[Moments]) -> Moments:
    """The statistics of all these sets of frames together."""
    total = moments[0]
    for m in moments[1:]:
        total = total + m
    return total


@dataclass(frozen=True)
class Norm:
    """The normalisation one window gets: ``weight`` 0 is cold, 1 all the speaker's own."""

    mean: Array
    std: Array
    weight: float


@dataclass(frozen=True)
class Population:
    """The training speakers' statistics: the cold normalisation (over all frames) and the mean
    of their speech frames, which a speaker's own speech mean is measured against."""

    mean: Array
    std: Array
    speech_mean: Array

    @property
    def cold(self) -> Norm:
        return Norm(self.mean, self.std, 0.0)


def frames_for(settings: FeatureSettings, seconds: float) -> float:
    """Feature frames in ``seconds`` of audio."""
    return seconds * settings.sample_rate / settings.hop_length


def blend(population: Population, speaker: Moments, prior: float) -> Norm:
    """The cold normalisation shifted by the speaker's departure from the training speakers,
    weighed by the evidence: ``n / (n + prior)``."""
    w = speaker.count / (speaker.count + prior) if speaker.count else 0.0
    if w == 0.0:
        return population.cold
    shift = w * (speaker.mean - population.speech_mean)
    return Norm((population.mean + shift).astype(np.float32), population.std, float(w))


class SpeechFrames:
    """The speech gate run window by window, with the statistics of each window's new voiced
    frames: how the live meter, a file's analysis and training all find a speaker's speech."""

    def __init__(self, gate_frames: int) -> None:
        self.gate = SpeechGate()
        self.gate_frames = gate_frames
        self.seen = 0  # frame index after the last window's end

    def update(self, features: Array, levels: Array, end: int) -> Moments:
        """The window of frames ending at frame ``end``: decide speech, and return the
        statistics of its frames not in an earlier window that the gate calls voiced."""
        self.gate.update(levels, self.gate_frames)
        new = max(0, min(end - self.seen, len(features)))
        self.seen = end
        rows = len(features) - new
        return Moments.of(features[rows:][self.gate.voiced(levels[rows:])])

    @property
    def speaking(self) -> bool:
        return self.gate.is_open


def clip_moments(features: Array, levels: Array, windowing: Windowing) -> Moments:
    """Speech statistics of a clip in memory, window by window as the app would see it."""
    frames = SpeechFrames(windowing.gate)
    total = Moments.empty(features.shape[1])
    size = windowing.size
    for start in window_starts(len(features), size, windowing.hop):
        end = min(int(start) + size, len(features))
        total = total + frames.update(features[start:end], levels[start:end], end)
    return total


class Adapter:
    """The current speaker's statistics and their blend with the bundle's; one thread owns it."""

    def __init__(
        self,
        population: Population,
        settings: FeatureSettings,
        time_constant: float = TIME_CONSTANT,
        enabled: bool = True,
    ) -> None:
        self.population = population
        self.settings = settings
        self.time_constant = time_constant
        self.enabled = enabled
        self.speaker = Moments.empty(len(population.mean))

    @property
    def prior(self) -> float:
        return frames_for(self.settings, self.time_constant)

    def add(self, moments: Moments) -> None:
        self.speaker = self.speaker + moments

    def reset(self, speaker: Moments | None = None) -> None:
        """A new speaker: forget every frame (or start from a saved voice)."""
        self.speaker = speaker if speaker is not None else Moments.empty(len(self.population.mean))

    @property
    def speech_seconds(self) -> float:
        return self.speaker.count / frames_for(self.settings, 1.0)

    def norm(self) -> Norm:
        if not self.enabled:
            return self.population.cold
        return blend(self.population, self.speaker, self.prior)


def save_profile(path: Path, name: str, speaker: Moments, settings: FeatureSettings) -> None:
    """A named voice as JSON (written beside and renamed, never half-written)."""
    data = {
        "format": PROFILE_FORMAT,
        "name": name,
        "features": settings.to_dict(),
        "moments": speaker.to_dict(),
    }
    atomic.write(path, json.dumps(data), sync=True)


def load_profile(path: Path, settings: FeatureSettings) -> tuple[str, Moments]:
    """A saved voice's name and statistics; refused if made for other features."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != PROFILE_FORMAT:
            raise ProfileError(f"{path.name} is not a voice profile this version can read.")
        if FeatureSettings.from_dict(data["features"]) != settings:
            raise ProfileError(
                f"{path.name} was made for a model with other features; start a new voice."
            )
        moments = Moments.from_dict(data["moments"])
        if len(moments.total) != settings.n_features:
            raise ProfileError(f"{path.name} has statistics of the wrong size.")
        return str(data.get("name") or path.stem), moments
    except ProfileError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ProfileError(f"Cannot read the voice profile {path.name}: {e}") from e
