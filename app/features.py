"""The one feature pipeline: log-mel and MFCC frames, offline and streaming.

Training imports this module, so the app computes exactly the features the model learnt on.
Plain numpy (no librosa, no numba) so that nothing compiles on the user's machine; the tests check
it against librosa. Frames use ``center=False``: a frame depends only on its own samples, so the
live stream and the offline analysis of the same audio yield the same frames.
Arrays are time-major: ``(frames, coefficients)``. :data:`WHISPER` is Whisper's own log-mel
(80 bins, a 25 ms window every 10 ms, its log scaling), the input of the encoder model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
N_FFT = 512  # 32 ms
HOP_LENGTH = 160  # 10 ms
N_MELS = 64
N_MFCC = 40
FMIN = 20.0
FMAX = 8000.0
AMIN = 1e-10  # floor of the power spectrum before the log: silence is -100 dB
KINDS = ("mfcc", "logmel", "whisper")

Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class FeatureSettings:
    """Everything that determines a feature frame; stored in the model bundle."""

    kind: str = "mfcc"
    sample_rate: int = SAMPLE_RATE
    n_fft: int = N_FFT
    hop_length: int = HOP_LENGTH
    n_mels: int = N_MELS
    n_mfcc: int = N_MFCC
    fmin: float = FMIN
    fmax: float = FMAX
    amin: float = AMIN
    center: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"feature kind must be one of {KINDS}, not {self.kind!r}")
        if self.center:
            raise ValueError("center=True frames cannot be streamed; use center=False")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= fmin < fmax <= sample_rate/2, got {self.fmin}, {self.fmax}"
            )
        if self.kind == "mfcc" and not 0 < self.n_mfcc <= self.n_mels:
            raise ValueError(f"need 0 < n_mfcc <= n_mels, got {self.n_mfcc}, {self.n_mels}")

    @property
    def n_features(self) -> int:
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    def n_frames(self, n_samples: int) -> int:
        """Number of whole frames in ``n_samples`` samples."""
        return 0 if n_samples < self.n_fft else 1 + (n_samples - self.n_fft) // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown feature settings: {sorted(unknown)}")
        return cls(**data)


WHISPER = FeatureSettings(kind="whisper", n_fft=400, hop_length=160, n_mels=80, fmin=0.0)


def hz_to_mel(hz: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Slaney's mel scale (linear below 1 kHz, logarithmic above), as librosa's default."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    mel = hz / f_sp
    log = hz >= min_log_hz
    return np.where(
        log, min_log_mel + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep, mel
    )


def mel_to_hz(mel: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(
        mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel
    )


def mel_filters(s: FeatureSettings) -> Array:
    """Slaney-normalised triangular mel filterbank, shape ``(n_fft // 2 + 1, n_mels)``."""
    fft_hz = np.linspace(0, s.sample_rate / 2, 1 + s.n_fft // 2)
    edges = mel_to_hz(np.linspace(hz_to_mel(s.fmin), hz_to_mel(s.fmax), s.n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return np.ascontiguousarray(weights.T, dtype=np.float32)


def dct_matrix(n_mels: int, n_mfcc: int) -> Array:
    """Orthonormal DCT-II as a matrix, shape ``(n_mels, n_mfcc)``: ``mfcc = log_mel @ dct``."""
    n = np.arange(n_mels)[:, None]
    k = np.arange(n_mfcc)[None, :]
    basis = np.cos(np.pi / n_mels * (n + 0.5) * k) * np.sqrt(2.0 / n_mels)
    basis[:, 0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


def hann(n: int) -> Array:
    """Periodic Hann window (the STFT convention)."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)


def frames(y: npt.ArrayLike, n_fft: int, hop_length: int) -> Array:
    """View of ``y`` as overlapping frames, shape ``(n_frames, n_fft)``; no copy."""
    y = np.ascontiguousarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected mono audio (1-D), got shape {y.shape}")
    if len(y) < n_fft:
        return np.zeros((0, n_fft), np.float32)
    count = 1 + (len(y) - n_fft) // hop_length
    return np.lib.stride_tricks.as_strided(
        y, shape=(count, n_fft), strides=(hop_length * y.strides[0], y.strides[0]), writeable=False
    )


class Pipeline:
    """Audio to features with the matrices built once; the unit training and the app share."""

    def __init__(self, settings: FeatureSettings | None = None) -> None:
        self.settings = settings or FeatureSettings()
        s = self.settings
        self.window = hann(s.n_fft)
        self.mel = mel_filters(s)
        self.dct = dct_matrix(s.n_mels, s.n_mfcc)

    def log_mel(self, y: npt.ArrayLike) -> Array:
        """Log-mel power in dB of every whole frame of ``y``, shape ``(frames, n_mels)``."""
        s = self.settings
        spectrum = np.fft.rfft(frames(y, s.n_fft, s.hop_length) * self.window, axis=1)
        power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
        return (10.0 * np.log10(np.maximum(power @ self.mel, s.amin))).astype(np.float32)

    def level_db(self, y: npt.ArrayLike) -> Array:
        """Loudness of every whole frame in dB re full scale (RMS); what the speech gate reads."""
        s = self.settings
        power = np.mean(np.square(frames(y, s.n_fft, s.hop_length), dtype=np.float32), axis=1)
        return (10.0 * np.log10(power + s.amin)).astype(np.float32)

    def from_log_mel(self, log_mel: Array) -> Array:
        """The model's features from log-mel frames (so the spectrogram costs no second FFT)."""
        if self.settings.kind == "logmel":
            return log_mel
        if self.settings.kind == "whisper":
            return whisper_scale(log_mel)
        return (log_mel @ self.dct).astype(np.float32)

    def to_log_mel(self, features: Array) -> Array | None:
        """The log-mel (dB) behind the model's features, where they keep it (MFCCs do not)."""
        if self.settings.kind == "logmel":
            return features
        if self.settings.kind == "whisper":
            return ((features - 1.0) * 40.0).astype(np.float32)
        return None

    def features(self, y: npt.ArrayLike) -> Array:
        """The model's features of every whole frame of ``y``, shape ``(frames, n_features)``."""
        return self.from_log_mel(self.log_mel(y))


class FrameStream:
    """Frames of audio that arrives in chunks, equal to :meth:`Pipeline.log_mel` on it at once.

    Keeps only the samples of the next, incomplete frame between calls.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._pending = np.zeros(0, np.float32)
        self.frames_done = 0

    def push(self, chunk: npt.ArrayLike) -> tuple[Array, Array]:
        """Add samples; return the log-mel frames and frame levels (dB) they completed."""
        s = self.pipeline.settings
        audio = np.concatenate([self._pending, np.asarray(chunk, np.float32).ravel()])
        count = s.n_frames(len(audio))
        self._pending = audio[count * s.hop_length :]
        self.frames_done += count
        whole = audio[: (count - 1) * s.hop_length + s.n_fft] if count else audio[:0]
        return self.pipeline.log_mel(whole), self.pipeline.level_db(whole)

    @property
    def pending(self) -> int:
        """Samples held for the next frame."""
        return len(self._pending)

    def reset(self) -> None:
        self._pending = np.zeros(0, np.float32)
        self.frames_done = 0


def whisper_scale(log_mel_db: Array) -> Array:
    """Whisper's input scaling, ``(log10(power) + 4) / 4``, from power in dB.

    Whisper also floors each 30 s input at its own maximum minus 8 (80 dB); that floor depends
    on the whole input, so a frame could not be computed from its own samples: it is left out,
    and the fixed floor :data:`AMIN` (-100 dB, -1.5 here) stands in for it.
    """
    return (log_mel_db / 40.0 + 1.0).astype(np.float32)


def window_frames(settings: FeatureSettings, seconds: float, block: int = 0) -> int:
    """Feature frames in a model window of ``seconds``; with ``block``, the whole blocks of that
    many frames nearest to ``seconds`` of frame hops (a block model's window)."""
    if block:
        return block * round(seconds * settings.sample_rate / settings.hop_length / block)
    return settings.n_frames(round(seconds * settings.sample_rate))


def hop_frames(settings: FeatureSettings, seconds: float) -> int:
    """Feature frames between two model windows ``seconds`` apart (at least one)."""
    return max(1, round(seconds * settings.sample_rate / settings.hop_length))


@dataclass(frozen=True)
class Windowing:
    """Where a stream's model windows lie, in feature frames: ``size`` frames each, ``hop``
    apart, the newest ``gate`` of them deciding speech. One place for the geometry and for a
    window's end time, so the live meter and a file's analysis cannot place windows apart."""

    settings: FeatureSettings
    size: int
    hop: int
    gate: int

    @classmethod
    def of(
        cls,
        settings: FeatureSettings,
        window_seconds: float,
        hop_seconds: float,
        gate_seconds: float,
        block: int = 0,
    ) -> Windowing:
        """The frames of windows of these lengths (``block``: see :func:`window_frames`)."""
        return cls(
            settings,
            window_frames(settings, window_seconds, block),
            hop_frames(settings, hop_seconds),
            hop_frames(settings, gate_seconds),
        )

    def end_seconds(self, frame: int) -> float:
        """Stream seconds at the last sample of the frames before frame ``frame``: when the
        window ending there ends."""
        s = self.settings
        return ((frame - 1) * s.hop_length + s.n_fft) / s.sample_rate


def window_starts(n_frames: int, size: int, hop: int) -> npt.NDArray[np.int64]:
    """First frame of every whole window; a clip shorter than one window still gets one."""
    if n_frames <= size:
        return np.zeros(1, np.int64)
    return np.arange(0, n_frames - size + 1, hop, dtype=np.int64)


def fit_frames(x: Array, size: int, fill: Array, offset: int | None = None) -> Array:
    """Exactly ``size`` frames: a window of a longer ``x``, or a shorter ``x`` inside silence.

    ``offset`` is where the window starts in ``x`` (or where ``x`` starts in the window); ``None``
    centres it. ``fill`` is the feature frame of silence (:func:`silence_frame`).
    """
    n = len(x)
    offset = abs(n - size) // 2 if offset is None else offset
    if n >= size:
        return x[offset : offset + size]
    out = np.empty((size, x.shape[1]), np.float32)
    out[:] = fill
    out[offset : offset + n] = x
    return out


def silence_frame(pipeline: Pipeline) -> Array:
    """The feature frame of digital silence: what padding stands for."""
    s = pipeline.settings
    return pipeline.features(np.zeros(s.n_fft, np.float32))[0]


def normalise(x: Array, mean: Array, std: Array) -> Array:
    """Standardise features with statistics from training speakers (never per window)."""
    return ((x - mean) / std).astype(np.float32)


def windows(x: Array, size: int, hop: int, fill: Array) -> Array:
    """Every model window of a clip's features, shape ``(windows, size, features)``."""
    if len(x) <= size:
        return fit_frames(x, size, fill)[None]
    return np.stack([x[i : i + size] for i in window_starts(len(x), size, hop)])
