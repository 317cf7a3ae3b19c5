"""Splits are by speaker: no voice is in two parts, and TESS only ever trains."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_training.corpora import Clip
from model_training.splits import by_speaker, folds


def clips_of(speakers: dict[str, int], corpus: str) -> list[Clip]:
    return [
        Clip(Path(f"/{corpus}/{s}/{i}.wav"), "angry" if i % 2 else "sad", f"{corpus}:{s}", corpus,
             "male" if int(s) % 2 else "female")
        for s, n in speakers.items()
        for i in range(n)
    ]  # fmt: skip


@given(
    st.dictionaries(st.from_regex(r"[0-9]{2}", fullmatch=True), st.integers(1, 6), min_size=1,
                    max_size=30),
    st.integers(0, 1000),
)  # fmt: skip
def test_no_speaker_in_two_parts(speakers: dict[str, int], seed: int) -> None:
    clips = clips_of(speakers, "ravdess") + clips_of({"01": 3, "02": 3}, "tess")
    split = by_speaker(clips, seed=seed)
    parts = [set(split.speakers(p)) for p in ("train", "val", "test")]
    assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    assert sum(len(p) for p in split.parts().values()) == len(clips)
    assert all(c.corpus != "tess" for c in split.val + split.test)
    if len(speakers) >= 5:
        assert split.test and split.val


def test_split_is_deterministic_and_balances_genders() -> None:
    clips = clips_of({f"{i:02d}": 4 for i in range(1, 21)}, "ravdess")
    a, b = by_speaker(clips), by_speaker(clips)
    assert a == b
    genders = {c.gender for c in a.test}
    assert genders == {"male", "female"}
    assert len(a.speakers("test")) == 4 and len(a.speakers("val")) == 2


def test_describe_lists_speakers_and_labels() -> None:
    split = by_speaker(clips_of({f"{i:02d}": 2 for i in range(1, 11)}, "emodb"))
    text = split.describe(("angry", "sad"))
    assert "test speakers: emodb:" in text and "angry" in text


@given(
    st.dictionaries(st.from_regex(r"[0-9]{2}", fullmatch=True), st.integers(1, 4), min_size=5,
                    max_size=24),
    st.integers(2, 5),
)  # fmt: skip
def test_folds_test_every_speaker_exactly_once(speakers: dict[str, int], k: int) -> None:
    emodb = {f"{i:02d}": 2 for i in range(3, 11)}
    clips = (
        clips_of(speakers, "ravdess") + clips_of(emodb, "emodb")
        + clips_of({"01": 3, "02": 3}, "tess")
    )  # fmt: skip
    splits = folds(clips, k)
    assert len(splits) == k
    tested = [s for split in splits for s in split.speakers("test")]
    assert sorted(tested) == sorted({c.speaker for c in clips if c.corpus != "tess"})
    for split in splits:
        parts = [set(split.speakers(p)) for p in ("train", "val", "test")]
        assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
        assert sum(len(p) for p in split.parts().values()) == len(clips)
        assert all(c.corpus != "tess" for c in split.val + split.test)
        assert {c.corpus for c in split.test} == {"ravdess", "emodb"} or k > 8  # both corpora
    counts = [len(split.speakers("test")) for split in splits]
    assert max(counts) - min(counts) <= 2  # folds of even size


def test_folds_need_enough_speakers() -> None:
    with pytest.raises(ValueError, match="fewer than 5 folds"):
        folds(clips_of({"01": 2, "02": 2, "03": 2}, "emodb"), 5)
