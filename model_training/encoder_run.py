"""The encoder model's training run: Whisper log-mel, a layer chosen on validation, cached
encoder frames, the head trained on them, the full model assembled for export.

The encoder is frozen, so everything up to its output is computed once per clip and cached; a
cross-validation reuses the cache across folds and trains only heads.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app import bundle as bundles
from app.adapt import Norm
from app.features import WHISPER, Windowing, hop_frames, normalise, windows
from app.gate import GATE_SECONDS
from model_training import data, encoded, whisper
from model_training import model as models
from model_training.augment import AugmentSettings
from model_training.corpora import Clip
from model_training.metrics import scores
from model_training.train import (
    TrainSettings,
    fit_head,
    mean_frame,
    predict_encoded,
    speaker_offsets,
)

HOP_SECONDS = 0.5  # between windows, live and on files: 14 ms a window keeps live use near 3 %
PROBE_LAYERS = 4  # layers probed to choose one: the deeper ones cost more and probed no better
PROBE_HOP_SECONDS = 1.0  # the probe's windows (fewer: it only ranks layers)
MAX_LAYERS = 2  # deeper layers probed no better than the second and cost more a window
BLOCK_FRAMES = 300  # the encoder reads a whole window: a block of 0.5 s, shared by windows a hop
# apart, let a file be analysed six times faster, but lost about 0.1 UA on the validation
# speakers (heads on cached frames: 0.76 against 0.83; 1 s blocks 0.76, a context layer in the head
# 0.77): frames need the 3 s of context a whole window gives
LEVEL = True  # each block's level normalised on its own: a gain cannot move the emotion
PRECISION = "int8"  # the encoder's weights in encoder.tflite, as the app runs them

F16 = npt.NDArray[np.floating[Any]]  # float16 from the cache, float32 when computed anew


@dataclass
class Encoded:
    """Clips with their encoder windows: per clip, per rendering (clean first)."""

    clips: list[Clip]
    windows: list[list[F16]]

    @property
    def clean(self) -> list[F16]:
        return [w[0] for w in self.windows]

    def subset(self, keep: set[str]) -> Encoded:
        """The clips of the speakers in ``keep``."""
        rows = [i for i, c in enumerate(self.clips) if c.speaker in keep]
        return Encoded([self.clips[i] for i in rows], [self.windows[i] for i in rows])


def precision(file: str | None) -> str:
    """A bundle's encoder weights: int8 in a file of its own, else float16 inside
    ``emotion.tflite`` (the bundles made before)."""
    return PRECISION if file else "float16"


class Encoders:
    """The LiteRT block encoders (int8 weights: what training writes), built once from the
    weights in the packages; ``level``: each block level-normalised first
    (:class:`whisper.Level`)."""

    def __init__(
        self,
        settings: TrainSettings,
        level: bool = LEVEL,
        block: int = BLOCK_FRAMES,
        precision: str = PRECISION,
    ) -> None:
        self.level = level
        self.weights = whisper.parse(whisper.read_model())
        self.block = block
        self.precision = precision
        s = settings
        self.windowing = Windowing.of(WHISPER, s.window_seconds, s.hop_seconds, GATE_SECONDS, block)
        self.size = self.windowing.size
        self.hops = (self.windowing.hop,) * 2  # training's and testing's (the cache's key)
        self._runners: dict[str, encoded.Runner] = {}

    @classmethod
    def of(cls, bundle: bundles.Bundle) -> Encoders:
        """Those that compute a bundle's encoder frames as the app runs it: its own encoder
        file's blocks in int8, or, inside ``emotion.tflite`` (float16 weights, the bundles made
        before), the whole window."""
        assert bundle.encoder is not None
        timing = TrainSettings(window_seconds=bundle.window_seconds, hop_seconds=bundle.hop_seconds)
        if bundle.encoder.file is None:
            return cls(timing, bundle.encoder.level, bundle.window_frames, precision(None))
        return cls(timing, bundle.encoder.level, bundle.encoder.block_frames)

    def model(self, layers: int, every_layer: bool = False) -> Any:
        """The Keras block encoder (batch 1, as LiteRT conversion needs)."""
        return whisper.encoder(self.block, layers, self.weights, level=self.level,
                               outputs="all" if every_layer else "batch1")  # fmt: skip

    def runner(self, layers: int, every_layer: bool = False) -> tuple[str, encoded.Runner]:
        key = f"{whisper.SHA256}:{layers}:{'all' if every_layer else 'last'}:{self.precision}"
        key += f":blocks{self.block}" + (":level" if self.level else "")
        if key not in self._runners:
            tflite = encoded.to_tflite(self.model(layers, every_layer), self.precision)
            self._runners[key] = encoded.Runner(tflite, self.block)
        return key, self._runners[key]


def features(
    clips: Sequence[Clip], augment: AugmentSettings | None, cache: Path, workers: int,
    condition: str | None = None, sounds: str = "",
) -> data.Features:  # fmt: skip
    """Whisper log-mel of every clip (heard through the evaluation ``condition`` if given)."""
    return data.extract(clips, WHISPER, augment, cache / "features", workers, condition, sounds)


def encode(
    feats: data.Features,
    encoders: Encoders,
    layers: int,
    augment: AugmentSettings | None,
    cache: Path,
    every_layer: bool = False,
    condition: str | None = None,
) -> Encoded:
    """Encoder windows of every clip (``feats`` heard through ``condition``, if they were);
    ``every_layer``: pooled statistics of every layer instead (clean renderings only), to choose
    a layer."""
    key, runner = encoders.runner(layers, every_layer)
    if every_layer:
        feats = replace(feats, variants=[v[:1] for v in feats.variants])
    fill = data.silence(WHISPER)
    hops = (hop_frames(WHISPER, PROBE_HOP_SECONDS),) * 2 if every_layer else encoders.hops
    heard = f"heard:{condition}" if condition else ""
    frames = encoded.encode(
        feats, runner, key, encoders.size, hops, fill, cache / "encoded",
        audio_key=(augment.audio_key if augment else "") + heard, pool=every_layer,
    )  # fmt: skip
    return Encoded(list(feats.clips), frames)


def probe_layers(train: Encoded, val: Encoded, labels: Sequence[str]) -> dict[int, float]:
    """Validation UA of a linear probe (logistic regression on each clip's mean and standard
    deviation of a layer's output) for every layer: which layer carries emotion best."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def rows(e: Encoded) -> tuple[np.ndarray, np.ndarray]:
        x = np.stack([w.astype(np.float32).mean(axis=0) for w in e.clean])  # (clips, layers, 2w)
        return x, np.array([labels.index(c.label) for c in e.clips])

    (x_train, y_train), (x_val, y_val) = rows(train), rows(val)
    out = {}
    for layer in range(x_train.shape[1]):
        probe = make_pipeline(
            StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, class_weight="balanced")
        ).fit(x_train[:, layer], y_train)
        out[layer + 1] = float(scores(y_val, probe.predict(x_val[:, layer]), labels)["ua"])
        print(f"layer {layer + 1}: linear probe validation UA {out[layer + 1]:.3f}",
              file=sys.stderr)  # fmt: skip
    return out


def choose_layers(
    train: data.Features,
    val: data.Features,
    labels: Sequence[str],
    encoders: Encoders,
    cache: Path,
) -> tuple[int, dict[int, float]]:
    """The number of encoder layers (at most :data:`MAX_LAYERS`) whose output probes best on the
    validation speakers, and every probed layer's validation UA."""
    probe = probe_layers(
        encode(train, encoders, PROBE_LAYERS, None, cache, every_layer=True),
        encode(val, encoders, PROBE_LAYERS, None, cache, every_layer=True),
        labels,
    )
    return best_layer(probe), probe


def best_layer(probe: dict[int, float]) -> int:
    """The best-probing layer within the budgets; the shallower of equals."""
    return max((k for k in probe if k <= MAX_LAYERS), key=lambda k: (probe[k], -k))


def train_head(
    train: Encoded,
    val: Encoded,
    labels: Sequence[str],
    augment: AugmentSettings,
    settings: TrainSettings,
    out_dir: Path,
    start: Any = None,
) -> Any:
    return fit_head(
        train.windows, train.clips, val.clean, val.clips, labels, augment, settings, out_dir, start
    )


def predict(head: Any, clips: Encoded) -> np.ndarray:
    return predict_encoded(models.classifier(head), clips.clean)


def speaker_shifted(train: Encoded, test: Encoded) -> Encoded:
    """``test``'s clean windows moved, in the encoder's space, by their speaker's offset from
    the training voices: the training clips' mean frame less the mean frame of the speaker's
    *other* clips, so a clip's own emotion is not taken out with its speaker (a speaker with one
    clip is left as it is). What a user's own recordings could tell the model of their voice."""
    offsets = speaker_offsets(mean_frame(train.clean), test.clips, test.clean)
    moved = [
        [(w.astype(np.float32) + o).astype(w.dtype)]
        for w, o in zip(test.clean, offsets, strict=True)
    ]
    return Encoded(list(test.clips), moved)


def encode_normalised(
    feats: data.Features, norms: Sequence[Norm], encoders: Encoders, layers: int
) -> Encoded:
    """Encoder windows of every clip with its features normalised its own way (adapted to its
    speaker): encoded afresh, since the encoder's input changes."""
    _, runner = encoders.runner(layers)
    fill = data.silence(WHISPER)
    frames = [
        [runner(normalise(windows(x, encoders.size, encoders.hops[0], fill),
                          n.mean, n.std))[0]]
        for x, n in zip(feats.clean, norms, strict=True)
    ]  # fmt: skip
    return Encoded(list(feats.clips), frames)


def predict_normalised(
    head: Any, feats: data.Features, norms: Sequence[Norm], encoders: Encoders, layers: int
) -> np.ndarray:
    """Clip-level probabilities of :func:`encode_normalised`'s windows."""
    return predict(head, encode_normalised(feats, norms, encoders, layers))


def full_model(head: Any, encoders: Encoders, layers: int, labels: Sequence[str]) -> Any:
    """The model the app runs: the encoder's layers and the trained head in one graph."""
    model = models.build_encoder_model(encoders.size, len(labels), layers, encoders.block,
                                       encoders.weights, encoders.level,
                                       models.centred(head))  # fmt: skip
    models.copy_head(head, model)
    return model


def encoder_meta(layers: int, probe: dict[int, float] | None, encoders: Encoders) -> dict[str, Any]:
    """What the bundle says of its encoder: enough to run it, to rebuild it and to check it is
    the same."""
    return {
        "name": whisper.NAME,
        "layers": layers,
        "level": encoders.level,
        "block_frames": encoders.block,
        "width": whisper.WIDTH,
        "file": bundles.ENCODER_FILE,
        "packages": list(whisper.PACKAGES),
        "sha256": whisper.SHA256,
        "licence": "MIT (OpenAI Whisper)",
        "weights": "int8 in encoder.tflite (one block); emotion.tflite and emotion.keras hold "
        "the head only",
        "layer_choice": {str(k): v for k, v in (probe or {}).items()},
    }
