"""Augmentation of training audio and features; applied after the split, to training clips only.

Audio-domain changes (noise, pitch, stretch, gain, channel) are rendered once per variant and
cached as features; time shift (random crop) and mixup are drawn fresh for every batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import cache

import numpy as np
import numpy.typing as npt

from app.features import fit_frames
from model_training import channels

Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AugmentSettings:
    """Each augmentation is off when its probability (or mixup's alpha) is 0."""

    variants: int = 2  # augmented renderings per training clip, besides the clean one
    noise: float = 0.5  # probability
    snr_db: tuple[float, float] = (5.0, 30.0)
    pitch: float = 0.5
    semitones: tuple[float, float] = (-2.0, 2.0)
    stretch: float = 0.5
    rate: tuple[float, float] = (0.85, 1.15)
    gain: float = 0.8
    gain_db: tuple[float, float] = (-12.0, 6.0)
    channel: float = 0.8  # a random room, noise, microphone, line or codec (channels.draw)
    sounds: str = ""  # training noise and rooms (default: channels.shared_root)
    shift: bool = True  # random crop position in every batch
    mixup: float = 0.2  # Beta(alpha, alpha) of mixup; 0 turns it off

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def audio_key(self) -> str:
        """What the cached audio variants depend on."""
        d = self.to_dict()
        for k in ("shift", "mixup"):
            d.pop(k)
        return repr(sorted(d.items()))


AUDIO = ("noise", "pitch", "stretch", "gain", "channel")
NAMES = (*AUDIO, "shift", "mixup")
NONE = AugmentSettings(
    variants=0, noise=0, pitch=0, stretch=0, gain=0, channel=0, shift=False, mixup=0
)


def only(names: Sequence[str], variants: int = AugmentSettings.variants) -> AugmentSettings:
    """The default settings with every augmentation not in ``names`` switched off."""
    unknown = set(names) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown augmentations {sorted(unknown)}; choose from {NAMES}")
    off = {n: NONE.to_dict()[n] for n in NAMES if n not in names}
    audio = any(n in names for n in AUDIO)
    return replace(AugmentSettings(), variants=variants if audio else 0, **off)  # type: ignore[arg-type]


def add_noise(y: Array, snr_db: float, rng: np.random.Generator) -> Array:
    """Coloured noise at ``snr_db`` below the clip's power (a random spectral tilt)."""
    noise = rng.standard_normal(len(y)).astype(np.float32)
    tilt = rng.uniform(-1.0, 1.0)
    spectrum = np.fft.rfft(noise)
    spectrum *= np.linspace(1.0, 1e-3, len(spectrum)) ** max(tilt, 0) * np.linspace(
        1e-3, 1.0, len(spectrum)
    ) ** max(-tilt, 0)
    noise = np.fft.irfft(spectrum, len(y)).astype(np.float32)
    signal_power = float(np.mean(y**2)) or 1e-10
    noise *= np.sqrt(signal_power / (10 ** (snr_db / 10)) / (np.mean(noise**2) + 1e-20))
    return (y + noise).astype(np.float32)


def pitch_shift(y: Array, sample_rate: int, semitones: float) -> Array:
    import librosa

    return librosa.effects.pitch_shift(y, sr=sample_rate, n_steps=semitones).astype(np.float32)


def time_stretch(y: Array, rate: float) -> Array:
    """Faster (``rate`` > 1) or slower speech at the same pitch."""
    import librosa

    return librosa.effects.time_stretch(y, rate=rate).astype(np.float32)


def gain(y: Array, db: float) -> Array:
    """Louder or quieter, clipped to full scale like a real microphone."""
    return np.clip(y * np.float32(10 ** (db / 20)), -1.0, 1.0).astype(np.float32)


def render(y: Array, sample_rate: int, s: AugmentSettings, rng: np.random.Generator) -> Array:
    """One random augmented rendering of a clip."""
    if rng.random() < s.pitch:
        y = pitch_shift(y, sample_rate, rng.uniform(*s.semitones))
    if rng.random() < s.stretch:
        y = time_stretch(y, rng.uniform(*s.rate))
    if rng.random() < s.gain:
        y = gain(y, rng.uniform(*s.gain_db))
    if rng.random() < s.channel:
        if sample_rate != channels.SAMPLE_RATE:
            raise ValueError(
                f"channels are rendered at {channels.SAMPLE_RATE} Hz, not {sample_rate}"
            )
        y = channels.draw(y, training_sounds(s.sounds), rng)
    if rng.random() < s.noise:
        y = add_noise(y, rng.uniform(*s.snr_db), rng)
    return y


@cache
def training_sounds(root: str) -> channels.Sounds:
    return channels.Sounds.read(channels.shared_root(evaluation=False, path=root or None))


def crop(x: Array, size: int, fill: Array, rng: np.random.Generator) -> Array:
    """A ``size``-frame window at a random position: the time-shift augmentation."""
    return fit_frames(x, size, fill, int(rng.integers(0, abs(len(x) - size) + 1)))


def mixup(
    x: Array, y: Array, w: npt.NDArray[np.float64], alpha: float, rng: np.random.Generator
) -> tuple[Array, Array, npt.NDArray[np.float64]]:
    """Blend each example (input, soft label, sample weight) with a random partner."""
    lam = rng.beta(alpha, alpha, size=len(x))
    lam = np.maximum(lam, 1 - lam)  # the first example stays the main one
    partner = rng.permutation(len(x))
    mixed_x = lam[:, None, None] * x + (1 - lam[:, None, None]) * x[partner]
    mixed_y = lam[:, None] * y + (1 - lam[:, None]) * y[partner]
    return mixed_x.astype(np.float32), mixed_y.astype(np.float32), lam * w + (1 - lam) * w[partner]
