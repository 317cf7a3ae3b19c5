"""Training features: cached per settings, broken clips skipped with a reason, cache faults said."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from app import atomic
from app.features import FeatureSettings
from model_training import data
from model_training.augment import AugmentSettings
from model_training.corpora import Clip
from tests.data import some_clips

SETTINGS = FeatureSettings()


def clip(path: Path) -> Clip:
    return Clip(path, "angry", "emodb:03", "emodb", "male")


def test_broken_clips_are_skipped_with_reasons(tmp_path: Path) -> None:
    garbage = tmp_path / "03a01Wa.wav"
    garbage.write_bytes(b"RIFF" + os.urandom(200))
    empty = tmp_path / "03a02Wa.wav"
    empty.write_bytes(b"")
    good = some_clips("emodb", 1)[0]
    out = data.extract([clip(garbage), clip(good), clip(empty)], SETTINGS, None, tmp_path / "c", 1)
    assert [c.path for c in out.clips] == [good]
    assert [p for p, _ in out.skipped] == [garbage, empty]
    assert all(reason for _, reason in out.skipped)
    assert out.clean[0].shape[1] == SETTINGS.n_features


def test_variants_are_cached_and_differ(tmp_path: Path) -> None:
    good = [clip(p) for p in some_clips("emodb", 2)]
    augment = AugmentSettings(variants=2)
    first = data.extract(good, SETTINGS, augment, tmp_path, 1)
    assert len(first.variants[0]) == 3
    assert not np.array_equal(first.variants[0][0][:50], first.variants[0][1][:50])
    files = sorted(tmp_path.rglob("*.npy"))
    assert len(files) == 8  # per clip: clean, two variants and the clean frame levels
    assert first.levels[0].shape == (len(first.clean[0]),)
    again = data.extract(good, SETTINGS, augment, tmp_path, 1)
    for a, b in zip(first.variants, again.variants, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    logmel = data.extract(good, FeatureSettings(kind="logmel"), None, tmp_path, 1)
    assert logmel.clean[0].shape[1] == 64 and len(sorted(tmp_path.rglob("*.npy"))) == 12


def test_full_cache_disk_is_a_clear_error(tmp_path: Path) -> None:
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("no /dev/full to simulate a full disk")
    cache = tmp_path / "cache"
    good = clip(some_clips("emodb", 1)[0])
    # Every cache file of this clip lands in one two-letter folder: point it at a full device.
    data.extract([good], SETTINGS, None, cache, 1)
    written = next(cache.rglob("*.npy"))
    written.unlink()
    folder = written.parent
    folder.rmdir()
    folder.mkdir()
    os.symlink(full, atomic.part_path(written))
    with pytest.raises(data.CacheError, match="cannot write the feature cache"):
        data.extract([good], SETTINGS, None, cache, 1)
