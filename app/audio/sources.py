"""Where live audio comes from (a microphone, or a file played in real time) and where it goes.

Every source writes mono float32 at its own rate into a :class:`RingBuffer`; the PortAudio
callback does nothing else (no allocation, no Qt, no locks). Every way the sound system can fail
becomes a :class:`SourceError` whose message a user can act on.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import soundfile as sf

from app.audio import files, resample
from app.audio.ringbuffer import RingBuffer

BUFFER_SECONDS = 10.0  # how far the worker may fall behind before samples are lost
FALLBACK_RATES = (48000, 44100, 32000, 16000)
BLOCK_SECONDS = 0.01  # one callback's worth of input
PLAYER_BUFFER_SECONDS = 1.0
PA_INVALID_SAMPLE_RATE = -9997
STALL_SECONDS = 5.0  # a running input silent this long has gone away (servers may send 2 s bursts)


class SourceError(Exception):
    """The sound system cannot do what was asked; the message says why in words."""


class Source(Protocol):
    """What the live worker reads: a ring buffer at ``sample_rate`` plus loss bookkeeping."""

    name: str
    sample_rate: int
    ring: RingBuffer
    dropped: int  # blocks the source itself lost (device overflows)
    latency: float  # seconds between sound and the sample reaching the ring buffer
    last_arrival: float  # time.monotonic() of the newest write

    def start(self) -> None: ...
    def stop(self) -> None: ...

    @property
    def fault(self) -> str | None:
        """Why the source can deliver no more audio (unplugged, unreadable), else None."""
        ...


def sounddevice() -> ModuleType:
    """The ``sounddevice`` module, or a :class:`SourceError` if PortAudio itself is missing."""
    try:
        import sounddevice as sd
    except OSError as e:
        raise SourceError(
            "The PortAudio sound library is missing, so no microphone can be used "
            f"({e}). On Debian/Ubuntu install it with: sudo apt install libportaudio2"
        ) from e
    return sd


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    host_api: str
    channels: int
    sample_rate: int
    default: bool

    def __str__(self) -> str:
        return f"{self.name} ({self.host_api}, {self.sample_rate / 1000:g} kHz)"


def input_devices() -> list[InputDevice]:
    """Every device with inputs, for a picker; empty when there is none."""
    sd = sounddevice()
    try:
        default = int(sd.default.device[0])
        apis = sd.query_hostapis()
        return [
            InputDevice(
                index=d["index"],
                name=d["name"],
                host_api=apis[d["hostapi"]]["name"],
                channels=d["max_input_channels"],
                sample_rate=int(d["default_samplerate"]),
                default=d["index"] == default,
            )
            for d in sd.query_devices()
            if d["max_input_channels"] > 0
        ]
    except sd.PortAudioError as e:
        raise SourceError(f"The sound system could not list its devices ({e}).") from e


def rescan() -> None:
    """Re-initialise PortAudio so that devices (or a sound server) added since then show.

    PortAudio lists devices once, when initialised; only call this with no stream open.
    """
    sd = sounddevice()
    sd._terminate()
    sd._initialize()


def _device_info(sd: ModuleType, device: int | None, kind: str) -> dict[str, Any]:
    try:
        if device is None:
            return sd.query_devices(kind=kind)
        info = sd.query_devices(device)
    except (sd.PortAudioError, ValueError) as e:
        if device is None:
            what = "microphone" if kind == "input" else "audio output device"
            raise SourceError(
                f"No {what} found. Connect one, or check that the sound system is running."
            ) from e
        raise SourceError(
            f"Audio device {device} is not available (it may have been unplugged)."
        ) from e
    if info[f"max_{kind}_channels"] < 1:
        raise SourceError(f"{info['name']} has no {kind}s.")
    return info


def _settle_rate(sd: ModuleType, check: Any, name: str, rates: list[int]) -> int:
    """The first rate the device accepts, or a :class:`SourceError` naming what was refused."""
    last: Exception | None = None
    for rate in rates:
        try:
            check(samplerate=rate)
            return rate
        except sd.PortAudioError as e:
            if len(e.args) < 2 or e.args[1] != PA_INVALID_SAMPLE_RATE:
                raise _open_error(name, e) from e
            last = e
    raise SourceError(
        f"{name} refused the sample rate ({', '.join(map(str, rates))} Hz tried): {last}"
    )


def _open_error(name: str, e: Exception) -> SourceError:
    return SourceError(
        f"Could not open {name}: it is busy or unavailable (another program may be using "
        f"it, or it was unplugged). {e}"
    )


class Microphone:
    """A sound card input at the device's own default rate, downmixed to mono in the ring."""

    def __init__(
        self,
        device: int | None = None,
        sample_rate: int | None = None,
        buffer_seconds: float = BUFFER_SECONDS,
    ) -> None:
        sd = sounddevice()
        info = _device_info(sd, device, "input")
        self.device = info["index"]
        self.name: str = info["name"]
        channels = min(2, info["max_input_channels"])  # the ring buffer averages to mono

        def check(samplerate: int) -> None:
            sd.check_input_settings(
                device=self.device, channels=channels, dtype="float32", samplerate=samplerate
            )

        wanted = [sample_rate] if sample_rate else [int(info["default_samplerate"])]
        if sample_rate is None:
            wanted += [r for r in FALLBACK_RATES if r not in wanted]
        self.sample_rate = _settle_rate(sd, check, self.name, wanted)
        self.ring = RingBuffer(int(buffer_seconds * self.sample_rate))
        self.dropped = 0
        self.latency = 0.0
        self.last_arrival = time.monotonic()
        self._channels = channels
        self._stream: Any = None
        self._ended = threading.Event()  # PortAudio ended the stream on its own (device lost)

    def _callback(self, indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        if status.input_overflow:
            self.dropped += 1
        self.ring.write(indata)
        self.last_arrival = time.monotonic()

    def start(self) -> None:
        sd = sounddevice()
        self._ended.clear()
        try:
            self._stream = sd.InputStream(
                device=self.device,
                channels=self._channels,
                samplerate=self.sample_rate,
                dtype="float32",
                latency="low",
                # fixed 10 ms blocks: with blocksize 0 ALSA's pulse plugin calls back with 1 to
                # 5 frames at a time, thousands of times a second, each taking the GIL
                blocksize=max(1, round(self.sample_rate * BLOCK_SECONDS)),
                callback=self._callback,
                finished_callback=self._ended.set,
            )
            self.last_arrival = time.monotonic()
            self._stream.start()
        except sd.PortAudioError as e:
            self.stop()
            raise _open_error(self.name, e) from e
        self.latency = float(self._stream.latency)

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close(ignore_errors=True)

    @property
    def fault(self) -> str | None:
        if self._stream is None:
            return None
        if self._ended.is_set() or not self._stream.active:
            return f"{self.name} stopped delivering sound (was it unplugged?)."
        if time.monotonic() - self.last_arrival > STALL_SECONDS:
            return (
                f"{self.name} has sent no sound for {STALL_SECONDS:g} s "
                "(was it unplugged, or did the sound system stop?)."
            )
        return None

    @property
    def running(self) -> bool:
        return self._stream is not None and self._stream.active


class FileSource:
    """Plays a recording into the ring buffer in real time (or ``speed`` times faster), as if it
    were a microphone: for demos and for testing the live path without a sound card."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        speed: float = 1.0,
        buffer_seconds: float = BUFFER_SECONDS,
    ) -> None:
        self.path = Path(path)
        self.info = files.info(path)  # raises AudioFileError with a reason
        self.name = f"File: {self.path.name}"
        self.sample_rate = self.info.sample_rate
        self.speed = speed
        self.ring = RingBuffer(int(buffer_seconds * self.sample_rate))
        self.dropped = 0
        self.latency = 0.0
        self.last_arrival = time.monotonic()
        self.finished = threading.Event()  # the whole file has been written
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self.finished.clear()
        self._thread = threading.Thread(target=self._play, name="file-source", daemon=True)
        self._thread.start()

    def _play(self) -> None:
        block = max(1, int(BLOCK_SECONDS * self.sample_rate))
        begun, sent = time.monotonic(), 0
        try:
            for chunk in files.blocks(self.path, self.sample_rate):
                for i in range(0, len(chunk), block):
                    piece = chunk[i : i + block]
                    due = begun + (sent + len(piece)) / self.sample_rate / self.speed
                    if self._stop.wait(max(0.0, due - time.monotonic())):
                        return
                    self.ring.write(piece)
                    self.last_arrival = time.monotonic()
                    sent += len(piece)
        except files.AudioFileError as e:
            self.error = e
        self.finished.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def fault(self) -> str | None:
        return None if self.error is None else str(self.error)


class Player:
    """Plays a file from a given moment through the default output; ``position`` drives a cursor.

    A feeder thread decodes ahead into a ring buffer; the output callback only copies from it.
    """

    def __init__(self, path: str | os.PathLike[str], start: float = 0.0) -> None:
        sd = sounddevice()
        self.path = Path(path)
        meta = files.info(path)
        info = _device_info(sd, None, "output")
        self.name: str = info["name"]

        def check(samplerate: int) -> None:
            sd.check_output_settings(channels=1, dtype="float32", samplerate=samplerate)

        rates = [meta.sample_rate, int(info["default_samplerate"]), *FALLBACK_RATES]
        self.sample_rate = _settle_rate(sd, check, self.name, list(dict.fromkeys(rates)))
        self.file_rate = meta.sample_rate
        self.start_time = min(max(0.0, start), meta.duration)
        self.duration = meta.duration
        self.ring = RingBuffer(int(PLAYER_BUFFER_SECONDS * self.sample_rate))
        self._reader = self.ring.reader()
        self._played = 0
        self._fed_all = threading.Event()
        self._stop = threading.Event()
        self._latency = 0.0
        self._feeder = threading.Thread(target=self._feed, name="player-feed", daemon=True)
        self._stream: Any = None
        self._callback_stop = sd.CallbackStop

    def start(self) -> None:
        sd = sounddevice()
        self._feeder.start()
        try:
            self._stream = sd.OutputStream(
                channels=1, samplerate=self.sample_rate, dtype="float32", callback=self._callback
            )
            self._stream.start()
        except sd.PortAudioError as e:
            self.stop()
            raise _open_error(self.name, e) from e
        self._latency = float(self._stream.latency)

    def _callback(self, outdata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        n = self._reader.read_into(outdata[:, 0])
        outdata[n:] = 0
        self._played += n
        if n == 0 and self._fed_all.is_set():
            raise self._callback_stop

    def _feed(self) -> None:
        block = max(1, int(0.05 * self.file_rate))
        resampler = resample.stream(self.file_rate, self.sample_rate)
        try:
            with sf.SoundFile(str(self.path)) as f:
                f.seek(int(self.start_time * self.file_rate))
                while not self._stop.is_set():
                    data = f.read(block, dtype="float32", always_2d=True)
                    last = len(data) < block
                    mono = files.to_mono(data)
                    out = mono if resampler is None else resampler.resample_chunk(mono, last=last)
                    while self.ring.written + len(out) - self._reader.position > self.ring.capacity:
                        if self._stop.wait(0.01):
                            return
                    self.ring.write(out)
                    if last:
                        break
        except (sf.LibsndfileError, RuntimeError):
            pass  # a damaged tail: play what could be decoded
        self._fed_all.set()

    @property
    def position(self) -> float:
        """Seconds into the file of the sound leaving the speaker now."""
        heard = max(0.0, self._played / self.sample_rate - self._latency)
        return min(self.duration, self.start_time + heard)

    @property
    def playing(self) -> bool:
        return self._stream is not None and self._stream.active

    def stop(self) -> None:
        self._stop.set()
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close(ignore_errors=True)
        if self._feeder.is_alive():
            self._feeder.join()
