"""The emotion corpora, read from their own download layouts.

Labels, speakers and genders come from file and folder names alone, so a scan never decodes audio
and works the same on the original WAVs and on FLAC copies. A file that looks like a clip but
cannot be used is reported with the reason, and a clip the label scheme leaves out is counted:
nothing disappears silently.
"""

from __future__ import annotations

import collections
import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

LABELS8: tuple[str, ...] = (
    "neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"
)  # fmt: skip
LABELS7: tuple[str, ...] = tuple(label for label in LABELS8 if label != "calm")
CORPORA: tuple[str, ...] = ("ravdess", "crema-d", "tess", "savee", "emodb")
DATASETS_ENV = "EMOTION_METER_DATASETS"
AUDIO_SUFFIXES = (".wav", ".flac")

# Folder names each corpus goes by in the wild, lower-cased.
ALIASES = {
    "ravdess": "ravdess",
    "crema-d": "crema-d", "cremad": "crema-d", "crema_d": "crema-d",
    "tess": "tess",
    "savee": "savee",
    "emodb": "emodb", "emo-db": "emodb", "emo_db": "emodb",
}  # fmt: skip
LAYOUTS = {
    "ravdess": "RAVDESS as Actor_01/03-01-05-01-02-01-01.wav",
    "crema-d": "CREMA-D as AudioWAV/1001_DFA_ANG_XX.wav",
    "tess": "TESS as OAF_angry/OAF_back_angry.wav",
    "savee": "SAVEE as ALL/DC_a01.wav or AudioData/DC/a01.wav",
    "emodb": "EmoDB as wav/03a01Fa.wav",
}

# 03 audio-only modality, 01 speech (02 is song), EE emotion, intensity, statement, repetition, AA.
RAVDESS_NAME = re.compile(r"(\d\d)-(\d\d)-(\d\d)-\d\d-\d\d-\d\d-(\d\d)")
RAVDESS_EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}  # fmt: skip
CREMA_D_NAME = re.compile(r"(\d{4})_[A-Z]{3}_([A-Z]{3})_(?:LO|MD|HI|XX)")
CREMA_D_EMOTIONS = {
    "ANG": "angry", "DIS": "disgust", "FEA": "fearful", "HAP": "happy", "NEU": "neutral",
    "SAD": "sad",
}  # fmt: skip
TESS_SPEAKERS = ("OAF", "YAF")
TESS_EMOTIONS = {
    "angry": "angry", "disgust": "disgust", "fear": "fearful", "happy": "happy",
    "neutral": "neutral", "sad": "sad", "ps": "surprised", "pleasant_surprise": "surprised",
    "pleasant_surprised": "surprised",
}  # fmt: skip
EMODB_NAME = re.compile(r"(\d\d)[ab]\d\d([A-Z])[a-z]")
EMODB_EMOTIONS = {
    "W": "angry", "L": "boredom", "E": "disgust", "A": "fearful", "F": "happy", "T": "sad",
    "N": "neutral",
}  # fmt: skip
EMODB_GENDERS = {
    "03": "male", "10": "male", "11": "male", "12": "male", "15": "male",
    "08": "female", "09": "female", "13": "female", "14": "female", "16": "female",
}  # fmt: skip
SAVEE_NAME = re.compile(r"(?:([A-Z]{2})_)?(a|d|f|h|n|sa|su)\d\d")
SAVEE_EMOTIONS = {
    "a": "angry", "d": "disgust", "f": "fearful", "h": "happy", "n": "neutral", "sa": "sad",
    "su": "surprised",
}  # fmt: skip


class CorpusLayoutError(ValueError):
    """The corpora folder, or the request for it, does not match what the readers know."""


@dataclass(frozen=True)
class Clip:
    path: Path
    label: str
    speaker: str  # corpus-prefixed, so unique across corpora: "ravdess:07"
    corpus: str
    gender: str | None


class Name(NamedTuple):
    """What a file name says: the corpus' emotion as a label word, its own speaker id, gender."""

    label: str
    speaker: str
    gender: str | None


@dataclass
class Scan:
    clips: list[Clip] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    excluded: collections.Counter[str] = field(default_factory=collections.Counter)

    def summary(self) -> str:
        lines = []
        for corpus in CORPORA:
            clips = [c for c in self.clips if c.corpus == corpus]
            if clips:
                speakers = len({c.speaker for c in clips})
                lines.append(f"{corpus}: {len(clips)} clips from {speakers} speakers")
        lines.append(f"skipped: {len(self.skipped)} files that cannot be used")
        left_out = ", ".join(f"{label} {n}" for label, n in sorted(self.excluded.items()))
        lines.append(f"excluded by the label scheme: {left_out or 'none'}")
        return "\n".join(lines)


def datasets_root(path: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding one folder per corpus: ``path``, else ``$EMOTION_METER_DATASETS``, else
    ``shared/datasets`` beside the repository, where the team keeps them."""
    default = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    root = Path(path or os.environ.get(DATASETS_ENV) or default).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"no corpora folder at {root}: pass its path or set ${DATASETS_ENV} to a folder "
            f"holding one folder per corpus ({', '.join(CORPORA)})"
        )
    return root


def corpus_name(name: str) -> str:
    """The canonical name of a corpus from any of its aliases, in any case."""
    if name.lower() not in ALIASES:
        raise CorpusLayoutError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    return ALIASES[name.lower()]


def parse_name(corpus: str, path: Path) -> Name | str:
    """What ``path``'s name (and for TESS and SAVEE its folder) says, or why it cannot be used."""
    return PARSERS[corpus_name(corpus)](path)


def _ravdess(path: Path) -> Name | str:
    m = RAVDESS_NAME.fullmatch(path.stem)
    if not m:
        return "not a RAVDESS name like 03-01-05-01-02-01-01"
    modality, channel, emotion, actor = m.groups()
    if modality != "03":
        return f"modality {modality} is not the audio-only release (03)"
    if channel != "01":
        return "not speech (vocal channel 02 is song)"
    if emotion not in RAVDESS_EMOTIONS:
        return f"unknown RAVDESS emotion {emotion}"
    return Name(RAVDESS_EMOTIONS[emotion], actor, "male" if int(actor) % 2 else "female")


def _crema_d(path: Path) -> Name | str:
    m = CREMA_D_NAME.fullmatch(path.stem)
    if not m:
        return "not a CREMA-D name like 1001_DFA_ANG_XX"
    if m[2] not in CREMA_D_EMOTIONS:
        return f"unknown CREMA-D emotion {m[2]}"
    return Name(CREMA_D_EMOTIONS[m[2]], m[1], None)


def _tess_emotion(text: str) -> str | None:
    return next((v for k, v in TESS_EMOTIONS.items() if f"_{text}".endswith(f"_{k}")), None)


def _tess(path: Path) -> Name | str:
    """Emotion from the name's end, else the folder; speaker from the name's start, else the folder:
    the download has ``OAF_neutral/OA_bite_neutral.wav`` and folder names vary in case."""
    stem, folder = path.stem.lower(), path.parent.name.lower()
    if stem.count("_") < 2:
        return "not a TESS name like OAF_back_angry"
    emotion = _tess_emotion(stem) or _tess_emotion(folder)
    heads = (stem.split("_")[0].upper(), folder.split("_")[0].upper())
    speaker = next((h for h in heads if h in TESS_SPEAKERS), None)
    if not emotion:
        return "no TESS emotion in the name or its folder"
    if not speaker:
        return "no TESS speaker (OAF or YAF) in the name or its folder"
    return Name(emotion, speaker, "female")


def _emodb(path: Path) -> Name | str:
    m = EMODB_NAME.fullmatch(path.stem)
    if not m:
        return "not an EmoDB name like 03a01Fa"
    if m[2] not in EMODB_EMOTIONS:
        return f"unknown EmoDB emotion {m[2]}"
    return Name(EMODB_EMOTIONS[m[2]], m[1], EMODB_GENDERS.get(m[1]))


def _savee(path: Path) -> Name | str:
    """``ALL/DC_a01.wav`` names the speaker, ``AudioData/DC/a01.wav`` leaves it to the folder."""
    m = SAVEE_NAME.fullmatch(path.stem)
    if not m:
        return "not a SAVEE name like DC_a01 or DC/a01"
    speaker = m[1] or path.parent.name
    if not re.fullmatch(r"[A-Z]{2}", speaker):
        return "no SAVEE speaker (like DC) in the name or its folder"
    return Name(SAVEE_EMOTIONS[m[2]], speaker, "male")


PARSERS: dict[str, Callable[[Path], Name | str]] = {
    "ravdess": _ravdess, "crema-d": _crema_d, "tess": _tess, "savee": _savee, "emodb": _emodb,
}  # fmt: skip


def _is_audio(path: Path) -> bool:
    # Dot files are macOS resource forks (._03-01-...wav) that zip downloads carry along.
    return (
        path.suffix.lower() in AUDIO_SUFFIXES and not path.name.startswith(".") and path.is_file()
    )


def _duplicates(paths: list[Path], sizes: dict[Path, int]) -> dict[Path, Path]:
    """Each byte-identical copy mapped to the first of its kind; only files of equal size are read,
    so a scan reads almost nothing."""
    by_size: dict[int, list[Path]] = collections.defaultdict(list)
    for path in paths:
        by_size[sizes[path]].append(path)
    copies = {}
    for group in (g for g in by_size.values() if len(g) > 1):
        first: dict[bytes, Path] = {}
        for path in group:
            original = first.setdefault(hashlib.sha256(path.read_bytes()).digest(), path)
            if original != path:
                copies[path] = original
    return copies


def read_corpus(name: str, root: Path, labels: tuple[str, ...] = LABELS8) -> Scan:
    """Every clip of one corpus under ``root``, its own folder, in path order."""
    corpus, root = corpus_name(name), Path(root)
    scan = Scan()
    named: list[tuple[Path, Name]] = []
    for path in sorted(p for p in root.rglob("*") if _is_audio(p)):
        parsed = parse_name(corpus, path)
        if isinstance(parsed, str):
            scan.skipped.append((path, parsed))
        else:
            named.append((path, parsed))
    if not named:
        found = len(scan.skipped)
        raise CorpusLayoutError(
            f"expected {LAYOUTS[corpus]} (wav or flac) under {root}, but "
            + (f"none of its {found} audio files is named that way" if found else "it has none")
        )
    sizes = {path: path.stat().st_size for path, _ in named}
    copies = _duplicates([path for path, _ in named if sizes[path]], sizes)
    for path, n in named:
        if not sizes[path]:
            scan.skipped.append((path, "empty file"))
        elif path in copies:
            scan.skipped.append((path, f"duplicate of {copies[path].relative_to(root).as_posix()}"))
        elif n.label not in labels:
            scan.excluded[n.label] += 1
        else:
            scan.clips.append(Clip(path, n.label, f"{corpus}:{n.speaker}", corpus, n.gender))
    scan.skipped.sort()
    return scan


def read_corpora(
    root: Path, names: Iterable[str] | None = None, labels: tuple[str, ...] = LABELS8
) -> Scan:
    """The corpora in ``root``'s folders (named as in :data:`ALIASES`, any case): those asked for,
    or every one present."""
    root = Path(root)
    folders: dict[str, Path] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        corpus = ALIASES.get(folder.name.lower())
        if corpus in folders:
            raise CorpusLayoutError(
                f"two {corpus} folders in {root}: {folders[corpus].name}, {folder.name}"
            )
        if corpus:
            folders[corpus] = folder
    wanted = (
        [c for c in CORPORA if c in folders] if names is None else [corpus_name(n) for n in names]
    )
    missing = [c for c in dict.fromkeys(wanted) if c not in folders]
    if missing or not wanted:
        raise CorpusLayoutError(
            f"no {' or '.join(missing) or 'corpus'} folder in {root}: expected one folder per "
            f"corpus named {', '.join(CORPORA)} (e.g. {root / 'ravdess' / 'Actor_01'}), "
            f"found {', '.join(sorted(folders)) or 'none'}"
        )
    scan = Scan()
    for corpus in dict.fromkeys(wanted):
        part = read_corpus(corpus, folders[corpus], labels)
        scan.clips += part.clips
        scan.skipped += part.skipped
        scan.excluded.update(part.excluded)
    scan.clips.sort(key=lambda c: c.path)
    scan.skipped.sort()
    return scan
