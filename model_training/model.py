"""The emotion models: Whisper's encoder with a light head (bundled), or the CNN of the seeds.

Both take a window of feature frames and give the ``emotion`` probabilities and the ``attention``
over time steps, a second output the app draws. Keras functional API with named layers and no
Lambda, so the models save with ``safe_mode`` and convert to LiteRT.

- ``encoder``: Whisper-base's encoder (its first ``layers`` layers, frozen) over Whisper log-mel,
  then a head: (optionally the window's mean frame taken out, :class:`Centre`), layer norm, a
  128-wide projection, attention pooling of the frames and of their squares (an attentive mean
  and second moment: what a voice does over the window), softmax.
- ``cnn``: CNN over the log-mel image, a recurrent layer over time, attention pooling.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
from keras import layers

from model_training import whisper

FILTERS = (16, 32, 64)
UNITS = 128
DENSE = 64
DROPOUT = 0.3
RECURRENT = ("lstm", "bilstm", "bigru")
KINDS = ("encoder", "cnn")
HEAD_UNITS = 128
HEAD_DROPOUT = 0.3


def build(
    frames: int,
    features: int,
    labels: int,
    *,
    recurrent: str = "lstm",
    filters: Sequence[int] = FILTERS,
    units: int = UNITS,
    dropout: float = DROPOUT,
    batch_size: int | None = None,
) -> keras.Model:
    """``(frames, features)`` -> ``emotion`` probabilities and ``attention`` over time steps."""
    if recurrent not in RECURRENT:
        raise ValueError(f"recurrent must be one of {RECURRENT}, not {recurrent!r}")
    inputs = keras.Input((frames, features), batch_size=batch_size, name="features")
    x = layers.Reshape((frames, features, 1), name="image")(inputs)
    for i, width in enumerate(filters, 1):
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"norm{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
        x = layers.SpatialDropout2D(dropout / 2, name=f"drop{i}")(x)
    steps, bands, channels = x.shape[1], x.shape[2], x.shape[3]
    x = layers.Reshape((steps, bands * channels), name="sequence")(x)
    x = _recurrent(recurrent, units)(x)
    score = layers.Dense(1, name="attention_score")(x)
    score = layers.Reshape((steps,), name="attention_logits")(score)
    weights = layers.Softmax(name="attention")(score)
    context = layers.Dot(axes=1, name="context")([weights, x])
    x = layers.Dropout(dropout, name="context_drop")(context)
    x = layers.Dense(DENSE, activation="relu", name="dense")(x)
    x = layers.Dropout(dropout, name="dense_drop")(x)
    emotion = layers.Dense(labels, activation="softmax", name="emotion")(x)
    return keras.Model(inputs, [emotion, weights], name="emotion_meter")


@keras.saving.register_keras_serializable(package="emotion_meter")
class Centre(layers.Layer):
    """A window's encoder frames less their mean over the window: what the voice does within it,
    not where it sits, which the speaker, the language and the microphone move as much as the
    emotion does. One file's window is enough (unlike a speaker's statistics)."""

    def call(self, x: keras.KerasTensor) -> keras.KerasTensor:
        from keras import ops

        return x - ops.mean(x, axis=1, keepdims=True)


CENTRE = "head_centre"  # the layer's name: a head has it or not (:func:`centred`)


def head(
    x: keras.KerasTensor, labels: int, dropout: float = HEAD_DROPOUT, centre: bool = False
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Encoder frames ``(steps, width)`` -> ``emotion`` and ``attention`` (steps)."""
    steps = int(x.shape[1])
    if centre:
        x = Centre(name=CENTRE)(x)
    x = layers.LayerNormalization(name="head_norm")(x)
    x = layers.Dropout(dropout, name="head_drop")(x)
    x = layers.Dense(HEAD_UNITS, activation="gelu", name="head_project")(x)
    score = layers.Dense(1, name="attention_score")(x)
    score = layers.Reshape((steps,), name="attention_logits")(score)
    weights = layers.Softmax(name="attention")(score)
    mean = layers.Dot(axes=1, name="context")([weights, x])
    square = layers.Multiply(name="square")([x, x])
    second = layers.Dot(axes=1, name="context_square")([weights, square])
    x = layers.Concatenate(name="pooled")([mean, second])
    x = layers.Dropout(dropout, name="pooled_drop")(x)
    emotion = layers.Dense(labels, activation="softmax", name="emotion")(x)
    return emotion, weights


def build_head(steps: int, width: int, labels: int, centre: bool = False) -> keras.Model:
    """The head alone, trained on cached encoder frames (the encoder is frozen)."""
    inputs = keras.Input((steps, width), name="encoded")
    return keras.Model(inputs, list(head(inputs, labels, centre=centre)), name="emotion_head")


def centred(head_model: keras.Model) -> bool:
    """Whether a trained head takes each window's mean frame out (:class:`Centre`)."""
    return any(layer.name == CENTRE for layer in head_model.layers)


def build_encoder_model(
    frames: int, labels: int, n_layers: int, block: int, weights: dict | None = None,
    level: bool = True, centre: bool = False,
) -> keras.Model:  # fmt: skip
    """``(frames, 80)`` Whisper log-mel -> ``emotion`` and ``attention`` (frames // 2 steps): the
    encoder reads each ``block`` of frames on its own (as the app runs it, so that overlapping
    windows share blocks), the head the window's encoder frames; ``level``: each block's level
    normalised first (:class:`whisper.Level`)."""
    inputs = keras.Input((frames, whisper.N_MELS), name="features")
    encoder = whisper.encoder(block, n_layers, weights, level=level)
    x = layers.Reshape((frames // block, block, whisper.N_MELS), name="blocks")(inputs)
    x = layers.TimeDistributed(encoder, name="encoder")(x)
    x = layers.Reshape((frames // 2, whisper.WIDTH), name="encoded")(x)
    emotion, attention = head(x, labels, centre=centre)
    model = keras.Model(inputs, [emotion, attention], name="emotion_meter_encoder")
    whisper.frozen(model)
    return model


def from_bundle(bundle: Any) -> keras.Model:
    """A bundle's whole model in Keras (emotion + attention): its ``emotion.keras``, or for an
    encoder model its head over the encoder rebuilt from the installed weights."""
    if bundle.encoder is None:
        return load(bundle.keras_path)
    e = bundle.encoder
    block = e.block_frames or bundle.window_frames  # no file of its own: it reads whole windows
    trained = load(bundle.keras_path)
    model = build_encoder_model(bundle.window_frames, len(bundle.labels), e.layers, block,
                                level=e.level, centre=centred(trained))  # fmt: skip
    copy_head(trained, model)
    return model


def copy_head(head_model: keras.Model, model: keras.Model) -> None:
    """The trained head's weights into the full model, layer by layer."""
    for layer in head_model.layers[1:]:
        model.get_layer(layer.name).set_weights(layer.get_weights())


def _recurrent(kind: str, units: int) -> layers.Layer:
    if kind == "lstm":
        return layers.LSTM(units, return_sequences=True, name="lstm")
    cell = layers.LSTM if kind == "bilstm" else layers.GRU
    return layers.Bidirectional(cell(units // 2, return_sequences=True), name=kind)


def classifier(model: keras.Model) -> keras.Model:
    """The same layers with only the emotion output: what training fits."""
    return keras.Model(model.input, model.get_layer("emotion").output, name="emotion_classifier")


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Continue from ``source``'s weights; a model of another shape is a clear error."""
    shapes = [w.shape for w in source.get_weights()]
    if [tuple(s) for s in shapes] != [tuple(w.shape) for w in target.get_weights()]:
        raise ModelFileError(
            "The model to start from has another shape (input, labels or layers) than the one "
            "these settings build; start from a model trained with the same settings."
        )
    target.set_weights(source.get_weights())


def attention_steps(model: keras.Model) -> int:
    return int(model.get_layer("attention").output.shape[1])


class ModelFileError(FileNotFoundError):
    """A ``.keras`` file that cannot be loaded safely (missing, damaged, or with code in it).

    A ``FileNotFoundError`` so that the command line reports it as a plain error message.
    """


def load(path: str | os.PathLike[str]) -> keras.Model:
    """A saved ``.keras`` model, loaded with ``safe_mode=True``; any failure is a
    :class:`ModelFileError` that says why, never a traceback from deep inside Keras."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"No Keras model at {path}.")
    try:
        return keras.models.load_model(path, safe_mode=True)
    except ValueError as e:
        if "safe_mode" in str(e) or "Lambda" in str(e):
            raise ModelFileError(
                f"{path.name} contains a Lambda layer (arbitrary Python code), which is refused "
                "for safety. Rebuild the model without Lambda layers (this project's models have "
                "none) and save it again."
            ) from e
        raise ModelFileError(f"{path.name} is not a usable Keras model: {e}") from e
    except (OSError, TypeError, KeyError, zipfile.BadZipFile) as e:
        raise ModelFileError(f"{path.name} is damaged or not a Keras model: {e}") from e
