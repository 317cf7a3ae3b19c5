"""Speaker-independent splits: every speaker's clips fall in exactly one of train, val, test.

Accuracy is only honest on voices the model never heard, so clips are never split one by one,
and corpora with too few speakers for that (TESS has two) only ever train.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from model_training.corpora import Clip

TEST_FRACTION = 0.2
VAL_FRACTION = 0.1
MIN_SPEAKERS = 5  # fewer than this in a corpus: every speaker trains
TRAIN_ONLY = frozenset({"tess"})
SEED = 1234


@dataclass(frozen=True)
class Split:
    train: tuple[Clip, ...]
    val: tuple[Clip, ...]
    test: tuple[Clip, ...]

    def parts(self) -> dict[str, tuple[Clip, ...]]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def speakers(self, part: str) -> list[str]:
        return sorted({c.speaker for c in self.parts()[part]})

    def describe(self, labels: Sequence[str]) -> str:
        """The split as a table: speakers and clips per label in each part."""
        head = f"{'part':<6}{'speakers':>9}{'clips':>7} " + " ".join(f"{x[:7]:>7}" for x in labels)
        lines = [head]
        for name, clips in self.parts().items():
            count = Counter(c.label for c in clips)
            cells = " ".join(f"{count[x]:>7}" for x in labels)
            lines.append(f"{name:<6}{len({c.speaker for c in clips}):>9}{len(clips):>7} {cells}")
        for name in ("val", "test"):
            lines.append(f"{name} speakers: {', '.join(self.speakers(name)) or '-'}")
        return "\n".join(lines)


def by_speaker(
    clips: Iterable[Clip],
    test_fraction: float = TEST_FRACTION,
    val_fraction: float = VAL_FRACTION,
    seed: int = SEED,
) -> Split:
    """Split each corpus by speaker, balancing genders where the corpus records them."""
    clips = list(clips)
    part_of: dict[str, str] = {}
    for corpus in sorted({c.corpus for c in clips}):
        speakers = sorted({(c.speaker, c.gender or "") for c in clips if c.corpus == corpus})
        if corpus in TRAIN_ONLY or len(speakers) < MIN_SPEAKERS:
            part_of.update({s: "train" for s, _ in speakers})
            continue
        part_of.update(
            _assign(speakers, test_fraction, val_fraction, random.Random(f"{seed}{corpus}"))
        )
    parts: dict[str, list[Clip]] = {"train": [], "val": [], "test": []}
    for c in clips:
        parts[part_of[c.speaker]].append(c)
    return Split(tuple(parts["train"]), tuple(parts["val"]), tuple(parts["test"]))


def _assign(
    speakers: list[tuple[str, str]], test: float, val: float, rng: random.Random
) -> dict[str, str]:
    """Deal shuffled speakers, alternating genders, into test, then val, then train."""
    dealt = _deal(speakers, rng)
    n_test = max(1, round(test * len(dealt)))
    n_val = max(1, round(val * len(dealt))) if val > 0 else 0
    names = ["test"] * n_test + ["val"] * n_val
    return {s: names[i] if i < len(names) else "train" for i, s in enumerate(dealt)}


def _deal(speakers: list[tuple[str, str]], rng: random.Random) -> list[str]:
    """Speakers shuffled within their gender, then taken one of each gender in turn."""
    by_gender: dict[str, list[str]] = {}
    for speaker, gender in speakers:
        by_gender.setdefault(gender, []).append(speaker)
    for group in by_gender.values():
        rng.shuffle(group)
    return [s for row in _interleave(list(by_gender.values())) for s in row]


def _interleave(groups: list[list[str]]) -> list[list[str]]:
    """Rows taking one speaker from each gender in turn, so every part gets both."""
    longest = max(len(g) for g in groups)
    return [[g[i] for g in groups if i < len(g)] for i in range(longest)]


def folds(clips: Iterable[Clip], k: int, seed: int = SEED) -> list[Split]:
    """``k`` speaker folds over every corpus that can be split: fold ``i`` tests its speakers,
    validates on fold ``i + 1``'s and trains on the rest (and on the train-only corpora), so
    every speaker is tested exactly once. Genders are dealt in turn, as in :func:`by_speaker`."""
    clips = list(clips)
    fold_of: dict[str, int] = {}
    for corpus in sorted({c.corpus for c in clips} - TRAIN_ONLY):
        speakers = sorted({(c.speaker, c.gender or "") for c in clips if c.corpus == corpus})
        if len(speakers) < k:
            raise ValueError(f"{corpus} has {len(speakers)} speakers, fewer than {k} folds")
        dealt = _deal(speakers, random.Random(f"{seed}{corpus}"))
        start = len(fold_of)  # each corpus continues where the last left off: folds even out
        fold_of.update({s: (start + i) % k for i, s in enumerate(dealt)})
    out = []
    for i in range(k):
        part = {"test": i, "val": (i + 1) % k}
        parts: dict[str, list[Clip]] = {"train": [], "val": [], "test": []}
        for c in clips:
            f = fold_of.get(c.speaker)
            name = next((p for p, j in part.items() if f == j), "train")
            parts[name].append(c)
        out.append(Split(tuple(parts["train"]), tuple(parts["val"]), tuple(parts["test"])))
    return out


def by_corpus(
    clips: Iterable[Clip], val_fraction: float = VAL_FRACTION, seed: int = SEED
) -> dict[str, Split]:
    """Leave-one-corpus-out: per corpus, a split that tests on all of it and trains on the
    others, validating on speakers dealt from each other corpus that can be split (as
    :func:`by_speaker` deals them). What a new language or studio meets: no speaker, sentence or
    microphone of the test corpus is ever heard in training or choosing."""
    clips = list(clips)
    out = {}
    for corpus in sorted({c.corpus for c in clips}):
        rest = [c for c in clips if c.corpus != corpus]
        val: set[str] = set()
        for other in sorted({c.corpus for c in rest} - TRAIN_ONLY):
            speakers = sorted({(c.speaker, c.gender or "") for c in rest if c.corpus == other})
            if len(speakers) >= MIN_SPEAKERS:
                dealt = _deal(speakers, random.Random(f"{seed}{other}"))
                val.update(dealt[: max(1, round(val_fraction * len(dealt)))])
        if not val:
            continue  # nothing left to choose on: no fold
        out[corpus] = Split(
            tuple(c for c in rest if c.speaker not in val),
            tuple(c for c in rest if c.speaker in val),
            tuple(c for c in clips if c.corpus == corpus),
        )
    return out
