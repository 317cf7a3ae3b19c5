"""Analysis of a whole recording: every model window, decoded in blocks so memory stays bounded.

The frames come from the same streaming pipeline the live meter uses, so a file and the same
audio spoken into the microphone give the same windows.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.audio import files
from app.engine import Engine
from app.features import FrameStream, Pipeline, hop_frames, silence_frame, windows
from app.gate import SpeechGate

GATE_SECONDS = 1.0  # the newest part of a window that decides speech or silence
MAX_SPECTROGRAM_COLUMNS = 60_000  # beyond this the display spectrogram is averaged in time

Array = npt.NDArray[np.float32]


class Cancelled(Exception):
    """The user cancelled the analysis."""


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
    attention: Array
    spectrogram: Array  # (columns, n_mels) log-mel dB, for display
    spectrogram_rate: float  # columns per second
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def overall(self) -> tuple[str | None, Array]:
        """The emotion of the whole recording: mean probabilities of its speech windows."""
        spoken = self.probabilities[self.speech]
        if len(spoken) == 0:
            return None, np.full(len(self.labels), np.nan, np.float32)
        mean = spoken.mean(axis=0)
        return self.labels[int(mean.argmax())], mean.astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready figures (no spectrogram)."""
        label, probs = self.overall
        return {
            "file": str(self.path) if self.path else None,
            "duration": round(self.duration, 3),
            "labels": list(self.labels),
            "emotion": label,
            "probabilities": _rounded(probs),
            "window_seconds": self.window_seconds,
            "hop_seconds": self.hop_seconds,
            "windows": [
                {
                    "start": round(max(0.0, e - self.window_seconds), 3),
                    "end": round(float(e), 3),
                    "speech": bool(s),
                    "emotion": self.labels[int(p.argmax())] if s else None,
                    "probabilities": _rounded(p) if s else None,
                }
                for e, s, p in zip(self.ends, self.speech, self.probabilities, strict=True)
            ],
            **self.extra,
        }


def _rounded(values: Array) -> list[float] | None:
    return None if np.isnan(values).any() else [round(float(v), 4) for v in values]


def analyze_file(
    path: str | os.PathLike[str],
    engine: Engine,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> Analysis:
    """Analyse a file (any format soundfile reads); raises ``AudioFileError`` with a reason."""
    meta = files.info(path)
    rate = engine.bundle.features.sample_rate
    done = 0.0

    def blocks() -> Iterable[Array]:
        nonlocal done
        for block in files.blocks(path, rate):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            yield block
            done += len(block) / rate
            if progress:
                progress(min(1.0, done / meta.duration))

    analysis = analyze_blocks(blocks(), engine, meta.duration)
    analysis.path = Path(path)
    return analysis


def analyze_audio(audio: Array, engine: Engine) -> Analysis:
    """Analyse mono audio already at the model's sample rate."""
    return analyze_blocks([audio], engine, len(audio) / engine.bundle.features.sample_rate)


def analyze_blocks(blocks: Iterable[Array], engine: Engine, duration: float) -> Analysis:
    """Stream blocks through the frame pipeline; keep only the frames the next window needs."""
    b = engine.bundle
    s = b.features
    pipeline = Pipeline(s)
    stream = FrameStream(pipeline)
    size, hop = b.window_frames, hop_frames(s, b.hop_seconds)
    gate_frames = hop_frames(s, GATE_SECONDS)
    fill = silence_frame(pipeline)
    pool = max(1, int(np.ceil(duration * s.sample_rate / s.hop_length / MAX_SPECTROGRAM_COLUMNS)))
    gate = SpeechGate()
    feats, levels = np.zeros((0, s.n_features), np.float32), np.zeros(0, np.float32)
    offset = 0  # frame index of feats[0]
    ends: list[float] = []
    speech: list[bool] = []
    probs: list[Array] = []
    attention: list[Array] = []
    columns: list[Array] = []
    pending_cols = np.zeros((0, s.n_mels), np.float32)

    def run(x: Array, lv: Array, end_frame: int) -> None:
        spoken = gate.update(lv, gate_frames)
        p = engine.predict_features(x)
        ends.append((end_frame * s.hop_length + s.n_fft - s.hop_length) / s.sample_rate)
        speech.append(spoken)
        probs.append(p.probabilities if spoken else np.full(len(b.labels), np.nan, np.float32))
        attention.append(p.attention)

    for block in blocks:
        log_mel, level = stream.push(block)
        pending_cols = np.concatenate([pending_cols, log_mel])
        whole = len(pending_cols) // pool * pool
        if whole:
            columns.append(pending_cols[:whole].reshape(-1, pool, s.n_mels).mean(axis=1))
            pending_cols = pending_cols[whole:]
        feats = np.concatenate([feats, pipeline.from_log_mel(log_mel)])
        levels = np.concatenate([levels, level])
        start = len(ends) * hop - offset  # next window's first frame within feats
        while start + size <= len(feats):
            run(feats[start : start + size], levels[start : start + size], offset + start + size)
            start += hop
        drop = max(0, min(start, len(feats)))
        feats, levels, offset = feats[drop:], levels[drop:], offset + drop
    if not ends:  # shorter than one window: the padded clip, as in training
        run(windows(feats, size, hop, fill)[0], levels, offset + len(feats))
    if len(pending_cols):
        columns.append(pending_cols.mean(axis=0, keepdims=True))
    rate = s.sample_rate / s.hop_length / pool
    return Analysis(
        labels=b.labels,
        duration=duration,
        window_seconds=b.window_seconds,
        hop_seconds=b.hop_seconds,
        ends=np.asarray(ends),
        speech=np.asarray(speech, bool),
        probabilities=np.asarray(probs, np.float32).reshape(-1, len(b.labels)),
        attention=np.asarray(attention, np.float32).reshape(-1, b.attention_steps),
        spectrogram=np.concatenate(columns) if columns else np.zeros((0, s.n_mels), np.float32),
        spectrogram_rate=rate,
    )
