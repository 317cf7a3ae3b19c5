"""How much teaching the meter one's voice gains, on the bundle's withheld test speakers.

Each speaker enrols as a user of ``emotion-meter personalise`` would, with ``k`` takes per
emotion, and is judged on other sentences, as ``analyze --voice`` would judge them (per window,
then the mean of the speech windows): RAVDESS enrols on statement 01 ("Kids are talking by the
door") and is judged on statement 02; EmoDB enrols on two texts per emotion and is judged on the
rest. Which takes of the enrolment sentences are drawn is random: ``draws`` draws per speaker and
``k``, averaged. Writes ``personal.json`` and ``personal.md``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app import atomic, personal
from app.engine import Engine
from app.offline import analyze_file
from model_training.corpora import Clip

RESULTS_JSON = "personal.json"
RESULTS_MD = "personal.md"
TAKES = (1, 2, 3)
DRAWS = 3
SEED = 29
CORPORA = ("ravdess", "emodb")
ENROL_TEXTS = 2  # EmoDB: texts per emotion that enrolment draws from

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Heard:
    """A clip's speech windows as the general model saw them."""

    clip: Clip
    embeddings: npt.NDArray[np.float32]  # (windows, 2 width)
    probabilities: npt.NDArray[np.float32]  # (windows, labels)

    def take(self) -> personal.Take:
        return personal.Take(
            self.clip.label, self.embeddings.mean(axis=0), self.probabilities.mean(axis=0)
        )


def hear(clip: Clip, engine: Engine) -> Heard:
    """The clip's speech windows through the app's own file analysis (none: the gate heard no
    speech, and the clip is left out)."""
    a = analyze_file(clip.path, engine, embeddings=True)
    return Heard(clip, a.embeddings[a.speech], a.probabilities[a.speech])


def cached(clips: Sequence[Clip], engine: Engine, path: Path) -> list[Heard]:
    """:func:`hear` of each clip, kept in ``path`` (an .npz) between runs."""
    store: dict[str, Any] = {}
    if path.exists():
        with np.load(path) as f:
            store = {k: f[k] for k in f.files}
    out, added = [], False
    for clip in clips:
        key = clip.path.as_posix()
        if f"e:{key}" not in store:
            h = hear(clip, engine)
            store[f"e:{key}"], store[f"p:{key}"] = h.embeddings, h.probabilities
            added = True
        if len(store[f"e:{key}"]):
            out.append(Heard(clip, store[f"e:{key}"], store[f"p:{key}"]))
    if added:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic.replacing(path) as f:
            np.savez(f, **store)
    return out


def sentence(clip: Clip) -> str:
    """What was said: RAVDESS's statement, EmoDB's text."""
    name = clip.path.stem
    return name.split("-")[4] if clip.corpus == "ravdess" else name[2:5]


def enrolment(heard: Sequence[Heard], rng: random.Random) -> tuple[list[Heard], list[Heard]]:
    """One speaker's clips as enrolment pool and test clips, by sentence."""
    if heard[0].clip.corpus == "ravdess":
        return (
            [h for h in heard if sentence(h.clip) == "01"],
            [h for h in heard if sentence(h.clip) == "02"],
        )
    pool: list[Heard] = []
    test: list[Heard] = []
    for label in sorted({h.clip.label for h in heard}):
        mine = [h for h in heard if h.clip.label == label]
        texts = sorted({sentence(h.clip) for h in mine})
        chosen = set(rng.sample(texts, min(ENROL_TEXTS, len(texts) - 1)))
        pool += [h for h in mine if sentence(h.clip) in chosen]
        test += [h for h in mine if sentence(h.clip) not in chosen]
    return pool, test


def draw(pool: Sequence[Heard], k: int, rng: random.Random) -> list[Heard]:
    """``k`` takes per emotion from the pool (all it has where fewer)."""
    out: list[Heard] = []
    for label in sorted({h.clip.label for h in pool}):
        mine = [h for h in pool if h.clip.label == label]
        out += rng.sample(mine, min(k, len(mine)))
    return out


def judged(head: personal.Head | None, heard: Heard) -> int:
    """A test clip's emotion: the mean of its windows' probabilities, personal or general."""
    probs = (
        heard.probabilities if head is None else head.judge(heard.embeddings, heard.probabilities)
    )
    return int(np.asarray(probs).mean(axis=0).argmax())


def speaker_figures(
    heard: Sequence[Heard], labels: Sequence[str], takes: Sequence[int], draws: int
) -> dict[str, Any]:
    """Cold and personal UA of one speaker per ``k`` (mean over draws), and whether the
    personal voice would have been kept by ``personalise`` (first draw)."""
    rng = random.Random(f"{SEED}:{heard[0].clip.speaker}")
    pool, test = enrolment(heard, rng)
    truth = [labels.index(h.clip.label) for h in test]
    classes = sorted(set(truth))
    cold = personal.recall(truth, [judged(None, h) for h in test], classes)
    out: dict[str, Any] = {"test_clips": len(test), "cold": round(cold, 4), "k": {}}
    for k in takes:
        uas, kept = [], None
        for d in range(draws):
            enrolled = [h.take() for h in draw(pool, k, rng)]
            head = personal.fit(enrolled, labels)
            uas.append(personal.recall(truth, [judged(head, h) for h in test], classes))
            counts = {x: sum(t.label == x for t in enrolled) for x in labels}
            if d == 0 and personal.check_takes({x: n for x, n in counts.items() if n}) is None:
                kept = not personal.teach(enrolled, labels).worse
        out["k"][str(k)] = {
            "personal": round(float(np.mean(uas)), 4),
            "draws": [round(u, 4) for u in uas],
            "kept": kept,
        }
    return out


def pooled(by_speaker: dict[str, dict[str, Any]], key: str) -> float:
    """A figure's mean over speakers."""
    return round(float(np.mean([s[key] for s in by_speaker.values()])), 4)


def run(
    clips: Sequence[Clip],
    engine: Engine,
    cache: Path,
    takes: Sequence[int] = TAKES,
    draws: int = DRAWS,
) -> dict[str, Any]:
    """The figures of every test speaker in ``clips``, per corpus and pooled over speakers."""
    labels = list(engine.bundle.labels)
    heard = cached(clips, engine, cache)
    results: dict[str, Any] = {"takes": list(takes), "draws": draws, "corpora": {}}
    for corpus in CORPORA:
        speakers = sorted({h.clip.speaker for h in heard if h.clip.corpus == corpus})
        if not speakers:
            continue
        by = {
            s: speaker_figures([h for h in heard if h.clip.speaker == s], labels, takes, draws)
            for s in speakers
        }
        summary = {
            "cold": pooled(by, "cold"),
            **{
                str(k): round(float(np.mean([v["k"][str(k)]["personal"] for v in by.values()])), 4)
                for k in takes
            },
            "beats_cold": {
                str(k): sum(v["k"][str(k)]["personal"] > v["cold"] for v in by.values())
                for k in takes
            },
            "speakers": len(by),
        }
        results["corpora"][corpus] = {"pooled": summary, "by_speaker": by}
    return results


def markdown(results: dict[str, Any], command: str) -> str:
    """The short version: per corpus, UA cold → personal for each k, pooled and per speaker."""
    takes = results["takes"]
    lines = [
        "# Teaching it one's voice: cold vs personal, withheld test speakers",
        "",
        f"`{command}` — each speaker enrols with k takes per emotion (RAVDESS: statement 01; "
        "EmoDB: two texts per emotion) and is judged on the other sentences (RAVDESS: statement "
        "02; EmoDB: the other texts), per window and averaged over speech windows as `analyze "
        f"--voice` does. UA (unweighted average recall), the mean of {results['draws']} random "
        "draws of the enrolment takes; *kept*: whether `personalise` would have saved the voice "
        "of the first draw (its own leave-one-take-out; k=1 cannot be checked so).",
        "",
    ]
    for corpus, block in results["corpora"].items():
        p = block["pooled"]
        lines += [
            f"## {corpus}",
            "",
            "| speaker | test clips | cold | " + " | ".join(f"k={k}" for k in takes) + " |",
            "|---|---|---|" + "---|" * len(takes),
        ]
        for speaker, s in block["by_speaker"].items():
            cells = []
            for k in takes:
                f = s["k"][str(k)]
                mark = {True: " (kept)", False: " (not kept)", None: ""}[f["kept"]]
                cells.append(f"{f['personal']:.3f}{mark}")
            lines.append(
                f"| {speaker} | {s['test_clips']} | {s['cold']:.3f} | " + " | ".join(cells) + " |"
            )
        lines.append(
            f"| **pooled** (mean of speakers) | | **{p['cold']:.3f}** | "
            + " | ".join(f"**{p[str(k)]:.3f}**" for k in takes)
            + " |"
        )
        beats = ", ".join(f"k={k}: {p['beats_cold'][str(k)]}" for k in takes)
        lines += ["", f"Speakers for whom personal beats cold (of {p['speakers']}): {beats}.", ""]
    return "\n".join(lines)


def write(results: dict[str, Any], folder: Path, command: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic.write(folder / RESULTS_JSON, json.dumps({**results, "command": command}, indent=1))
    atomic.write(folder / RESULTS_MD, markdown(results, command))
