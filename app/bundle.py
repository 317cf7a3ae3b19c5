"""The model bundle: the contract between training and the app.

``emotion.json`` says everything the app needs to run ``emotion.tflite`` (labels, feature
settings, window, normalisation, attention layout), so the app never guesses or hard-codes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app import familiar
from app.adapt import Population
from app.features import FeatureSettings, Windowing, window_frames
from app.gate import GATE_SECONDS
from app.quality import Thresholds
from app.speechcheck import SpeechCheck

FORMAT = 1
META_FILE = "emotion.json"
TFLITE_FILE = "emotion.tflite"
KERAS_FILE = "emotion.keras"
WIDTH = 512  # values in an encoder frame (Whisper-base), where the description does not say
ENCODER_FILE = "encoder.tflite"  # an encoder model's encoder (one block); emotion.tflite: its head
MODEL_ENV = "EMOTION_METER_MODEL"


class BundleError(Exception):
    """A model bundle that is missing, damaged or inconsistent, with the reason in words."""


@dataclass(frozen=True)
class Encoder:
    """The pretrained encoder inside the model, as the bundle names it (for the About box and
    for training to rebuild it from the same weights)."""

    name: str
    licence: str
    layers: int
    sha256: str
    packages: tuple[str, ...]
    level: bool  # each block's level normalised before the encoder (gain-independent)
    width: int  # values in an encoder frame
    file: str | None = None  # the encoder's own LiteRT file; None: it is inside emotion.tflite
    block_frames: int = 0  # with its own file: the feature frames it reads at a time


@dataclass(frozen=True)
class Bundle:
    path: Path
    labels: tuple[str, ...]
    features: FeatureSettings
    window_seconds: float
    hop_seconds: float
    mean: npt.NDArray[np.float32]
    std: npt.NDArray[np.float32]
    attention_steps: int
    adapt_seconds: float | None  # the speaker-adaptation time constant; None: trained cold only
    speech_mean: npt.NDArray[np.float32]  # the training speakers' mean over speech frames
    encoder: Encoder | None  # the pretrained encoder the model is built on, if any
    meta: dict[str, Any] = field(repr=False, compare=False)
    temperature: float = 1.0  # calibration: probabilities ** (1 / T), renormalised; 1 = none
    quality: Thresholds = field(default_factory=Thresholds)  # where it stops being reliable
    uncertain_below: float = 0.0  # a calibrated top probability under this: no clear emotion
    familiarity: familiar.Familiarity | None = None  # how far input lies from what it learnt
    speech_check: SpeechCheck | None = None  # is it speech at all; None: not checked
    warning: str = ""  # what the user should know before trusting it (unchecked weights)

    @property
    def population(self) -> Population:
        return Population(self.mean, self.std, self.speech_mean)

    @property
    def window_frames(self) -> int:
        return self.windowing.size

    @property
    def windowing(self) -> Windowing:
        """The geometry of the bundle's model windows and speech gate."""
        block = self.encoder.block_frames if self.encoder else 0
        return Windowing.of(
            self.features, self.window_seconds, self.hop_seconds, GATE_SECONDS, block
        )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """A window of feature frames: what :meth:`Engine.predict` takes."""
        return (1, self.window_frames, self.features.n_features)

    @property
    def model_input_shape(self) -> tuple[int, int, int]:
        """What ``emotion.tflite`` takes: the window, or the encoder frames of a model whose
        encoder has a file of its own."""
        if self.encoder is None or self.encoder_path is None:
            return self.input_shape
        return (1, self.attention_steps, self.encoder.width)

    @property
    def encoder_path(self) -> Path | None:
        """The encoder's own file (``encoder.tflite``), if it has one."""
        return self.path / self.encoder.file if self.encoder and self.encoder.file else None

    @property
    def tflite_path(self) -> Path:
        return self.path / TFLITE_FILE

    @property
    def keras_path(self) -> Path:
        return self.path / KERAS_FILE


def assets_dir() -> Path:
    """``assets/`` of the source tree, or of the frozen app."""
    frozen = getattr(sys, "_MEIPASS", None)
    return Path(frozen) / "assets" if frozen else Path(__file__).resolve().parents[1] / "assets"


def default_path() -> Path:
    """The bundle the app runs: ``$EMOTION_METER_MODEL`` or the one shipped in ``assets/model``."""
    return Path(os.environ.get(MODEL_ENV) or assets_dir() / "model")


def load(path: str | os.PathLike[str] | None = None) -> Bundle:
    """Read and validate a bundle's metadata; raise :class:`BundleError` saying what is wrong."""
    path = Path(path) if path is not None else default_path()
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise BundleError(f"No emotion model found: {meta_path} is missing.")
    if not (path / TFLITE_FILE).is_file():
        raise BundleError(f"The emotion model is incomplete: {path / TFLITE_FILE} is missing.")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"The model description {meta_path.name} is damaged: {e}") from e
    return from_meta(path, meta)


def from_meta(path: Path, meta: Any) -> Bundle:
    """Validate parsed metadata into a :class:`Bundle`; anything malformed is a BundleError."""
    try:
        return _from_meta(path, meta)
    except (TypeError, ValueError, AttributeError, OverflowError) as e:  # a value of a wrong type
        raise BundleError(f"The model description has an invalid value: {e}") from e


def _check_features(features: FeatureSettings) -> None:
    """Types and ranges the constructor does not check: JSON can hold anything."""
    for name in ("sample_rate", "n_fft", "hop_length", "n_mels", "n_mfcc"):
        value = getattr(features, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BundleError(f"Feature setting {name} must be a positive whole number: {value!r}")
    for name in ("fmin", "fmax", "amin"):
        value = getattr(features, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise BundleError(f"Feature setting {name} must be a finite number: {value!r}")
    if features.amin <= 0 or features.hop_length > features.n_fft:
        raise BundleError("Feature settings need amin > 0 and hop_length <= n_fft.")


def _from_meta(path: Path, meta: Any) -> Bundle:
    if not isinstance(meta, dict):
        raise BundleError("The model description is not a JSON object.")
    if meta.get("format") != FORMAT:
        raise BundleError(f"Model format {meta.get('format')!r} is not supported (need {FORMAT}).")
    try:
        labels = tuple(str(x) for x in meta["labels"])
        features = FeatureSettings.from_dict(meta["features"])
        window = float(meta["window_seconds"])
        hop = float(meta["hop_seconds"])
        mean = np.asarray(meta["normalisation"]["mean"], np.float32)
        std = np.asarray(meta["normalisation"]["std"], np.float32)
        steps = int(meta["attention"]["steps"])
    except KeyError as e:
        raise BundleError(f"The model description lacks {e}.") from e
    except (TypeError, ValueError) as e:
        raise BundleError(f"The model description has an invalid value: {e}") from e
    _check_features(features)
    if not (np.isfinite(window) and np.isfinite(hop)):
        raise BundleError(f"Invalid window {window} s / hop {hop} s.")
    if len(labels) < 2 or len(set(labels)) != len(labels) or not all(labels):
        raise BundleError(f"The model's labels are invalid: {list(labels)}.")
    if features.sample_rate != int(meta.get("sample_rate", features.sample_rate)):
        raise BundleError("The model description gives two different sample rates.")
    if not 0 < hop <= window or window_frames(features, window) < 1:
        raise BundleError(f"Invalid window {window} s / hop {hop} s.")
    n = features.n_features
    if mean.shape != (n,) or std.shape != (n,):
        raise BundleError(f"Normalisation has {mean.size}/{std.size} values for {n} features.")
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
        raise BundleError("Normalisation statistics are not finite and positive.")
    if steps < 1:
        raise BundleError(f"Invalid attention steps: {steps}.")
    seconds, speech = _adapt(meta, mean)
    encoder = _encoder(meta, features, window, steps)
    if encoder is not None and encoder.file and not (path / encoder.file).is_file():
        raise BundleError(f"The emotion model is incomplete: {path / encoder.file} is missing.")
    weights = [TFLITE_FILE, *([encoder.file] if encoder is not None and encoder.file else [])]
    warning = _check_files(path, meta, weights)
    return Bundle(
        path, labels, features, window, hop, mean, std, steps, seconds, speech, encoder, meta,
        _temperature(meta), _thresholds(meta), _uncertain(meta), _familiarity(path, meta, encoder),
        _speech_check(meta), warning,
    )  # fmt: skip


def _familiarity(
    path: Path, meta: dict[str, Any], encoder: Encoder | None
) -> familiar.Familiarity | None:
    """The reference the input is measured against (encoder models); its file must be one the
    description checksums, so changed weights cannot pass as familiar."""
    block = meta.get("familiarity")
    if block is None:
        return None
    if not isinstance(block, dict) or encoder is None:
        raise BundleError("The model description's familiarity entry is invalid.")
    name = str(block.get("file", ""))
    if name not in (meta.get("files") or {}):
        raise BundleError(
            f"The model's familiarity file {name!r} has no checksum in its description."
        )
    try:
        found = familiar.load(path / name, block)
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise BundleError(f"The model's familiarity file {name} is invalid: {e}") from e
    if found.mean.size != 2 * encoder.width:
        raise BundleError(
            f"The model's familiarity file measures {found.mean.size} values, the encoder "
            f"gives {2 * encoder.width}."
        )
    return found


def _uncertain(meta: dict[str, Any]) -> float:
    """The top probability under which no emotion is clearly ahead (0: never uncertain)."""
    try:
        value = float((meta.get("calibration") or {}).get("uncertain_below", 0.0))
    except (TypeError, ValueError) as e:
        raise BundleError(f"The model's calibration is invalid: {e}.") from e
    if not 0.0 <= value < 1.0:
        raise BundleError(f"The model's uncertainty threshold {value} is out of range.")
    return value


def _thresholds(meta: dict[str, Any]) -> Thresholds:
    try:
        return Thresholds.from_meta(meta.get("quality"))
    except ValueError as e:
        raise BundleError(f"The model description is invalid: {e}.") from e


def _speech_check(meta: dict[str, Any]) -> SpeechCheck | None:
    try:
        return SpeechCheck.from_meta(meta.get("speech_check"))
    except ValueError as e:
        raise BundleError(f"The model description is invalid: {e}.") from e


def _temperature(meta: dict[str, Any]) -> float:
    """The calibration's temperature; a bundle without calibration shows raw probabilities."""
    block = meta.get("calibration")
    if block is None:
        return 1.0
    try:
        t = float(block["temperature"])
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(f"The model's calibration is invalid: {e}.") from e
    if not (np.isfinite(t) and 0.05 <= t <= 20):
        raise BundleError(f"The model's calibration temperature {t} is out of range.")
    return t


def _encoder(
    meta: dict[str, Any], features: FeatureSettings, seconds: float, steps: int
) -> Encoder | None:
    """The encoder block, checked against the features and shapes it implies."""
    block = meta.get("encoder")
    if block is None:
        return None
    if not isinstance(block, dict):
        raise BundleError("The model description's encoder entry is not an object.")
    try:
        own = "file" in block  # else the encoder is inside emotion.tflite and reads whole windows
        encoder = Encoder(
            str(block["name"]), str(block["licence"]), int(block["layers"]), str(block["sha256"]),
            tuple(str(p) for p in block["packages"]), bool(block.get("level", False)),
            int(block.get("width", WIDTH)), str(block["file"]) if own else None,
            int(block["block_frames"]) if own else 0,
        )  # fmt: skip
    except KeyError as e:
        raise BundleError(f"The model description's encoder entry lacks {e}.") from e
    if not re.fullmatch(r"[0-9a-f]{64}", encoder.sha256):
        raise BundleError(f"The encoder's checksum is not a sha256: {encoder.sha256!r}.")
    if features.kind != "whisper" or features.n_mels != 80:
        raise BundleError(
            f"The encoder reads Whisper's 80-band log-mel, but the model description gives "
            f"{features.kind!r} features with {features.n_mels} bands."
        )
    if encoder.file is None:
        frames = window_frames(features, seconds)
        if not 1 <= encoder.layers <= 6 or steps != frames // 2:
            raise BundleError(
                f"The encoder's shapes disagree: {encoder.layers} layers (1 to 6), {steps} "
                f"attention steps for {frames} frames (an encoder frame is two feature frames)."
            )
        return encoder
    if Path(encoder.file).name != encoder.file or encoder.file in (TFLITE_FILE, META_FILE):
        raise BundleError(f"The encoder's file name {encoder.file!r} is invalid.")
    frames = window_frames(features, seconds, max(encoder.block_frames, 1))
    hops = round(seconds * features.sample_rate / features.hop_length)
    if (
        not 1 <= encoder.layers <= 6
        or encoder.block_frames < 2
        or encoder.block_frames % 2
        or encoder.width < 1
        or frames != hops
        or steps != frames // 2
    ):
        raise BundleError(
            f"The encoder's shapes disagree: {encoder.layers} layers (1 to 6), a window of "
            f"{hops} frames in whole blocks of {encoder.block_frames} (even), {steps} attention "
            "steps (an encoder frame is two feature frames)."
        )
    return encoder


def _check_files(path: Path, meta: dict[str, Any], weights: list[str]) -> str:
    """Model files whose checksum the description records must match it (a replaced or
    damaged file is refused before it runs), and every one of the ``weights`` must have one:
    with its entry deleted, lightly changed weights ran without a word. A description with
    no checksums at all (a hand-made bundle) loads, with the warning this returns."""
    files = meta.get("files") or {}
    if not isinstance(files, dict):
        raise BundleError("The model description's files entry is not an object.")
    unchecked = [name for name in weights if name not in files]
    if files and unchecked:
        raise BundleError(
            f"The model description has no checksum for {', '.join(unchecked)}, so it cannot "
            "be checked (was its entry removed?). Reinstall Emotion Meter or re-export the model."
        )
    for name, facts in files.items():
        if Path(name).name != name or not isinstance(facts, dict) or "sha256" not in facts:
            raise BundleError(f"The model description's entry for {name!r} is invalid.")
        try:
            digest = hashlib.sha256((path / name).read_bytes()).hexdigest()
        except OSError as e:
            raise BundleError(f"The model file {name} cannot be read: {e.strerror}.") from e
        if digest != facts["sha256"]:
            raise BundleError(
                f"The model file {name} is not the one its description names (checksum "
                f"{digest[:12]}…, expected {str(facts['sha256'])[:12]}…): it was changed or "
                "damaged. Reinstall Emotion Meter or re-export the model."
            )
    if unchecked:
        return f"the model's description records no checksums: {', '.join(unchecked)} unchecked"
    return ""


def _adapt(meta: dict[str, Any], mean: npt.NDArray[np.float32]) -> tuple[float | None, Any]:
    """The adaptation time constant and speech mean of a model trained for it, else None and
    the cold mean (no shift)."""
    adaptation = meta.get("adaptation")
    if adaptation is None or not adaptation.get("trained", True):
        return None, mean
    seconds = float(adaptation.get("time_constant"))
    speech = np.asarray(adaptation.get("speech_mean"), np.float32)
    if not (np.isfinite(seconds) and seconds > 0):
        raise BundleError(f"Invalid adaptation time constant: {seconds}.")
    if speech.shape != mean.shape or not np.isfinite(speech).all():
        raise BundleError(f"The adaptation speech mean has {speech.size} values for {mean.size}.")
    return seconds, speech
