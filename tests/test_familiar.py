"""Familiarity: how far a window's encoder statistics lie from the speech a reference holds, on
real speech through the bundled encoder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app import bundle as bundles
from app import familiar
from app.audio.files import load
from app.engine import Engine
from app.offline import analyze_audio
from model_training import channels, corpora
from model_training import familiar as fitting
from tests.data import datasets


def test_the_temperature_grows_only_beyond_typical_distances() -> None:
    known = familiar.Familiarity(
        np.zeros(2, np.float32), np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32), 1.0,
        k=1, slope=1.5,
    )  # fmt: skip
    assert known.temperature(1.2, 0.5) == known.temperature(1.2, 1.0) == pytest.approx(1.2)
    assert known.temperature(1.2, 4.0) == pytest.approx(1.2 * 4.0**1.5)
    assert known.distance(np.array([3.0, 0.0])) == pytest.approx(2.0)  # to (1, 0), the nearest


def test_the_slope_softens_overconfident_far_windows_and_not_near_ones() -> None:
    """Far windows that are right a third of the time at 0.9 get a slope that brings them down;
    near ones are untouched by any slope."""
    rng = np.random.default_rng(0)
    windows, truth, far = [], [], []
    for i in range(300):
        y = int(rng.integers(4))
        top = y if rng.random() < 1 / 3 else (y + 1) % 4
        p = np.full((3, 4), 0.1 / 3, np.float32)
        p[:, top] = 0.9
        windows.append(p)
        truth.append(y)
        far.append(np.full(3, 3.0 if i % 2 else 0.8, np.float32))
    slope = fitting.fit_slope(windows, far, truth, 1.0)
    assert slope > 0.5
    probs = fitting.clip_probabilities(windows, far, 1.0, slope)
    assert np.allclose(probs[::2], np.stack(windows[::2]).mean(axis=1))  # near: as they were
    assert probs[1::2].max(axis=1).mean() < 0.6


# the bundled model's own reference, on real speech and on sound far from any it learnt


def held_out_clips(engine: Engine, per_speaker: int) -> list[corpora.Clip]:
    """Clips of the bundle's withheld test speakers, spread over their lists."""
    wanted = set(engine.bundle.meta["training"]["test_speakers"])
    scan = corpora.read_corpora(datasets(), None, tuple(engine.bundle.labels))
    mine: dict[str, list[corpora.Clip]] = {}
    for c in scan.clips:
        if c.speaker in wanted:
            mine.setdefault(c.speaker, []).append(c)
    return [group[i] for group in mine.values()
            for i in np.linspace(0, len(group) - 1, per_speaker).astype(int)]  # fmt: skip


def judged(engine: Engine, audio: np.ndarray) -> tuple[list[str], bool]:
    """A recording's file-level flags and whether it is called uncertain."""
    analysis = analyze_audio(audio.astype(np.float32), engine)
    return analysis.file_quality()["flags"], analysis.overall_uncertain


def music(seconds: float, rate: int = 16000) -> np.ndarray:
    """Piano-like notes (harmonics that decay) over a bass line: sound without a voice."""
    rng = np.random.default_rng(3)
    t = np.arange(int(0.25 * rate)) / rate
    out = []
    for _ in range(int(seconds / 0.25)):
        f = 220.0 * 2 ** (int(rng.integers(0, 24)) / 12)
        note = sum(np.sin(2 * np.pi * f * h * t) / h**1.5 for h in range(1, 8))
        bass = np.sin(2 * np.pi * f / 4 * t)
        out.append((note + 0.5 * bass) * np.exp(-6 * t))
    y = np.concatenate(out)
    return 0.3 * y / np.abs(y).max()


def test_the_bundled_reference_is_checked_and_fitted_on_held_out_data(engine: Engine) -> None:
    found = engine.bundle.familiarity
    assert found is not None, "the bundled model carries no familiarity reference"
    block = engine.bundle.meta["familiarity"]
    assert block["unfamiliar_above"] > 1.0  # beyond the typical distance of new voices
    assert familiar.FILE in engine.bundle.meta["files"]


def test_held_out_speakers_of_known_corpora_are_rarely_unfamiliar(engine: Engine) -> None:
    clips = held_out_clips(engine, 8)
    flagged = [c for c in clips if "unfamiliar" in judged(engine, load(c.path, 16000))[0]]
    assert len(flagged) <= 0.1 * len(clips), [c.path.name for c in flagged]


def test_music_and_a_strongly_shifted_voice_are_unfamiliar(engine: Engine, clip) -> None:
    flags, uncertain = judged(engine, music(4.0))
    assert "unfamiliar" in flags and uncertain
    y = load(clip, 16000)
    for factor in (2.0, 0.6):  # pitch and formants an octave up, and most of one down
        shifted = channels.resample(y, 16000, int(16000 / factor))
        flags, uncertain = judged(engine, shifted)
        assert "unfamiliar" in flags and uncertain, factor


@pytest.mark.parametrize("damage", ["changed", "unlisted"])
def test_a_tampered_or_unlisted_reference_is_refused(
    engine: Engine, tmp_path: Path, damage: str
) -> None:
    copy = tmp_path / "model"
    shutil.copytree(engine.bundle.path, copy)
    if damage == "changed":
        raw = bytearray((copy / familiar.FILE).read_bytes())
        raw[-100] ^= 0xFF
        (copy / familiar.FILE).write_bytes(bytes(raw))
    else:
        meta = json.loads((copy / "emotion.json").read_text())
        del meta["files"][familiar.FILE]
        (copy / "emotion.json").write_text(json.dumps(meta))
    with pytest.raises(bundles.BundleError, match=familiar.FILE):
        bundles.load(copy)
