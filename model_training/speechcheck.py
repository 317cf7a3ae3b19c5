"""``emotion-meter-train speechcheck``: fit the app's speech/non-speech check (app.speechcheck)
and write it into a bundle's ``speech_check`` block.

Speech: corpus clips of the bundle's training speakers; its threshold is set on them and the
validation speakers, and the false-flag rate reported on the test speakers. Not speech: the
training noise recordings (``../shared/noise``, never ``noise-eval``), as they are and with a
syllable-rate rhythm imposed (such noise opens the speech gate), and the training speakers' clips
reversed (speech's spectrum, not its time course). A quarter of the noise files are held out to
report how much noise it catches.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app import atomic
from app import bundle as bundles
from app.adapt import SpeechFrames
from app.audio import files
from app.engine import Engine
from app.features import Pipeline
from app.offline import analyze_file, model_windows
from app.quality import UNJUDGED
from app.speechcheck import NAMES, SpeechCheck, measures
from model_training import corpora

RHYTHM_HZ = (2.0, 8.0)  # rates of the loudness rhythm given to noise
DEPTH = (0.6, 1.0)  # how far the rhythm takes the noise down between beats
PIECE_SECONDS = 6.0  # noise recordings are cut into pieces this long
HELD_OUT = 4  # every this-many-th noise file (in name order) is held out
FALSE_FLAGS = 0.0005  # share of the training and validation speakers' speech windows it flags
REVERSED_WEIGHT = 0.3  # of a reversed window against a noise one. Measured (held-out clips
# flagged / held-out noise / reversed windows caught): 0.3 at 0.05 %: 1.2 / 82 / 70 %; at 0.1 %:
# 2.1 / 88 / 81 %; weight 1 at 0.05 %: 1.2 / 74 / 77 %
PER_SPEAKER = 60  # clips per speaker (TESS has 1,400 a speaker; a few dozen say enough)
SEED = 0

Array = npt.NDArray[np.float32]


def window_measures(audio: Array, bundle: bundles.Bundle) -> list[Array]:
    """The measures of each window the speech gate lets through, computed as the app does."""
    s = bundle.features
    pipeline = Pipeline(s)
    gate = SpeechFrames(bundle.windowing.gate)
    rate = s.sample_rate / s.hop_length
    out = []
    for x, levels, end in model_windows([audio], pipeline, bundle.windowing):
        gate.update(x, levels, end)
        log_mel = pipeline.to_log_mel(x)
        if not gate.speaking or log_mel is None:
            continue
        found = measures(log_mel, levels, gate.gate.voiced(levels), rate)
        if found is not None:
            out.append(found)
    return out


def rhythmic(noise: Array, rng: np.random.Generator, rate: int) -> Array:
    """``noise`` with its loudness beating at a syllable rate."""
    hz, depth = rng.uniform(*RHYTHM_HZ), rng.uniform(*DEPTH)
    t = np.arange(len(noise)) / rate
    beat = 1 - depth * (0.5 + 0.5 * np.cos(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi)))
    return (noise * beat).astype(np.float32)


def pieces(paths: Iterable[Path], rate: int) -> Iterator[Array]:
    """Each recording cut into pieces of :data:`PIECE_SECONDS` (a shorter one whole)."""
    size = int(PIECE_SECONDS * rate)
    for path in paths:
        audio = files.load(path, rate)
        for start in range(0, max(1, len(audio) - size // 2), size):
            yield audio[start : start + size]


@dataclass
class Sets:
    """Each window's measures, by where the window came from."""

    speech: dict[str, list[Array]]  # by split: train, val, test
    clips: dict[str, list[list[Array]]]  # the test speakers' windows, clip by clip
    noise: dict[str, list[Array]]  # train, held_out; as recorded and with a rhythm
    reversed: dict[str, list[Array]]  # train, test
    test_paths: list[Path]  # the test speakers' clips, for :func:`judged`


def gather(datasets: Path, noise_folder: Path, bundle: bundles.Bundle, limit: int) -> Sets:
    training = bundle.meta.get("training") or {}
    keys = {"train": "speakers", "val": "val_speakers", "test": "test_speakers"}
    split = {speaker: part for part, key in keys.items() for speaker in training.get(key, [])}
    if not split:
        raise ValueError(f"the bundle {bundle.path} does not name its training speakers")
    rate = bundle.features.sample_rate
    sets = Sets({p: [] for p in ("train", "val", "test")}, {"test": []},
                {p: [] for p in ("train", "held_out", "train_rhythm", "held_out_rhythm")},
                {"train": [], "test": []}, [])  # fmt: skip
    taken: dict[str, int] = {}
    for clip in corpora.read_corpora(datasets).clips:
        part = split.get(clip.speaker)
        if part is None or taken.get(clip.speaker, 0) >= limit:
            continue
        taken[clip.speaker] = taken.get(clip.speaker, 0) + 1
        audio = files.load(clip.path, rate)
        found = window_measures(audio, bundle)
        sets.speech[part] += found
        if part == "test":
            sets.clips["test"].append(found)
            sets.test_paths.append(clip.path)
        if part in ("train", "test"):
            sets.reversed[part] += window_measures(audio[::-1].copy(), bundle)
    recordings = sorted((noise_folder / "noise").glob("*.flac"))
    rng = np.random.default_rng(SEED)
    for i, path in enumerate(recordings):
        part = "held_out" if i % HELD_OUT == HELD_OUT - 1 else "train"
        for piece in pieces([path], rate):
            sets.noise[part] += window_measures(piece, bundle)
            sets.noise[f"{part}_rhythm"] += window_measures(rhythmic(piece, rng, rate), bundle)
    return sets


def fit(sets: Sets) -> dict[str, Any]:
    """The ``speech_check`` block: the logistic regression, its threshold and its figures."""
    from sklearn.linear_model import LogisticRegression

    speech = np.array(sets.speech["train"])
    noise = np.array(sets.noise["train"] + sets.noise["train_rhythm"])
    backwards = np.array(sets.reversed["train"])
    x = np.concatenate([speech, noise, backwards]).astype(np.float64)
    y = np.r_[np.ones(len(speech)), np.zeros(len(noise) + len(backwards))]
    other = len(noise) + len(backwards)  # the two classes weigh the same
    weight = np.r_[np.full(len(speech), 1 / len(speech)), np.full(len(noise), 1 / other),
                   np.full(len(backwards), REVERSED_WEIGHT / other)]  # fmt: skip
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    model = LogisticRegression(max_iter=2000).fit((x - mean) / scale, y, len(x) * weight)
    block: dict[str, Any] = {
        "measures": list(NAMES),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "weights": model.coef_[0].round(6).tolist(),
        "bias": round(float(model.intercept_[0]), 6),
    }
    probe = SpeechCheck.from_meta({**block, "below": 0.5})
    assert probe is not None

    def speech_probability(values: list[Array]) -> npt.NDArray[np.float64]:
        return np.array([probe.probability(v) for v in values])

    known = speech_probability(sets.speech["train"] + sets.speech["val"])
    block["below"] = round(float(np.quantile(known, FALSE_FLAGS)), 6)
    below = block["below"]

    def flagged(values: list[Array]) -> float:
        return round(float(np.mean(speech_probability(values) < below)), 4) if values else 0.0

    clips = [c for c in sets.clips["test"] if c]
    files_flagged = np.mean([np.mean(speech_probability(c) < below) >= 0.5 for c in clips])
    block["fitted_on"] = (
        "the bundle's training speakers (speech) against the training noise recordings (as "
        "recorded and with a 2-8 Hz rhythm) and the same speakers reversed; threshold: "
        f"{FALSE_FLAGS:.1%} of the training and validation speakers' speech windows"
    )
    block["evaluation"] = {
        "test_speech_windows_flagged": flagged(sets.speech["test"]),
        "test_speech_clips_flagged": round(float(files_flagged), 4),
        "test_clips": len(clips),
        "held_out_noise_windows_flagged": flagged(sets.noise["held_out"]),
        "held_out_rhythmic_noise_windows_flagged": flagged(sets.noise["held_out_rhythm"]),
        "test_reversed_speech_windows_flagged": flagged(sets.reversed["test"]),
    }
    return block


def judged(bundle_path: Path, paths: list[Path]) -> dict[str, Any]:
    """The test speakers' clips through the app's whole analysis with the bundle as written: the
    share whose file flags (those of half its speech windows) hold too_short or not_speech, and
    which. The check alone skips nothing; the app skips windows already flagged noisy."""
    engine = Engine(bundles.load(bundle_path))
    flagged = [str(p.name) for p in paths
               if set(UNJUDGED) & set(analyze_file(p, engine).file_quality()["flags"])]  # fmt: skip
    return {"test_clips_flagged_by_the_app": round(len(flagged) / max(1, len(paths)), 4),
            "test_clips_flagged": flagged}  # fmt: skip


def write(bundle_path: Path, block: dict[str, Any]) -> Path:
    """``block`` into the bundle's description as ``speech_check`` (nothing else changes)."""
    meta_path = bundle_path / bundles.META_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["speech_check"] = block
    atomic.write(meta_path, json.dumps(meta, indent=1) + "\n")
    return meta_path
