"""What the benchmarks run on: real speech from the corpora, long WAVs made of it, the bundle.

Real speech matters: the speech gate and the model's work depend on it, and silence or noise
would flatter or penalise the figures. Clips are taken in a fixed shuffled order across the
corpora, decoded by the app's own reader, and never copied into the repository.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

from app import atomic, bundle
from app.audio import files
from app.features import SAMPLE_RATE

ROOT = Path(__file__).resolve().parents[1]
SCRATCH_ENV = "EMOTION_METER_BENCH_SCRATCH"
DATASETS_ENV = "EMOTION_METER_DATASETS"
SEED = 5

Audio = npt.NDArray[np.float32]


def datasets() -> Path:
    return Path(os.environ.get(DATASETS_ENV) or ROOT.parent / "shared" / "datasets")


@cache
def clips() -> tuple[Path, ...]:
    """Every corpus clip in a fixed shuffled order; the bundled sample when there are none."""
    found = sorted(p for p in datasets().rglob("*") if p.suffix.lower() in (".flac", ".wav"))
    random.Random(SEED).shuffle(found)
    if not found:
        sample = bundle.assets_dir() / "samples" / "sample.flac"
        found = [sample] if sample.is_file() else []
    return tuple(found)


def describe() -> str:
    """Where the speech came from, for the report."""
    c = clips()
    if not c:
        return "synthetic noise bursts (no corpora and no sample clip found)"
    if len(c) == 1:
        return f"the bundled sample clip {c[0].name}, repeated"
    return f"{len(c)} clips of {datasets()} in a fixed shuffled order (seed {SEED})"


def _synthetic(seconds: float) -> Audio:
    """Noise bursts of speech-like loudness: only when no real speech exists on this machine."""
    rng = np.random.default_rng(SEED)
    n = int(seconds * SAMPLE_RATE)
    envelope = (np.sin(np.arange(n) / SAMPLE_RATE * 2 * np.pi * 0.7) > -0.3).astype(np.float32)
    return (0.1 * rng.standard_normal(n) * envelope).astype(np.float32)


def speech_blocks(seconds: float) -> Iterator[Audio]:
    """Decoded clips at 16 kHz, one block per clip, ``seconds`` in all (clips repeat if needed)."""
    want = int(seconds * SAMPLE_RATE)
    if not clips():
        yield _synthetic(seconds)
        return
    done = 0
    while done < want:
        for path in clips():
            block = files.load(path, SAMPLE_RATE)[: want - done]
            done += len(block)
            yield block
            if done >= want:
                return


def speech(seconds: float) -> Audio:
    """``seconds`` of real speech as one array."""
    return np.concatenate(list(speech_blocks(seconds)))


def scratch() -> Path:
    """A folder for the generated WAVs, shared with the child processes of one run."""
    path = os.environ.get(SCRATCH_ENV)
    if not path:
        path = tempfile.mkdtemp(prefix="emotion-meter-bench-")
        os.environ[SCRATCH_ENV] = path
    Path(path).mkdir(parents=True, exist_ok=True)
    return Path(path)


def speech_wav(seconds: float, rate: int = SAMPLE_RATE) -> Path:
    """A 16-bit WAV of ``seconds`` of concatenated speech at ``rate``, written once per run."""
    path = scratch() / f"speech-{seconds:g}s-{rate}.wav"
    if path.is_file():
        return path
    with atomic.replacing(path) as f, sf.SoundFile(f, "w", rate, 1, "PCM_16", format="WAV") as out:
        for block in speech_blocks(seconds):
            out.write(block if rate == SAMPLE_RATE else soxr.resample(block, SAMPLE_RATE, rate))
    return path


def clip_folder(folder: Path, minutes: float) -> float:
    """``folder`` made and filled with links to corpus clips, about ``minutes`` of audio (as a
    folder of recordings that ``analyze DIR`` walks); the seconds of audio it holds."""
    folder.mkdir()
    total = 0.0
    for i, path in enumerate(clips()):
        (folder / f"{i:05d}{path.suffix}").symlink_to(path)
        total += files.info(path).duration
        if total >= minutes * 60:
            break
    return total


def load_bundle() -> bundle.Bundle:
    """The model the app would run (``$EMOTION_METER_MODEL`` or ``assets/model``)."""
    return bundle.load()


def model_problem() -> str:
    """Why no bundle can be loaded, or "" when one can."""
    try:
        load_bundle()
    except bundle.BundleError as e:
        return f"n/a (no model bundle: {e})"
    return ""
