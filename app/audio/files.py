"""Reading audio files: any rate, any channel count, decoded in blocks so memory stays bounded.

Everything comes out as mono float32 at the requested rate; every way a file can be unreadable
becomes an :class:`AudioFileError` whose message a user can act on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from app.audio import resample

BLOCK_SECONDS = 30.0
MAX_CHANNELS = 64

Audio = npt.NDArray[np.float32]


class AudioFileError(Exception):
    """A file that cannot be analysed, with the reason in words."""


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def info(path: str | os.PathLike[str]) -> AudioInfo:
    """Header facts of an audio file, or an :class:`AudioFileError` saying why not."""
    path = Path(path)
    if path.is_dir():
        raise AudioFileError(f"{path.name} is a folder, not an audio file.")
    if not path.exists():
        raise AudioFileError(f"{path} does not exist.")
    if not path.is_file():  # a FIFO, socket or device would block or never end
        raise AudioFileError(f"{path.name} is not a regular file (a pipe or device?).")
    if not os.access(path, os.R_OK):
        raise AudioFileError(f"No permission to read {path.name}.")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise AudioFileError(f"{path.name} cannot be opened ({e.strerror}).") from e
    if size == 0:
        raise AudioFileError(f"{path.name} is empty (0 bytes).")
    try:
        meta = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioFileError(
            f"{path.name} is not an audio file this app can read ({e}). "
            "WAV, FLAC, OGG, MP3 and AIFF are supported."
        ) from e
    if meta.samplerate <= 0 or meta.channels <= 0 or meta.channels > MAX_CHANNELS:
        raise AudioFileError(
            f"{path.name} has an impossible header "
            f"({meta.samplerate} Hz, {meta.channels} channels)."
        )
    if meta.frames <= 0:
        raise AudioFileError(f"{path.name} contains no audio.")
    return AudioInfo(path, meta.samplerate, meta.channels, meta.frames, meta.format, meta.subtype)


def blocks(
    path: str | os.PathLike[str], sample_rate: int, block_seconds: float = BLOCK_SECONDS
) -> Iterator[Audio]:
    """Mono float32 blocks at ``sample_rate``, resampled as a stream exactly as a live input at
    the file's rate is (:mod:`app.audio.resample`)."""
    meta = info(path)
    block = max(1, int(block_seconds * meta.sample_rate))
    resampler = resample.stream(meta.sample_rate, sample_rate)
    try:
        with sf.SoundFile(str(meta.path)) as f:
            while True:
                data = f.read(block, dtype="float32", always_2d=True)
                last = len(data) < block
                mono = to_mono(data)
                out = mono if resampler is None else resampler.resample_chunk(mono, last=last)
                if len(out):
                    yield out
                if last:
                    break
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioFileError(
            f"{meta.path.name} is damaged and could not be read to the end ({e})."
        ) from e


def load(path: str | os.PathLike[str], sample_rate: int) -> Audio:
    """The whole file as one mono float32 array at ``sample_rate``."""
    parts = list(blocks(path, sample_rate))
    if not parts:
        raise AudioFileError(f"{Path(path).name} contains no audio.")
    return np.concatenate(parts)


def to_mono(data: npt.NDArray[np.float32]) -> Audio:
    """Average of the channels, with NaN/inf (broken float files) replaced by silence."""
    mono = data.mean(axis=1, dtype=np.float32) if data.ndim == 2 else data.astype(np.float32)
    if not np.isfinite(mono).all():
        mono = np.nan_to_num(mono, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.ascontiguousarray(mono)
