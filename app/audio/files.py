"""Reading audio files: any rate, any channel count, decoded in blocks so memory stays bounded.

Everything comes out as mono float32 at the requested rate; every way a file can be unreadable
becomes an :class:`AudioFileError` whose message a user can act on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from app.audio import resample

BLOCK_SECONDS = 30.0
MAX_CHANNELS = 64
WAV_HEAD = 1 << 16  # bytes read to find a WAV's fmt and data chunks
STREAMING = (0, 0xFFFFFFFF)  # data sizes of a WAV written as a stream, whose size is unknown

Audio = npt.NDArray[np.float32]


class _Muted:
    """Standard error (the file descriptor) sent to nothing while any block that asks runs:
    libmpg123 prints its notes on damaged MP3s there ("Note: Trying to resync..."), from C,
    where nothing else can stop them. Other threads' messages in those moments are lost too,
    so only decoding is wrapped. Counted, so overlapping blocks restore it once, at the end."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.saved = -1

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self.lock:
            if self.depth == 0:
                sys.stderr.flush()
                self.saved = os.dup(2)
                nothing = os.open(os.devnull, os.O_WRONLY)
                os.dup2(nothing, 2)
                os.close(nothing)
            self.depth += 1
        try:
            yield
        finally:
            with self.lock:
                self.depth -= 1
                if self.depth == 0:
                    os.dup2(self.saved, 2)
                    os.close(self.saved)


quiet_decoder = _Muted()


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
    warning: str = ""  # readable, but not all there: said to the user beside the results

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def info(path: str | os.PathLike[str]) -> AudioInfo:
    """Header facts of an audio file, or an :class:`AudioFileError` saying why not."""
    path = Path(path)
    if path.is_dir():
        raise AudioFileError(f"{path.name} is a folder, not an audio file.")
    if not path.exists():
        raise AudioFileError(missing(path))
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
        with quiet_decoder():
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
    found = AudioInfo(path, meta.samplerate, meta.channels, meta.frames, meta.format, meta.subtype)
    promised = wav_frames(path) if meta.format in ("WAV", "WAVEX") else None
    if promised is not None and promised > meta.frames:
        return replace(found, warning=(
            f"{path.name} is cut short: its header promises {promised / meta.samplerate:.2f} s, "
            f"the file holds {found.duration:.2f} s (an interrupted copy or recording?); what "
            "is there was analysed."))  # fmt: skip
    return found


def missing(path: Path) -> str:
    """Why ``path`` cannot be found: a link going round in a loop, or to nothing, or nothing."""
    if not path.is_symlink():
        try:
            os.stat(path)
        except OSError as e:
            if e.errno == errno.ELOOP:  # a folder on the way is such a link
                return f"{path} cannot be reached: a symbolic link on its way loops back on itself."
        return f"{path} does not exist."
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return f"{path.name} is a symbolic link that loops back on itself ({path.readlink()})."
    return f"{path.name} is a symbolic link to {path.readlink()}, which does not exist."


def wav_frames(path: Path) -> int | None:
    """The frames a WAV's header says its data chunk holds (None: not found, or a stream's
    placeholder): libsndfile reads a cut file to its end without a word."""
    with path.open("rb") as f:
        head = f.read(WAV_HEAD)
    at, align = 12, 0
    while at + 8 <= len(head):
        chunk, size = head[at : at + 4], struct.unpack_from("<I", head, at + 4)[0]
        if chunk == b"fmt " and at + 22 <= len(head):
            align = struct.unpack_from("<H", head, at + 20)[0]
        if chunk == b"data":
            return size // align if align and size not in STREAMING else None
        at += 8 + size + size % 2
    return None


def blocks(
    path: str | os.PathLike[str], sample_rate: int, block_seconds: float = BLOCK_SECONDS
) -> Iterator[Audio]:
    """Mono float32 blocks at ``sample_rate``, resampled as a stream exactly as a live input at
    the file's rate is (:mod:`app.audio.resample`)."""
    meta = info(path)
    block = max(1, int(block_seconds * meta.sample_rate))
    resampler = resample.stream(meta.sample_rate, sample_rate)
    numbers = broken = False  # any finite sample, any that is not
    mute = quiet_decoder if meta.format in ("MP3", "MPEG") else contextlib.nullcontext
    try:
        with mute():
            f = sf.SoundFile(str(meta.path))
        try:
            while True:
                with mute():
                    data = f.read(block, dtype="float32", always_2d=True)
                last = len(data) < block
                finite = np.isfinite(data)
                numbers, broken = numbers or bool(finite.any()), broken or not finite.all()
                mono = to_mono(data)
                out = mono if resampler is None else resampler.resample_chunk(mono, last=last)
                if len(out):
                    yield out
                if last:
                    break
        finally:
            with mute():
                f.close()
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioFileError(
            f"{meta.path.name} is damaged and could not be read to the end ({e})."
        ) from e
    if broken and not numbers:
        raise AudioFileError(
            f"{meta.path.name} holds no sound: every sample is not a number (NaN or infinite), "
            "as in a broken floating-point file."
        )


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
