"""The channels a voice passes through before it reaches the meter: noise, rooms, telephone lines,
codecs, microphone gain and response.

One module serves both sides: training draws random channels from the *training* recordings
(``../shared/noise``), the robustness evaluation applies fixed conditions with the *evaluation*
recordings (``../shared/noise-eval``), which training never reads. Pure functions on 16 kHz mono
float32; noise and rooms come from a :class:`Sounds` catalogue of real recordings.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.features import SAMPLE_RATE

PHONE_RATE = 8000
PHONE_BAND = (300.0, 3400.0)  # Hz, the telephone channel (ITU-T G.712)
FRAME = 320  # 20 ms: the unit of the active-speech level
ACTIVE_DB = 30.0  # frames within this of the loudest are speech (for the SNR's speech power)
MAX_LAG = 4000  # samples a codec may delay its output by (MP3's encoder delay is ~1300)
NOISE_ENV = "EMOTION_METER_NOISE"
NOISE_EVAL_ENV = "EMOTION_METER_NOISE_EVAL"
# libsndfile's compression level per target bitrate, measured on speech at 16 kHz
OPUS_LEVEL = {12: 0.97, 24: 0.9}
MP3_LEVEL = {32: 0.85}

Array = npt.NDArray[np.float32]
Rng = np.random.Generator


def shared_root(evaluation: bool, path: str | os.PathLike[str] | None = None) -> Path:
    """``path``, else the env variable, else ``shared/noise`` (training) or ``shared/noise-eval``
    beside the repository."""
    env, name = (NOISE_EVAL_ENV, "noise-eval") if evaluation else (NOISE_ENV, "noise")
    default = Path(__file__).resolve().parents[2] / "shared" / name
    root = Path(path or os.environ.get(env) or default).expanduser()
    if not (root / "noise").is_dir() or not (root / "rir").is_dir():
        raise FileNotFoundError(
            f"no noise recordings at {root}: pass its path or set ${env} to a folder holding "
            "noise/ and rir/ (16 kHz FLAC)"
        )
    return root


@dataclass(frozen=True)
class Sounds:
    """Real noise recordings (``noise/<category>_….flac``) and room impulse responses
    (``rir/….flac``) of one side of the split."""

    root: Path
    noises: tuple[Path, ...]
    rooms: tuple[Path, ...]

    @classmethod
    def read(cls, root: Path) -> Sounds:
        return cls(root, tuple(sorted((root / "noise").glob("*.flac"))),
                   tuple(sorted((root / "rir").glob("*.flac"))))  # fmt: skip

    def noise(self, n: int, rng: Rng) -> Array:
        """``n`` samples of a random recording from a random point, looped when it is short."""
        y = _read(self.noises[int(rng.integers(len(self.noises)))])
        start = int(rng.integers(len(y)))
        return np.resize(np.roll(y, -start), n)

    def room(self, rng: Rng) -> Array:
        return _read(self.rooms[int(rng.integers(len(self.rooms)))])


@cache
def _read(path: Path) -> Array:
    import soundfile as sf

    y, rate = sf.read(path, dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE:
        raise ValueError(f"{path} is {rate} Hz, not {SAMPLE_RATE}")
    return y.mean(axis=1)


def fingerprint(path: Path) -> str:
    """The sha256 of a recording's samples: the same sound under another name or format."""
    return hashlib.sha256(_read(path).tobytes()).hexdigest()


def power(y: Array) -> float:
    return float(np.mean(np.square(y, dtype=np.float64))) + 1e-20


def speech_power(y: Array) -> float:
    """Mean power of the 20 ms frames within :data:`ACTIVE_DB` of the loudest: the speech, not
    the pauses around it (a simple active speech level, after ITU-T P.56)."""
    n = len(y) // FRAME
    if n == 0:
        return power(y)
    frames = np.mean(np.square(y[: n * FRAME].reshape(n, FRAME), dtype=np.float64), axis=1)
    return float(frames[frames >= frames.max() * 10 ** (-ACTIVE_DB / 10)].mean()) + 1e-20


def snr_db(speech: Array, noise: Array) -> float:
    return 10 * float(np.log10(speech_power(speech) / power(noise)))


def add_noise(y: Array, noise: Array, snr: float) -> Array:
    """``noise`` scaled to ``snr`` dB below the speech's active level, added."""
    scaled = noise * np.float32(np.sqrt(speech_power(y) / power(noise) / 10 ** (snr / 10)))
    return (y + scaled).astype(np.float32)


def reverberate(y: Array, rir: Array) -> Array:
    """``y`` in the room ``rir`` was measured in: aligned on the direct sound, at the same active
    level as the dry speech."""
    from scipy.signal import fftconvolve

    direct = int(np.argmax(np.abs(rir)))
    wet = fftconvolve(y, rir[direct:] if direct < len(rir) // 2 else rir)[: len(y)]
    return (wet * np.sqrt(speech_power(y) / speech_power(wet))).astype(np.float32)


def band(y: Array, low: float | None, high: float | None, rate: int = SAMPLE_RATE) -> Array:
    """A 4th-order Butterworth high-pass (``low``), low-pass (``high``) or band-pass."""
    from scipy.signal import butter, sosfilt

    if low and high:
        sos = butter(4, (low, high), "bandpass", fs=rate, output="sos")
    else:
        sos = butter(4, low or high, "highpass" if low else "lowpass", fs=rate, output="sos")
    return sosfilt(sos, y).astype(np.float32)


def resample(y: Array, rate: int, to: int) -> Array:
    import soxr

    return soxr.resample(y, rate, to).astype(np.float32)


def codec(y: Array, fmt: str, subtype: str, rate: int = SAMPLE_RATE, level: float | None = None,
          ) -> tuple[Array, float]:  # fmt: skip
    """``y`` encoded and decoded by libsndfile (``fmt``/``subtype``, e.g. OGG/OPUS, MP3, WAV/GSM610
    at ``rate``), realigned on the input; and the bitrate it took (kbit/s)."""
    import soundfile as sf

    buffer = io.BytesIO()
    kwargs: dict[str, float | str] = {} if level is None else {"compression_level": level}
    if fmt == "MP3":
        kwargs["bitrate_mode"] = "CONSTANT"
    with sf.SoundFile(buffer, "w", rate, 1, subtype, format=fmt, **kwargs) as out:
        out.write(np.clip(y, -1, 1))
    kbps = len(buffer.getvalue()) * 8 / (len(y) / rate) / 1000
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32")
    return align(decoded, y), kbps


def align(decoded: Array, reference: Array) -> Array:
    """``decoded`` shifted by the lag (up to :data:`MAX_LAG`) that best matches ``reference``,
    cut or padded to its length: codecs delay their output."""
    n = len(reference)
    size = 1 << int(np.ceil(np.log2(n + len(decoded))))
    corr = np.fft.irfft(np.fft.rfft(decoded, size) * np.conj(np.fft.rfft(reference, size)), size)
    lags = np.r_[corr[: MAX_LAG + 1], corr[-MAX_LAG:]]
    lag = int(np.argmax(lags))
    lag = lag if lag <= MAX_LAG else lag - len(lags)
    shifted = decoded[lag:] if lag >= 0 else np.r_[np.zeros(-lag, np.float32), decoded]
    return np.pad(shifted[:n], (0, max(0, n - len(shifted)))).astype(np.float32)


def telephone(y: Array, narrowband: str = "GSM610") -> Array:
    """A phone line: 8 kHz, 300–3400 Hz, through a narrow-band codec (GSM 06.10 or μ-law), back
    at 16 kHz (the band above 4 kHz stays empty)."""
    line = band(resample(y, SAMPLE_RATE, PHONE_RATE), *PHONE_BAND, rate=PHONE_RATE)
    decoded, _ = codec(line, "WAV", narrowband, PHONE_RATE)
    return resample(decoded, PHONE_RATE, SAMPLE_RATE)[: len(y)]


def opus(y: Array, kbps: int) -> Array:
    return codec(y, "OGG", "OPUS", level=OPUS_LEVEL[kbps])[0]


def mp3(y: Array, kbps: int) -> Array:
    return codec(y, "MP3", "MPEG_LAYER_III", level=MP3_LEVEL[kbps])[0]


def gain(y: Array, db: float) -> Array:
    """A microphone gain ``db`` away, through a 16-bit converter: clipped at full scale,
    quantised (the quiet end meets the converter's own noise)."""
    scaled = np.clip(y * np.float32(10 ** (db / 20)), -1.0, 1.0)
    return (np.round(scaled * 32767) / 32767).astype(np.float32)


def small_microphone(y: Array, low: float = 250.0, high: float = 6000.0,
                     presence_db: float = 6.0) -> Array:  # fmt: skip
    """A laptop or headset microphone: little below ``low``, little above ``high``, and a
    resonance (``presence_db``) around 3 kHz."""
    from scipy.signal import iirpeak, lfilter

    y = band(y, low, high)
    b, a = iirpeak(3000.0, 2.0, fs=SAMPLE_RATE)
    peak = lfilter(b, a, y)
    return (y + (10 ** (presence_db / 20) - 1) * peak).astype(np.float32)


@dataclass(frozen=True)
class Condition:
    """A fixed channel of the robustness evaluation (clean is the plain test); ``family`` groups
    them in the report."""

    name: str
    family: str
    apply: Callable[[Array, Sounds, Rng], Array]


def _noisy(snr: float) -> Callable[[Array, Sounds, Rng], Array]:
    return lambda y, s, rng: add_noise(y, s.noise(len(y), rng), snr)


def _laptop_room(y: Array, s: Sounds, rng: Rng) -> Array:
    room = add_noise(reverberate(y, s.room(rng)), s.noise(len(y), rng), 15.0)
    return small_microphone(room)


CONDITIONS = (
    Condition("noise 20 dB", "noise", _noisy(20.0)),
    Condition("noise 10 dB", "noise", _noisy(10.0)),
    Condition("noise 5 dB", "noise", _noisy(5.0)),
    Condition("noise 0 dB", "noise", _noisy(0.0)),
    Condition("room", "room", lambda y, s, rng: reverberate(y, s.room(rng))),
    Condition("telephone GSM", "telephone", lambda y, s, rng: telephone(y, "GSM610")),
    Condition("telephone μ-law", "telephone", lambda y, s, rng: telephone(y, "ULAW")),
    Condition("Opus 12 kbit/s", "codec", lambda y, s, rng: opus(y, 12)),
    Condition("Opus 24 kbit/s", "codec", lambda y, s, rng: opus(y, 24)),
    Condition("MP3 32 kbit/s", "codec", lambda y, s, rng: mp3(y, 32)),
    Condition("level −30 dB", "level", lambda y, s, rng: gain(y, -30.0)),
    Condition("level +20 dB (clipping)", "level", lambda y, s, rng: gain(y, 20.0)),
    Condition("small microphone", "microphone", lambda y, s, rng: small_microphone(y)),
    Condition("laptop in a room, café 15 dB", "combined", _laptop_room),
)
BY_NAME = {c.name: c for c in CONDITIONS}


def heard(y: Array, condition: str, clip: str, root: str = "") -> Array:
    """``y`` through the evaluation ``condition``, with the evaluation recordings at ``root``
    (default: their shared folder); the same noise and room every time for a clip name."""
    seed = int(hashlib.sha1(f"{condition}:{clip}".encode()).hexdigest(), 16)
    return BY_NAME[condition].apply(y, evaluation_sounds(root), np.random.default_rng(seed))


@cache
def evaluation_sounds(root: str = "") -> Sounds:
    return Sounds.read(shared_root(evaluation=True, path=root or None))


def draw(y: Array, sounds: Sounds, rng: Rng) -> Array:
    """A random channel of the same families as the evaluation's, from training recordings:
    multi-condition training. Each part is drawn independently, so they also combine, in the
    order sound meets them: room, noise, microphone, line or codec, converter."""
    if rng.random() < 0.4:
        y = reverberate(y, sounds.room(rng))
    if rng.random() < 0.5:
        y = add_noise(y, sounds.noise(len(y), rng), rng.uniform(0.0, 25.0))
    if rng.random() < 0.3:
        y = small_microphone(y, rng.uniform(80, 400), rng.uniform(4000, 7500), rng.uniform(0, 9))
    line = rng.random()
    if line < 0.15:
        y = telephone(y, "GSM610" if rng.random() < 0.5 else "ULAW")
    elif line < 0.3:
        y = opus(y, 12 if rng.random() < 0.5 else 24) if rng.random() < 0.7 else mp3(y, 32)
    if rng.random() < 0.3:
        y = gain(y, rng.uniform(-30.0, 20.0))
    return y
