"""Training: features of a speaker split in, the best model by validation UA out.

Early stopping and LR reduction watch the validation speakers' unweighted average recall (clip
level, like the report), the best weights are checkpointed, and an interrupted run resumes.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import numpy.typing as npt

from app.adapt import TIME_CONSTANT, Norm, Population, frames_for
from app.features import FeatureSettings, Windowing, normalise, windows
from app.gate import GATE_SECONDS
from model_training import model as models
from model_training.augment import AugmentSettings, crop, mixup
from model_training.corpora import Clip
from model_training.data import Features, Voices, balance, silence, statistics

Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TrainSettings:
    window_seconds: float = 3.0
    hop_seconds: float = 0.25
    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 8  # epochs without a better validation UA before stopping
    lr_patience: int = 3
    clean_fraction: float = 0.4  # of batches' examples drawn from the un-augmented rendering
    recurrent: str = "lstm"
    adapt: bool = True  # train on speaker-normalised examples too (see app.adapt)
    cold_fraction: float = 0.5  # of examples normalised with the global statistics only
    time_constant: float = TIME_CONSTANT  # seconds of speech for half the speaker's statistics
    centre: bool = False  # encoder head: each window's mean frame out (model.Centre)
    speaker_fraction: float = 0.0  # encoder head: of examples moved by their speaker's offset
    seed: int = 1234

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Draws(keras.utils.PyDataset):
    """Balanced draws of training clips, one example each (:meth:`example`), then mixup: what
    both models train on."""

    def __init__(
        self,
        corpora: Sequence[str],
        targets: npt.NDArray[np.int64],
        n_labels: int,
        augment: AugmentSettings,
        settings: TrainSettings,
    ) -> None:
        super().__init__()
        self.targets, self.n_labels = targets, n_labels
        self.augment, self.settings = augment, settings
        self.draw, self.weights = balance(corpora, targets, n_labels)
        self.rng = np.random.default_rng(settings.seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.targets) / self.settings.batch_size)

    def __getitem__(self, index: int) -> tuple[Array, Array, npt.NDArray[np.float64]]:
        b = self.settings.batch_size
        picks = self.order[index * b : (index + 1) * b]
        x = np.stack([self.example(i) for i in picks]).astype(np.float32, copy=False)
        y = np.eye(self.n_labels, dtype=np.float32)[self.targets[picks]]
        w = self.weights[self.targets[picks]]
        if self.augment.mixup > 0 and len(picks) > 1:
            x, y, w = mixup(x, y, w, self.augment.mixup, self.rng)
        return x, y, w

    def example(self, i: int) -> npt.NDArray[np.floating]:
        raise NotImplementedError

    def rendering(self, renderings: Sequence[npt.NDArray[Any]]) -> npt.NDArray[Any]:
        """The clean rendering (at the settings' rate) or a random augmented one."""
        if len(renderings) == 1 or self.rng.random() < self.settings.clean_fraction:
            return renderings[0]
        return renderings[int(self.rng.integers(1, len(renderings)))]

    def on_epoch_end(self) -> None:
        self.order = self.rng.choice(len(self.targets), len(self.targets), p=self.draw)


class Batches(Draws):
    """The CNN's examples: a random window of a random rendering, normalised cold or by its
    speaker's statistics as the app would have them."""

    def __init__(
        self,
        data: Features,
        targets: npt.NDArray[np.int64],
        n_labels: int,
        size: int,
        fill: Array,
        voices: Voices,
        augment: AugmentSettings,
        settings: TrainSettings,
    ) -> None:
        self.data, self.size, self.fill, self.voices = data, size, fill, voices
        super().__init__([c.corpus for c in data.clips], targets, n_labels, augment, settings)

    def example(self, i: int) -> Array:
        n = self._norm(i)
        return normalise(self._window(i), n.mean, n.std)

    def _norm(self, i: int) -> Norm:
        s = self.settings
        if not s.adapt or self.rng.random() < s.cold_fraction:
            return self.voices.cold
        return self.voices.sampled(i, self.rng)

    def _window(self, i: int) -> Array:
        x = self.rendering(self.data.variants[i])
        if self.augment.shift:
            return crop(x, self.size, self.fill, self.rng)
        return windows(x, self.size, len(x), self.fill)[0]


def predict_clips(
    classifier: keras.Model,
    clips: Sequence[Array],
    size: int,
    hop: int,
    fill: Array,
    norms: Sequence[Norm],
) -> Array:
    """Clip-level probabilities: the mean over every window of each clip, as the app does;
    ``norms`` gives each clip's normalisation (cold, or its speaker's)."""
    return clip_means(window_probabilities(classifier, clip_windows(clips, size, hop, fill, norms)))


def clip_windows(
    clips: Sequence[Array], size: int, hop: int, fill: Array, norms: Sequence[Norm]
) -> list[Array]:
    """Every clip's normalised model windows."""
    return [
        normalise(windows(x, size, hop, fill), n.mean, n.std)
        for x, n in zip(clips, norms, strict=True)
    ]


def window_probabilities(classifier: keras.Model, clips: Sequence[np.ndarray]) -> list[Array]:
    """Per clip, the probabilities of each of its windows (one batch per call)."""
    probs = classifier.predict(
        np.concatenate(clips).astype(np.float32, copy=False), batch_size=128, verbose=0
    )
    return np.split(probs, np.cumsum([len(c) for c in clips])[:-1])


def clip_means(per_window: Sequence[Array]) -> Array:
    return np.stack([p.mean(axis=0) for p in per_window])


class EpochsDone(keras.callbacks.Callback):
    """Remembers how many epochs have finished (and so were backed up), for the resume message."""

    def __init__(self) -> None:
        super().__init__()
        self.done = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.done = epoch + 1


def interrupted_message(done: int, epochs: int, resume: Path) -> str:
    """What to tell the user when Ctrl-C ends a run: where its state is and how to go on."""
    if done == 0:
        return (
            "Training interrupted before the first epoch finished; nothing to resume. "
            "Run the same command to start again."
        )
    return (
        f"Training interrupted after epoch {done} of {epochs}. The run is saved in {resume}: "
        f"run the same command again (same --out) to resume from epoch {done + 1}."
    )


class ValidationUA(keras.callbacks.Callback):
    """Adds clip-level unweighted average recall to each epoch's logs: one ``val_ua_<mode>`` per
    way of scoring the validation clips (cold, adapted) and their mean ``val_ua``, which picks
    the model (it must do all). ``modes`` maps each mode to a function of the model that gives
    clip-level probabilities."""

    def __init__(self, targets: npt.NDArray[np.int64], modes: Mapping[str, Callable[..., Array]]):
        super().__init__()
        self.targets, self.modes = targets, modes

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        present = np.unique(self.targets)
        scores = {}
        for mode, predict in self.modes.items():
            hits = predict(self.model).argmax(axis=1) == self.targets
            scores[mode] = float(np.mean([np.mean(hits[self.targets == c]) for c in present]))
        if logs is not None:
            logs.update({f"val_ua_{mode}": ua for mode, ua in scores.items()})
            logs["val_ua"] = float(np.mean(list(scores.values())))


def fit(
    train: Features,
    val: Features,
    labels: Sequence[str],
    features: FeatureSettings,
    windowing: Windowing,
    fill: Array,
    voices: Voices,
    val_modes: Mapping[str, Sequence[Norm]],
    augment: AugmentSettings,
    settings: TrainSettings,
    out_dir: Path,
    start: keras.Model | None = None,
) -> keras.Model:
    """Train and return the full model (emotion + attention) with the best validation weights;
    ``start`` is a model of the same shape whose weights training continues from."""
    keras.utils.set_random_seed(settings.seed)
    size, hop = windowing.size, windowing.hop
    index = {x: i for i, x in enumerate(labels)}
    y_train = np.array([index[c.label] for c in train.clips], np.int64)
    y_val = np.array([index[c.label] for c in val.clips], np.int64)
    model = models.build(size, features.n_features, len(labels), recurrent=settings.recurrent)
    if start is not None:
        models.copy_weights(start, model)
    classifier = models.classifier(model)
    batches = Batches(train, y_train, len(labels), size, fill, voices, augment, settings)
    predictors = {
        mode: functools.partial(
            predict_clips, clips=val.clean, size=size, hop=hop, fill=fill, norms=norms
        )
        for mode, norms in val_modes.items()
    }
    run(classifier, batches, ValidationUA(y_val, predictors), settings, out_dir)
    return model


@dataclass(frozen=True)
class CNN:
    """A trained CNN and how its clips are framed and normalised."""

    model: keras.Model
    population: Population
    prior: float  # frames of speech after which a speaker's statistics weigh half
    windowing: Windowing
    fill: Array


def fit_cnn(
    *,
    train_set: Features,
    val_set: Features,
    labels: Sequence[str],
    features: FeatureSettings,
    augmenting: AugmentSettings,
    settings: TrainSettings,
    out_dir: Path,
    start: keras.Model | None = None,
) -> CNN:
    """The CNN recipe, one for ``train --model cnn`` and the cross-validation's folds: the
    population's statistics from the training clips, validation adapted to each speaker when
    ``settings.adapt``, else cold."""
    windowing = Windowing.of(features, settings.window_seconds, settings.hop_seconds, GATE_SECONDS)
    moments = train_set.moments(windowing)
    population = statistics(train_set.clean, moments)
    prior = frames_for(features, settings.time_constant)
    voices = Voices(train_set.clips, moments, population, prior)
    fill = silence(features)
    if settings.adapt:
        val_modes = modes(val_set, windowing, population, prior)
    else:
        val_modes = cold(val_set, population)
    model = fit(train_set, val_set, labels, features, windowing, fill, voices, val_modes,
                augmenting, settings, out_dir, start)  # fmt: skip
    return CNN(model, population, prior, windowing, fill)


def modes(
    features: Features,
    windowing: Windowing,
    population: Population,
    prior: float,
) -> dict[str, list[Norm]]:
    """Each clip's normalisation cold, and adapted to its speaker from their *other* clips."""
    voices = Voices(features.clips, features.moments(windowing), population, prior)
    return {"cold": [voices.cold] * len(features.clips), "adapted": voices.left_out()}


def cold(features: Features, population: Population) -> dict[str, list[Norm]]:
    return {"cold": [population.cold] * len(features.clips)}


def run(
    classifier: keras.Model,
    batches: keras.utils.PyDataset,
    validation: ValidationUA,
    settings: TrainSettings,
    out_dir: Path,
) -> None:
    """Compile and fit ``classifier``, keeping the weights of the best validation UA; an
    interrupted run is resumed by the same command."""
    classifier.compile(
        optimizer=keras.optimizers.Adam(settings.learning_rate),
        loss=keras.losses.CategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    best = out_dir / "best.weights.h5"
    callbacks = [
        validation,
        keras.callbacks.ModelCheckpoint(
            best, monitor="val_ua", mode="max", save_best_only=True, save_weights_only=True
        ),
        keras.callbacks.EarlyStopping(monitor="val_ua", mode="max", patience=settings.patience),
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_ua", mode="max", factor=0.5, patience=settings.lr_patience, min_lr=1e-5
        ),
        # a resumed run adds to its log; a new one (the backup is gone once a run ends) starts it
        keras.callbacks.CSVLogger(out_dir / "epochs.csv", append=(out_dir / "resume").is_dir()),
        keras.callbacks.BackupAndRestore(out_dir / "resume"),  # after the others: a whole epoch
    ]
    done = EpochsDone()
    progress = 1 if sys.stdout.isatty() else 2  # a live bar in a terminal, a line per epoch in logs
    try:
        classifier.fit(
            batches, epochs=settings.epochs, callbacks=[*callbacks, done], verbose=progress
        )
    except KeyboardInterrupt:
        # BackupAndRestore keeps the state of the last finished epoch (deleted only when a run
        # completes); say so, and end without a traceback
        print(
            "\n" + interrupted_message(done.done, settings.epochs, out_dir / "resume"),
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(130) from None
    if best.exists():
        classifier.load_weights(best)


class HeadBatches(Draws):
    """The encoder model's head's examples: a random window of a random rendering, as cached
    encoder frames."""

    def __init__(
        self,
        encoded: Sequence[Sequence[npt.NDArray[np.float16]]],
        corpora: Sequence[str],
        targets: npt.NDArray[np.int64],
        n_labels: int,
        augment: AugmentSettings,
        settings: TrainSettings,
        offsets: Sequence[Array] | None = None,
    ) -> None:
        self.encoded, self.offsets = encoded, offsets
        super().__init__(corpora, targets, n_labels, augment, settings)

    def example(self, i: int) -> npt.NDArray[np.floating]:
        r = self.rendering(self.encoded[i])
        x = r[int(self.rng.integers(len(r)))] if self.augment.shift else r[0]
        if self.offsets is not None and self.rng.random() < self.settings.speaker_fraction:
            return x.astype(np.float32) + self.offsets[i]
        return x


def speaker_offsets(
    centre: npt.NDArray[np.float64],
    clips: Sequence[Clip],
    clean: Sequence[npt.NDArray[np.floating]],
) -> list[Array]:
    """Per clip, its speaker's offset from the training voices in the encoder's space: ``centre``
    (their mean frame) less the mean frame of the speaker's *other* clips, so a clip's own
    emotion is not taken out with its speaker (zero for a speaker with one clip)."""
    sums = [w.astype(np.float64).sum(axis=(0, 1)) for w in clean]
    counts = [w.shape[0] * w.shape[1] for w in clean]
    totals: dict[str, tuple[Any, int]] = {}  # by speaker (corpus-prefixed)
    for c, s, n in zip(clips, sums, counts, strict=True):
        total, count = totals.get(c.speaker, (0.0, 0))
        totals[c.speaker] = (total + s, count + n)
    out = []
    for c, s, n in zip(clips, sums, counts, strict=True):
        total, count = totals[c.speaker]
        offset = centre - (total - s) / (count - n) if count > n else np.zeros_like(centre)
        out.append(offset.astype(np.float32))
    return out


def mean_frame(clean: Sequence[npt.NDArray[np.floating]]) -> npt.NDArray[np.float64]:
    """The clips' mean encoder frame, each clip weighing the same."""
    return np.mean([w.astype(np.float64).mean(axis=(0, 1)) for w in clean], axis=0)


def predict_encoded(classifier: keras.Model, clips: Sequence[npt.NDArray[np.float16]]) -> Array:
    """Clip-level probabilities from each clip's cached encoder windows: their mean, as the
    app takes the mean over a file's windows."""
    return clip_means(window_probabilities(classifier, clips))


def fit_head(
    train: Sequence[Sequence[npt.NDArray[np.float16]]],
    train_clips: Sequence[Clip],
    val: Sequence[npt.NDArray[np.float16]],
    val_clips: Sequence[Clip],
    labels: Sequence[str],
    augment: AugmentSettings,
    settings: TrainSettings,
    out_dir: Path,
    start: keras.Model | None = None,
) -> keras.Model:
    """Train the encoder model's head on cached encoder frames; return it (emotion + attention)
    with the best validation weights. ``start``: a head of the same shape to continue from."""
    keras.utils.set_random_seed(settings.seed)
    index = {x: i for i, x in enumerate(labels)}
    y_train = np.array([index[c.label] for c in train_clips], np.int64)
    y_val = np.array([index[c.label] for c in val_clips], np.int64)
    steps, width = train[0][0].shape[1:]
    head = models.build_head(steps, width, len(labels), settings.centre)
    if start is not None:
        models.copy_weights(start, head)
    offsets = None
    if settings.speaker_fraction:  # a pass over every training window: only when asked for
        clean = [w[0] for w in train]
        offsets = speaker_offsets(mean_frame(clean), train_clips, clean)
    batches = HeadBatches(train, [c.corpus for c in train_clips], y_train, len(labels), augment,
                          settings, offsets)  # fmt: skip
    validation = ValidationUA(y_val, {"cold": lambda m: predict_encoded(m, val)})
    run(models.classifier(head), batches, validation, settings, out_dir)
    return head
