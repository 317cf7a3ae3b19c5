"""A recording's speaker, as adaptation sees them: the speech statistics of a file (silence never
counts) and the bundle's normalisation blended towards them. Beside app.adapt, not in it: these
read files through the analysis' stream (app.offline), which itself adapts."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

from app.adapt import TIME_CONSTANT, Moments, Norm, SpeechFrames, blend, frames_for
from app.audio import files
from app.bundle import Bundle
from app.engine import Engine
from app.features import Pipeline
from app.offline import model_windows, progress_blocks

Array = npt.NDArray[np.float32]


def speaker_moments(blocks: Iterable[Array], bundle: Bundle) -> Moments:
    """The speech statistics of a recording, frame by frame as the gate sees them (silence
    never counts): what adapting to its speaker normalises by."""
    w = bundle.windowing
    speech = SpeechFrames(w.gate)
    total = Moments.empty(w.settings.n_features)
    for x, lv, end in model_windows(blocks, Pipeline(w.settings), w):
        total = total + speech.update(x, lv, end)
    return total


def file_moments(
    path: str | os.PathLike[str],
    bundle: Bundle,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> Moments:
    """:func:`speaker_moments` of a file; raises ``AudioFileError`` with a reason."""
    meta = files.info(path)
    rate = bundle.features.sample_rate
    blocks = progress_blocks(path, rate, meta.duration, progress, cancel)
    return speaker_moments(blocks, bundle)


def speaker_norm(engine: Engine, speaker: Moments, time_constant: float | None = None) -> Norm:
    """The bundle's statistics adapted to a speaker by the evidence of ``speaker``."""
    b = engine.bundle
    seconds = time_constant or b.adapt_seconds or TIME_CONSTANT
    return blend(b.population, speaker, frames_for(b.features, seconds))
