"""The eGeMAPS + SVM baseline on real RAVDESS speakers, its feature cache and speaker norm."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from model_training import baseline
from model_training.corpora import Clip
from model_training.splits import Split
from tests.data import datasets

LABELS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
TRAIN, VAL, TEST = ("01", "02", "03"), "04", "05"

Rows = tuple[npt.NDArray[np.float64], list[str]]


def ravdess(actor: str, per_label: int) -> list[Clip]:
    """The first ``per_label`` clips of each emotion of one actor, labelled from the name."""
    files = sorted((datasets() / "ravdess" / f"Actor_{actor}").glob("03-01-*"))
    clips = []
    for i, label in enumerate(LABELS, 1):
        for path in [f for f in files if f.name.split("-")[2] == f"{i:02d}"][:per_label]:
            gender = "male" if int(actor) % 2 else "female"
            clips.append(Clip(path, label, f"ravdess:{actor}", "ravdess", gender))
    return clips


def broken(folder: Path) -> Clip:
    """Garbage bytes under a RAVDESS name: readable by no one."""
    path = folder / "ravdess" / "Actor_99" / "03-01-05-01-01-01-99.flac"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not audio at all " * 64)
    return Clip(path, "angry", "ravdess:99", "ravdess", "male")


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Split:
    """3 actors train, 1 validates, 1 tests (plus an unreadable clip): 64 real clips."""
    bad = broken(tmp_path_factory.mktemp("bad"))
    train = [c for a in TRAIN for c in ravdess(a, 2)]
    return Split(tuple(train), tuple(ravdess(VAL, 1)), (*ravdess(TEST, 1), bad))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("egemaps")


@pytest.mark.parametrize("speaker_norm", [False, True])
def test_run_scores_the_test_speaker(
    split: Split, cache: Path, speaker_norm: bool, tmp_path: Path
) -> None:
    result = baseline.run(split, LABELS, cache, speaker_norm=speaker_norm)
    assert result["speaker_norm"] is speaker_norm
    assert result["params"]["C"] in baseline.C_GRID
    assert result["params"]["gamma"] in baseline.GAMMA_GRID
    assert result["train_clips"] == len(split.train)
    assert result["test_clips"] == len(split.test) - 1  # the garbage file
    assert [p for p, _ in result["skipped"]] == [str(split.test[-1].path)]
    for part in ("val", "test"):
        for figures in result[part].values():
            for key in ("accuracy", "ua", "macro_f1"):
                assert 0.0 <= figures[key] <= 1.0
    assert set(result["test"]) == {"all", "ravdess"}
    assert np.sum(result["test"]["all"]["confusion"]) == result["test_clips"]
    path = baseline.write(result, tmp_path)
    assert path == tmp_path / "baseline.json" and json.loads(path.read_text()) == result
    assert [p.name for p in tmp_path.iterdir()] == ["baseline.json"]


def test_second_extraction_computes_nothing(
    split: Split, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clips = split.train + split.val + split.test[:-1]  # all the readable ones
    first = baseline.egemaps(clips, cache)
    files = {p: p.stat().st_mtime_ns for p in cache.rglob("*")}

    def computing(path: str) -> None:
        raise AssertionError(f"{path} was computed again")

    monkeypatch.setattr(baseline, "_functionals", computing)
    second = baseline.egemaps(clips, cache)
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*")} == files
    assert len(files) == len(clips)
    np.testing.assert_array_equal(first.features, second.features)
    assert first.features.shape == (len(clips), baseline.N_FEATURES)
    assert first.features.dtype == np.float32 and np.isfinite(first.features).all()


def test_unreadable_short_and_missing_clips_are_skipped(split: Split, tmp_path: Path) -> None:
    short = tmp_path / "ravdess" / "Actor_98" / "03-01-04-01-01-01-98.flac"
    short.parent.mkdir(parents=True)
    sf.write(short, np.full(40, 0.1, np.float32), 16_000)
    good = split.val[0]
    gone = Clip(tmp_path / "03-01-02-01-01-01-97.flac", "calm", "ravdess:97", "ravdess", "male")
    clips = [broken(tmp_path), good, Clip(short, "sad", "ravdess:98", "ravdess", "female"), gone]
    found = baseline.egemaps(clips, tmp_path / "cache", workers=1)
    assert found.features.shape == (1, baseline.N_FEATURES)
    assert found.ok.tolist() == [False, True, False, False]
    reasons = dict(found.skipped)
    assert set(reasons) == {clips[0].path, short, gone.path}
    assert "03-01-05-01-01-01-99.flac" in reasons[clips[0].path]
    assert "too short" in reasons[short]
    assert "does not exist" in reasons[gone.path]


rows = st.integers(2, 24).flatmap(
    lambda n: st.tuples(
        arrays(np.float64, (n, 3), elements=st.floats(-1e3, 1e3)),
        st.lists(st.sampled_from("abc"), min_size=n, max_size=n),
    )
)


@given(rows)
def test_speaker_normalise_centres_and_scales_each_speaker(data: Rows) -> None:
    x, speakers = data
    z = baseline.speaker_normalise(x, speakers, leave_one_out=False)
    for s in set(speakers):
        mine = np.array(speakers) == s
        np.testing.assert_allclose(z[mine].mean(axis=0), 0.0, atol=1e-6)
        spread = x[mine].std(axis=0) > 1e-3
        np.testing.assert_allclose(z[mine].std(axis=0)[spread], 1.0, rtol=1e-6)
        assert np.isfinite(z).all()


@given(rows, st.data())
def test_leave_one_out_row_is_scored_by_the_others(data: Rows, draw: st.DataObject) -> None:
    x, speakers = data
    i = draw.draw(st.integers(0, len(x) - 1))
    shift = draw.draw(arrays(np.float64, 3, elements=st.floats(-1e3, 1e3)))
    others = x[(np.array(speakers) == speakers[i]) & (np.arange(len(x)) != i)]
    z = baseline.speaker_normalise(x, speakers, leave_one_out=True)
    moved = x.copy()
    moved[i] += shift
    z_moved = baseline.speaker_normalise(moved, speakers, leave_one_out=True)
    if not len(others):
        assert not z[i].any() and not z_moved[i].any()  # a lone clip has nothing to compare with
        return
    mean, std = others.mean(axis=0), np.maximum(others.std(axis=0), baseline.MIN_STD)
    np.testing.assert_allclose(z[i], (x[i] - mean) / std, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(z_moved[i], (moved[i] - mean) / std, rtol=1e-9, atol=1e-9)
