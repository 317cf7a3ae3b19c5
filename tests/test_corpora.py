"""The corpus readers, on the real corpora and on tiny copies of each download's own layout."""

from __future__ import annotations

import itertools
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from model_training import corpora
from model_training.corpora import CorpusLayoutError, Name

SEEDS = itertools.count()


def write(root: Path, *names: str) -> list[Path]:
    """A real, different little WAV or FLAC (a few hundred samples of noise) at each name."""
    paths = []
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        noise = np.random.default_rng(next(SEEDS)).uniform(-0.1, 0.1, 400)
        sf.write(path, noise, 16000, format=path.suffix[1:].upper(), subtype="PCM_16")
        paths.append(path)
    return paths


def by_name(scan: corpora.Scan) -> dict[str, corpora.Clip]:
    return {c.path.name: c for c in scan.clips}


# The real corpora in ../shared/datasets (see its README): 16 kHz FLAC, original names.


@pytest.fixture(scope="module")
def real() -> Path:
    try:
        return corpora.datasets_root()
    except FileNotFoundError as e:
        pytest.skip(str(e))


def test_real_counts(real: Path) -> None:
    scan = corpora.read_corpora(real)
    clips = Counter(c.corpus for c in scan.clips)
    speakers = {k: {c.speaker for c in scan.clips if c.corpus == k} for k in clips}
    # RAVDESS has 1,200 files; Actor_07's 03-01-03-01-02-02 is a byte copy of its -01 repetition.
    assert clips == {"ravdess": 1199, "tess": 2798, "emodb": 350}
    assert {k: len(v) for k, v in speakers.items()} == {"ravdess": 20, "tess": 2, "emodb": 8}
    assert [(p.name, why) for p, why in scan.skipped] == [
        ("03-01-03-01-02-02-07.flac", "duplicate of Actor_07/03-01-03-01-02-01-07.flac")
    ]
    assert scan.excluded == {"boredom": 58}  # EmoDB: 408 files, 58 of them boredom
    assert all(c.label in corpora.LABELS8 for c in scan.clips)
    assert all(s.startswith(f"{k}:") for k, v in speakers.items() for s in v)
    assert speakers["tess"] == {"tess:OAF", "tess:YAF"}
    assert "ravdess: 1199 clips from 20 speakers" in scan.summary()


def test_real_labels7_excludes_calm(real: Path) -> None:
    scan = corpora.read_corpora(real, ["ravdess"], corpora.LABELS7)
    assert len(scan.clips) == 1039
    assert scan.excluded == {"calm": 160}
    assert {c.label for c in scan.clips} == set(corpora.LABELS7)


def test_real_genders(real: Path) -> None:
    scan = corpora.read_corpora(real)
    for c in scan.clips:
        if c.corpus == "ravdess":
            assert c.gender == ("male" if int(c.speaker.split(":")[1]) % 2 else "female")
        elif c.corpus == "tess":
            assert c.gender == "female"
        else:
            assert c.gender == corpora.EMODB_GENDERS[c.speaker.split(":")[1]]
    assert {c.gender for c in scan.clips if c.corpus == "emodb"} == {"male", "female"}


# Tiny corpora in each download's layout.


def test_ravdess_duplicates_song_empty_and_bad_names(tmp_path: Path) -> None:
    root = tmp_path / "ravdess"
    kept, other = write(
        root, "Actor_07/03-01-03-01-02-01-07.wav", "Actor_07/03-01-03-01-01-01-07.wav"
    )
    shutil.copy(kept, root / "Actor_07/03-01-03-01-02-02-07.wav")
    write(root, "Actor_08/03-01-02-02-01-01-08.WAV", "Actor_08/03-02-05-01-01-01-08.wav")
    write(root, "Actor_08/01-01-05-01-01-01-08.wav", "Actor_08/03-01-05-01.flac")
    (root / "Actor_08/03-01-04-01-01-01-08.wav").touch()
    (root / "README.txt").write_text("not a clip")
    (root / ".DS_Store").write_bytes(b"\0")
    (root / "Actor_08/._03-01-04-01-01-01-08.wav").write_bytes(b"\0resource fork")
    scan = corpora.read_corpus("ravdess", root)
    assert sorted(by_name(scan)) == sorted(
        ["03-01-03-01-02-01-07.wav", "03-01-03-01-01-01-07.wav", "03-01-02-02-01-01-08.WAV"]
    )
    assert other.stat().st_size == kept.stat().st_size  # same size, different bytes: kept
    calm = by_name(scan)["03-01-02-02-01-01-08.WAV"]
    assert (calm.label, calm.speaker, calm.corpus, calm.gender) == (
        "calm", "ravdess:08", "ravdess", "female"
    )  # fmt: skip
    assert by_name(scan)["03-01-03-01-02-01-07.wav"].gender == "male"
    assert {p.name: why for p, why in scan.skipped} == {
        "03-01-03-01-02-02-07.wav": "duplicate of Actor_07/03-01-03-01-02-01-07.wav",
        "03-02-05-01-01-01-08.wav": "not speech (vocal channel 02 is song)",
        "01-01-05-01-01-01-08.wav": "modality 01 is not the audio-only release (03)",
        "03-01-05-01.flac": "not a RAVDESS name like 03-01-05-01-02-01-01",
        "03-01-04-01-01-01-08.wav": "empty file",
    }
    assert [c.path for c in scan.clips] == sorted(c.path for c in scan.clips)


def test_labels7_counts_calm(tmp_path: Path) -> None:
    write(tmp_path, "Actor_01/03-01-02-01-01-01-01.flac", "Actor_01/03-01-05-01-01-01-01.flac")
    scan = corpora.read_corpus("ravdess", tmp_path, corpora.LABELS7)
    assert [c.label for c in scan.clips] == ["angry"]
    assert scan.excluded == {"calm": 1}
    assert "excluded by the label scheme: calm 1" in scan.summary()


@pytest.mark.parametrize("folder", ["AudioWAV/", ""])
def test_crema_d(tmp_path: Path, folder: str) -> None:
    names = ["1001_DFA_ANG_XX.wav", "1002_IEO_HAP_HI.wav", "1091_TSI_FEA_LO.flac"]
    write(tmp_path, *(folder + n for n in names), folder + "1001_DFA_XYZ_XX.wav")
    scan = corpora.read_corpus("crema-d", tmp_path)
    clips = by_name(scan)
    assert sorted(clips) == sorted(names)
    assert [(c.label, c.speaker, c.gender) for c in clips.values()] == [
        ("angry", "crema-d:1001", None), ("happy", "crema-d:1002", None),
        ("fearful", "crema-d:1091", None),
    ]  # fmt: skip
    assert [why for _, why in scan.skipped] == ["unknown CREMA-D emotion XYZ"]


@pytest.mark.parametrize(
    "names",
    [
        ["ALL/DC_a01.wav", "ALL/JE_sa02.wav", "ALL/JK_su03.wav", "ALL/KL_n15.wav"],
        ["AudioData/DC/a01.wav", "AudioData/JE/sa02.wav", "AudioData/JK/su03.wav",
         "AudioData/KL/n15.wav"],
    ],
)  # fmt: skip
def test_savee_both_layouts(tmp_path: Path, names: list[str]) -> None:
    write(tmp_path, *names)
    scan = corpora.read_corpus("savee", tmp_path)
    assert [(c.label, c.speaker, c.gender) for c in scan.clips] == [
        ("angry", "savee:DC", "male"), ("sad", "savee:JE", "male"),
        ("surprised", "savee:JK", "male"), ("neutral", "savee:KL", "male"),
    ]  # fmt: skip
    assert not scan.skipped


def test_tess_quirks(tmp_path: Path) -> None:
    write(
        tmp_path,
        "OAF_Fear/OAF_back_fear.wav",
        "OAF_neutral/OA_bite_neutral.wav",
        "OAF_Pleasant_surprise/OAF_bar_ps.wav",
        "YAF_pleasant_surprise/YAF_base_pleasant_surprise.flac",
        "YAF_angry/YAF_dog_angry.WAV",
        "YAF_sad/YAF_dog_sadd.wav",
        "YAF_sad/sad.wav",
    )
    scan = corpora.read_corpus("tess", tmp_path)
    assert {n: (c.label, c.speaker, c.gender) for n, c in by_name(scan).items()} == {
        "OAF_back_fear.wav": ("fearful", "tess:OAF", "female"),
        "OA_bite_neutral.wav": ("neutral", "tess:OAF", "female"),
        "OAF_bar_ps.wav": ("surprised", "tess:OAF", "female"),
        "YAF_base_pleasant_surprise.flac": ("surprised", "tess:YAF", "female"),
        "YAF_dog_angry.WAV": ("angry", "tess:YAF", "female"),
        "YAF_dog_sadd.wav": ("sad", "tess:YAF", "female"),  # falls back to the folder
    }
    assert [(p.name, why) for p, why in scan.skipped] == [
        ("sad.wav", "not a TESS name like OAF_back_angry")
    ]


@pytest.mark.parametrize("folder", ["wav/", ""])
def test_emodb_flat_or_wav_folder(tmp_path: Path, folder: str) -> None:
    write(tmp_path, folder + "03a01Fa.wav", folder + "08b02La.wav", folder + "16a05Wc.flac")
    (tmp_path / "erkennung.txt").write_text("not a clip")
    scan = corpora.read_corpus("emodb", tmp_path)
    assert [(c.label, c.speaker, c.gender) for c in scan.clips] == [
        ("happy", "emodb:03", "male"), ("angry", "emodb:16", "female")
    ]  # fmt: skip
    assert scan.excluded == {"boredom": 1}


def test_wrong_layout_says_what_was_expected(tmp_path: Path) -> None:
    write(tmp_path, "OAF_angry/OAF_back_angry.wav")
    with pytest.raises(CorpusLayoutError) as e:
        corpora.read_corpus("ravdess", tmp_path)
    assert "RAVDESS as Actor_01/03-01-05-01-02-01-01.wav" in str(e.value)
    assert str(tmp_path) in str(e.value) and "1 audio files" in str(e.value)
    (tmp_path / "emodb").mkdir()
    with pytest.raises(CorpusLayoutError, match=r"EmoDB as .* it has none"):
        corpora.read_corpus("emodb", tmp_path / "emodb")


def test_read_corpora_aliases_and_missing(tmp_path: Path) -> None:
    write(tmp_path, "CREMA-D/AudioWAV/1001_DFA_ANG_XX.wav", "Emo-DB/wav/03a01Fa.wav")
    write(tmp_path, "RAVDESS/Actor_01/03-01-05-01-01-01-01.flac", "notes/x.wav")
    scan = corpora.read_corpora(tmp_path)
    assert sorted(c.speaker for c in scan.clips) == ["crema-d:1001", "emodb:03", "ravdess:01"]
    scan = corpora.read_corpora(tmp_path, ["cremad", "EMODB"])
    assert {c.corpus for c in scan.clips} == {"crema-d", "emodb"}
    with pytest.raises(CorpusLayoutError, match="no savee folder") as e:
        corpora.read_corpora(tmp_path, ["ravdess", "savee"])
    assert "found crema-d, emodb, ravdess" in str(e.value)
    with pytest.raises(CorpusLayoutError, match="unknown corpus 'iemocap'"):
        corpora.read_corpora(tmp_path, ["iemocap"])
    with pytest.raises(CorpusLayoutError, match="found none"):
        corpora.read_corpora(tmp_path / "notes")


def test_datasets_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(corpora.DATASETS_ENV, str(tmp_path))
    assert corpora.datasets_root() == tmp_path
    assert corpora.datasets_root(tmp_path / "..") == tmp_path / ".."
    with pytest.raises(FileNotFoundError, match=corpora.DATASETS_ENV):
        corpora.datasets_root(tmp_path / "missing")


# Name parsing, over every valid name.


@given(
    st.sampled_from(sorted(corpora.RAVDESS_EMOTIONS)),
    st.sampled_from(["01", "02"]), st.sampled_from(["01", "02"]), st.sampled_from(["01", "02"]),
    st.integers(1, 24),
    st.sampled_from([".wav", ".flac", ".WAV"]),
)  # fmt: skip
def test_ravdess_names(
    emotion: str, intensity: str, statement: str, rep: str, actor: int, suffix: str
) -> None:
    path = Path(f"Actor_{actor:02d}/03-01-{emotion}-{intensity}-{statement}-{rep}-{actor:02d}")
    assert corpora.parse_name("ravdess", path.with_suffix(suffix)) == Name(
        corpora.RAVDESS_EMOTIONS[emotion], f"{actor:02d}", "male" if actor % 2 else "female"
    )


@given(
    st.sampled_from(sorted(corpora.EMODB_GENDERS)),
    st.sampled_from("ab"), st.integers(1, 10),
    st.sampled_from(sorted(corpora.EMODB_EMOTIONS)),
    st.sampled_from("abcdef"),
)  # fmt: skip
def test_emodb_names(speaker: str, part: str, text: int, emotion: str, version: str) -> None:
    path = Path(f"wav/{speaker}{part}{text:02d}{emotion}{version}.wav")
    assert corpora.parse_name("emo-db", path) == Name(
        corpora.EMODB_EMOTIONS[emotion], speaker, corpora.EMODB_GENDERS[speaker]
    )
