"""The result of analysing a recording, and its plain figures: what the CLI prints as JSON,
what a CSV's rows and the display are made from. No analysis here (app.offline), no Qt."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app import affect
from app.prosody import Prosody
from app.quality import ADVICE, DOUBTFUL, FLAGS, Quality, doubtful

NO_SPEECH = (
    "No speech found, so no emotion to give: the speech detector heard none (noise or music "
    "can cover a voice; record closer to the speaker or in a quieter place)."
)

Array = npt.NDArray[np.float32]


@dataclass
class Analysis:
    """Per model window: end time, speech flag, probabilities (NaN in silence) and attention."""

    labels: tuple[str, ...]
    duration: float
    window_seconds: float
    hop_seconds: float
    ends: npt.NDArray[np.float64]
    speech: npt.NDArray[np.bool_]
    probabilities: Array
    attention: npt.NDArray[np.float16]  # (windows, steps), for display
    spectrogram: npt.NDArray[np.float16]  # (columns, n_mels) log-mel dB, for display
    spectrogram_rate: float  # columns per second
    path: Path | None = None
    adaptation: float = 0.0  # how far the normalisation is the speaker's own: 0 cold
    speaker: str | None = None  # whose statistics: "this file", or the files pooled
    extra: dict[str, Any] = field(default_factory=dict)
    quality: list[Quality] = field(default_factory=list)  # per window
    uncertain_below: float = 0.0  # a top probability under this is "uncertain"
    prosody: list[Prosody] = field(default_factory=list)  # per window
    pitch: Array = field(default_factory=lambda: np.zeros(0, np.float32))  # F0 per frame
    loudness: Array = field(default_factory=lambda: np.zeros(0, np.float32))  # dB per frame
    pitch_range: tuple[float, float, float] | None = None  # the file's 10/50/90 % F0 (Hz)
    distances: Array = field(default_factory=lambda: np.zeros(0, np.float32))  # app.familiar
    voice: str | None = None  # the personal voice that judged it (app.personal), if one
    embeddings: Array = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # if kept

    @property
    def uncertain(self) -> npt.NDArray[np.bool_]:
        """Per window: speech with no emotion clearly ahead, unlike what the model learnt, or
        not judgeable at all (too short, not speech)."""
        top = np.nan_to_num(self.probabilities, nan=1.0).max(axis=1, initial=0.0)
        doubt = np.array([doubtful(q) for q in self.quality], bool)
        return self.speech & ((top < self.uncertain_below) | (doubt if self.quality else False))

    @property
    def overall_uncertain(self) -> bool:
        """The whole recording: speech, but no emotion clearly ahead, or most of its speech
        unlike what the model learnt or not judgeable (:data:`DOUBTFUL` among the file's
        flags)."""
        label, probs = self.overall
        if label is None:
            return False
        flags = self.file_quality()["flags"] if self.quality else []
        return bool(probs.max() < self.uncertain_below or any(f in DOUBTFUL for f in flags))

    def file_quality(self) -> dict[str, Any]:
        """The file's quality over its speech windows (all windows if none): medians, the flags
        raised in at least half of its speech windows, and a note when all its speech is
        flagged. Silence raises no flag."""
        spoken = [q for q, s in zip(self.quality, self.speech, strict=True) if s]
        if not spoken:  # no speech found: too quiet to be heard, or silence
            quiet = sum("too_quiet" in q.flags for q in self.quality) * 2 >= len(self.quality)
            out: dict[str, Any] = {
                **self._medians(self.quality),
                "flags": ["too_quiet"] if quiet else [],
            }
            if quiet:
                out["note"] = f"No speech found, and the input is very quiet: {ADVICE['too_quiet']}"
            else:
                out["note"] = NO_SPEECH
            return {**out, "flagged_share": 0.0}
        flags = [f for f in FLAGS if sum(f in q.flags for q in spoken) * 2 >= len(spoken)]
        share = sum(bool(q.flags) for q in spoken) / len(spoken)
        out = {
            **self._medians(spoken),
            "flags": flags,
            "flagged_share": round(share, 3),
        }
        if share == 1.0:
            first = next(q for q in spoken if q.flags)
            out["note"] = f"All the speech in this file is flagged: {first.advice}"
        elif doubts := [f for f in flags if f in DOUBTFUL]:
            out["note"] = f"Most of the speech in this file is flagged: {ADVICE[doubts[0]]}"
        same = len(self.distances) == len(self.speech)
        far = self.distances[self.speech] if same else self.distances[:0]
        if len(far) and np.isfinite(far).all():
            out["distance"] = round(float(np.median(far)), 3)  # from what it learnt: 1 typical
        return out

    @property
    def overall(self) -> tuple[str | None, Array]:
        """The emotion of the whole recording: mean probabilities of its speech windows."""
        spoken = self.probabilities[self.speech]
        if len(spoken) == 0:
            return None, np.full(len(self.labels), np.nan, np.float32)
        mean = spoken.mean(axis=0)
        return self.labels[int(mean.argmax())], mean.astype(np.float32)

    @staticmethod
    def _medians(windows: list[Quality]) -> dict[str, Any]:
        if not windows:
            return {}
        return {
            "level_db": round(float(np.median([q.level_db for q in windows])), 1),
            "snr_db": round(float(np.median([q.snr_db for q in windows])), 1),
            "clipping": round(float(np.median([q.clipping for q in windows])), 5),
            "bandwidth_hz": round(float(np.nanmedian([q.bandwidth_hz for q in windows]))),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready figures (no spectrogram), finite numbers only (:func:`finite`)."""
        return finite(self._figures())

    def _figures(self) -> dict[str, Any]:
        label, probs = self.overall
        quality: list[Quality | None] = [*self.quality] or [None] * len(self.ends)
        prosody: list[Prosody | None] = [*self.prosody] or [None] * len(self.ends)
        places = affect.position(self.probabilities, self.labels).reshape(-1, 2)
        file_place = affect.position(probs, self.labels)[0]
        return {
            "file": str(self.path) if self.path else None,
            "duration": round(self.duration, 3),
            "labels": list(self.labels),
            "emotion": label,
            "probabilities": _rounded(probs),
            "uncertain": self.overall_uncertain,
            **affect_fields(file_place),
            "quality": self.file_quality() if self.quality else None,
            "window_seconds": self.window_seconds,
            "hop_seconds": self.hop_seconds,
            "pitch_range_hz": [round(f, 1) for f in self.pitch_range] if self.pitch_range else None,
            "normalisation": {
                "mode": "personal" if self.voice else "adapted" if self.adaptation > 0 else "cold",
                "adaptation": round(self.adaptation, 4),
                "speaker": self.speaker,
                **({"voice": self.voice} if self.voice else {}),
            },
            "windows": [
                {
                    "start": round(max(0.0, e - self.window_seconds), 3),
                    "end": round(float(e), 3),
                    "speech": bool(s),
                    "emotion": self.labels[int(p.argmax())] if s else None,
                    "probabilities": _rounded(p) if s else None,
                    "uncertain": bool(u),
                    "quality": q.to_dict() if q else None,
                    "prosody": v.to_dict() if v else None,
                    **affect_fields(xy),
                }
                for e, s, p, u, q, v, xy in zip(
                    self.ends,
                    self.speech,
                    self.probabilities,
                    self.uncertain,
                    quality,
                    prosody,
                    places,
                    strict=True,
                )
            ],
            "affect_source": affect.NOTE,
            **self.extra,
        }


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity (the level of a file of a few samples, a statistic
    of nothing) replaced by None: strict JSON readers refuse them, and one such number made a
    whole ``--json`` array unreadable. A CSV writes None as an empty cell."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def affect_fields(xy: npt.NDArray[np.float64]) -> dict[str, float | None]:
    """Valence and arousal, rounded; None in silence."""
    return {
        k: None if np.isnan(v) else round(float(v), 3)
        for k, v in zip(("valence", "arousal"), xy, strict=True)
    }


def _rounded(values: Array) -> list[float] | None:
    return None if np.isnan(values).any() else [round(float(v), 4) for v in values]
