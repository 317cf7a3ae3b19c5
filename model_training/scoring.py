"""Scores of held-out clips: figures pooled, per corpus and per speaker, chance, and the headline
figures a bundle carries. Pure functions, so every report and run can share them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from model_training import metrics
from model_training.corpora import Clip


def score_clips(
    clips: Sequence[Clip], probabilities: np.ndarray, labels: Sequence[str]
) -> dict[str, Any]:
    """Figures pooled, per corpus and per speaker from clip-level probabilities."""
    index = {x: i for i, x in enumerate(labels)}
    truth = [index[c.label] for c in clips]
    predicted = probabilities.argmax(axis=1).tolist()
    out = metrics.by_group(truth, predicted, [c.corpus for c in clips], labels)
    speakers = metrics.by_group(truth, predicted, [c.speaker for c in clips], labels)
    speakers.pop("all")
    return {
        "pooled": out.pop("all"),
        "by_corpus": out,
        "by_speaker": {
            k: {m: v[m] for m in ("clips", "accuracy", "ua")} for k, v in speakers.items()
        },
        "speakers": sorted({c.speaker for c in clips}),
    }


def ua(clips: Sequence[Clip], probs: np.ndarray, labels: Sequence[str]) -> float:
    return float(score_clips(clips, probs, labels)["pooled"]["ua"])


def chance(report: dict[str, Any]) -> float:
    return 1 / len(report["test"]["pooled"]["labels"])


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The headline figures the bundle carries (the full report sits beside it)."""

    def pick(s: dict[str, Any]) -> dict[str, Any]:
        return {k: s[k] for k in ("clips", "accuracy", "ua", "macro_f1")}

    out: dict[str, Any] = {"test_speakers": report["test"]["speakers"]}
    for key in ("test", "test_adapted"):
        if key in report:
            test = report[key]
            out[key] = {
                "pooled": pick(test["pooled"]),
                **{k: pick(v) for k, v in test["by_corpus"].items()},
            }
    for name, r in report.get("baselines", {}).items():
        out[name] = {"pooled": pick(r["test"]["pooled"])}
    return out


def table_head(first: str, columns: list[str], extra: str = "") -> list[str]:
    """A Markdown table's header and rule: a text column, then right-aligned figures."""
    return [f"| {first} | {extra}" + " | ".join(columns) + " |",
            "|---|" + ("---|" if extra else "") + "---:|" * len(columns)]  # fmt: skip
