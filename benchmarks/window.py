"""Per-window cost: features and one model window, LiteRT beside the TensorFlow ways to run it.

This is the budget every live result spends, so it is measured on one core and one thread: what
the app gets on a busy two-core laptop. Each window is different real speech, timed separately.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import soxr

from app.analyzer import LiveAnalyzer
from app.engine import Engine
from app.features import FrameStream, Pipeline, normalise
from app.gate import SpeechGate
from app.prosody import PitchStream, summarise
from app.quality import Meter
from benchmarks import material, proc
from benchmarks.results import Figure, Section, Summary, Target, skipped

TITLE = "Per-window cost (one core, one thread)"
WARMUP = 5
CORE_SHARE = 0.10  # live analysis: at most 10 % of one core at the default hop
MIC_RATE = 48000  # a typical sound card's own rate


def timed(fn: Callable[[Any], object], inputs: list[Any], warmup: int = WARMUP) -> list[float]:
    """Milliseconds of ``fn(x)`` for every input, after a few untimed calls."""
    for x in inputs[:warmup]:
        fn(x)
    out = []
    for x in inputs:
        start = time.perf_counter()
        fn(x)
        out.append((time.perf_counter() - start) * 1000)
    return out


def _keras(b: Any, shape: tuple[int, ...]) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """The bundle's Keras model called eagerly, and the same call traced once by tf.function."""
    import tensorflow as tf

    try:  # one thread, as the figure's note says: python -m benchmarks runs this in a new process
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran in this process (a test session): as it is
        pass
    from model_training.model import from_bundle

    model = from_bundle(b)
    graph = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec(shape, tf.float32)],
    )
    return (lambda x: model(x, training=False)), graph


def measure(windows: int = 200) -> Section:
    """Median and p95 of each stage over ``windows`` windows of real speech."""
    problem = material.model_problem()
    if problem:
        return skipped("window", TITLE, problem)
    b = material.load_bundle()
    s = b.features
    engine = Engine(b, threads=1)
    pipeline = Pipeline(s)
    hop = round(b.hop_seconds * s.sample_rate)
    size = (b.window_frames - 1) * s.hop_length + s.n_fft  # the samples of one model window
    n = max(int(windows), 2)
    audio = material.speech((size + (n + WARMUP + 12) * hop) / s.sample_rate + 1)
    clips = [audio[i * hop : i * hop + size] for i in range(n)]
    sec = Section("window", TITLE, size=windows)

    feats = timed(pipeline.features, clips)
    x = [normalise(pipeline.features(c), b.mean, b.std) for c in clips]
    litert = timed(engine.predict, x)

    stream = FrameStream(pipeline)
    chunks = [audio[i * hop : (i + 1) * hop] for i in range(n + WARMUP)]

    def frames_hop(chunk: np.ndarray) -> None:
        log_mel, _ = stream.push(chunk)
        pipeline.from_log_mel(log_mel)

    per_hop = timed(frames_hop, chunks)

    live = per_result(engine, audio, s.sample_rate, len(chunks) + 12)
    mic = soxr.resample(audio, s.sample_rate, MIC_RATE).astype(np.float32)
    live_mic = per_result(engine, mic, MIC_RATE, len(chunks) + 12)

    meter = Meter(s, b.quality, b.window_frames)
    meter.push(audio)
    levels = [pipeline.level_db(c) for c in clips]
    gate = SpeechGate()

    def quality_of(k: int) -> None:
        gate.update(levels[k])
        meter.measure(x[k], levels[k], gate.voiced(levels[k]), len(levels[k]))

    quality_ms = timed(quality_of, list(range(n)))

    pitch, frames_of = PitchStream(s), FrameStream(pipeline)  # in step: the live path's levels
    window_f0 = PitchStream(s).push(clips[0], levels[0])
    prosody_ms = []
    for k, chunk in enumerate(chunks):  # a hop's new pitch frames, then the window's summary
        _, hop_levels = frames_of.push(chunk)
        start = time.perf_counter()
        pitch.push(chunk, hop_levels)
        summarise(window_f0, levels[k % n], levels[k % n] > -50, s.hop_length / s.sample_rate)
        prosody_ms.append((time.perf_counter() - start) * 1000)
    prosody_ms = prosody_ms[WARMUP:]
    librosa_ms = _librosa(clips, s)
    tf_ms, tf_note = _tensorflow(b, x, engine)

    f_pipe = Summary.of(feats)
    f_keras = Summary.of(tf_ms["keras"]) if tf_ms else None
    sec.add(
        Figure(
            "features, 3 s window (Pipeline)",
            "ms",
            f_pipe,
            "librosa.feature.mfcc, same settings",
            librosa_ms,
        )
    )
    sec.add(
        Figure(
            "features, one hop streamed (FrameStream)",
            "ms",
            Summary.of(per_hop),
            "Pipeline on the whole 3 s window",
            f_pipe.median if f_pipe else None,
        )
    )
    sec.add(
        Figure(
            "inference, LiteRT",
            "ms",
            Summary.of(litert),
            "Keras model(x)",
            f_keras.median if f_keras else None,
        )
    )
    sec.add(
        Figure(
            "inference, Keras model(x)",
            "ms",
            f_keras,
            note="" if tf_ms else tf_note,
        )
    )
    sec.add(
        Figure(
            "inference, tf.function",
            "ms",
            Summary.of(tf_ms["graph"]) if tf_ms else None,
            "Keras model(x)",
            f_keras.median if f_keras else None,
            note="" if tf_ms else tf_note,
        )
    )
    sec.add(
        Figure(
            "features + inference per result (LiveAnalyzer.push of one hop)",
            "ms",
            Summary.of(live),
            "the hop (audio per result)",
            b.hop_seconds * 1000,
            Target("<=", CORE_SHARE, "ratio"),
        )
    )
    live_s = Summary.of(live)
    sec.add(
        Figure(
            f"the same at {MIC_RATE / 1000:g} kHz input (resampled as it streams, as from a "
            "microphone)",
            "ms",
            Summary.of(live_mic),
            f"at {s.sample_rate / 1000:g} kHz input",
            live_s.median if live_s else None,
        )
    )
    sec.add(
        Figure(
            "input quality of a window (quality.Meter.measure: level, SNR, clipping, bandwidth)",
            "ms",
            Summary.of(quality_ms),
            "features + inference per result",
            live_s.median if live_s else None,
            Target("<=", 0.5),
        )
    )
    sec.add(
        Figure(
            "prosody of a hop (prosody.PitchStream on its new frames + summarise the window)",
            "ms",
            Summary.of(prosody_ms),
            "features + inference per result",
            live_s.median if live_s else None,
            Target("<=", 0.5),
        )
    )
    full = [a + c for a, c in zip(feats, litert, strict=True)]
    sec.add(
        Figure(
            "features + inference, whole 3 s window (offline worst case)",
            "ms",
            Summary.of(full),
            "Keras model(x) alone",
            f_keras.median if f_keras else None,
        )
    )
    sec.notes += [
        f"{n} windows of {material.describe()}; {WARMUP} untimed warm-up calls per stage.",
        f"Pinned to core(s) {proc.pinned_cores()}; LiteRT num_threads=1, TensorFlow intra/inter-op "
        "threads 1, OMP/OpenBLAS threads 1 (when run by python -m benchmarks).",
        "The live path computes only a hop's new frames, then one LiteRT window (an encoder "
        "model: its encoder, then its head); the target is judged on LiveAnalyzer.push of one "
        "hop, which also runs the speech gate and smoothing.",
        "librosa reference: warm (its numba compilation happened before timing)."
        if librosa_ms
        else "librosa not installed: no feature reference.",
        *([tf_note] if tf_note else []),
    ]
    return sec


def per_result(engine: Engine, audio: np.ndarray, rate: int, hops: int) -> list[float]:
    """Milliseconds of each ``LiveAnalyzer.push`` of one hop of ``audio`` that gave a result."""
    analyzer = LiveAnalyzer(engine, rate)
    hop = round(engine.bundle.hop_seconds * rate)
    out = []
    for i in range(hops):
        chunk = audio[i * hop : (i + 1) * hop]
        start = time.perf_counter()
        update = analyzer.push(chunk)
        if update.results:
            out.append((time.perf_counter() - start) * 1000)
    return out[WARMUP:] or out


def _librosa(clips: list[np.ndarray], s: Any) -> float | None:
    """Median ms of librosa's MFCC on the same windows (the features' test reference)."""
    try:
        import librosa
    except ImportError:
        return None

    def mfcc(y: np.ndarray) -> object:
        return librosa.feature.mfcc(
            y=y,
            sr=s.sample_rate,
            n_mfcc=s.n_mfcc,
            n_fft=s.n_fft,
            hop_length=s.hop_length,
            n_mels=s.n_mels,
            fmin=s.fmin,
            fmax=s.fmax,
            center=False,
        )

    summary = Summary.of(timed(mfcc, clips))
    return summary.median if summary else None


def _tensorflow(
    b: Any, x: list[np.ndarray], engine: Engine
) -> tuple[dict[str, list[float]] | None, str]:
    """Eager and traced Keras timings, plus LiteRT's largest difference from Keras."""
    if not b.keras_path.is_file():
        return None, f"n/a ({b.keras_path.name} is not in the bundle)"
    try:
        eager, graph = _keras(b, b.input_shape)
    except ImportError as e:
        return None, f"n/a (TensorFlow/Keras not installed: {e})"
    batches = [w[None] for w in x]
    out = {"keras": timed(eager, batches), "graph": timed(graph, batches)}
    diff = 0.0
    for w in x[:20]:
        ref = eager(w[None])
        ref = ref[0] if isinstance(ref, list | tuple) else ref
        probs = np.asarray(ref)[0]
        if probs.shape == engine.predict(w).probabilities.shape:
            diff = max(diff, float(np.abs(probs - engine.predict(w).probabilities).max()))
    return out, f"LiteRT probabilities differ from Keras by at most {diff:.1e} (20 windows)."
