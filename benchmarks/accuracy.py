"""Accuracy on held-out speakers, read from the bundle's own evaluation report, beside the
eGeMAPS + SVM baseline scored on the same speakers; and what the model weighs on disk.

Nothing is re-scored here: the report is what training measured, and re-running it would
need TensorFlow and the corpora. The figures are copied with their clip counts, so a reader can
see how much each rests on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks import material
from benchmarks.results import Figure, Section, Summary, skipped

REPORT = "report.json"
METRICS = (
    ("ua", "UA (unweighted average recall)"),
    ("accuracy", "accuracy"),
    ("macro_f1", "macro-F1"),
)


def _groups(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"pooled": result["pooled"], **result.get("by_corpus", {})}


def from_report(report: dict[str, Any], bundle_dir: Path) -> Section:
    """Figures of a parsed report (``report["test"]`` and ``report["baselines"][name]["test"]``)."""
    sec = Section("accuracy", "Accuracy on held-out speakers, and model size")
    model = _groups(report["test"])
    baselines = {name: _groups(r["test"]) for name, r in report.get("baselines", {}).items()}
    for group, scores in model.items():
        for key, words in METRICS:
            if key not in scores:
                continue
            value = float(scores[key])
            refs = [(name, b[group]) for name, b in baselines.items() if key in b.get(group, {})]
            name, ref = refs[0] if refs else ("", None)
            sec.add(
                Figure(
                    f"{words}, {group} ({scores.get('clips', '?')} clips)",
                    "",
                    Summary.single(value),
                    f"{name} baseline ({ref.get('clips', '?')} clips)" if ref else "",
                    float(ref[key]) if ref else None,
                    note="" if ref else "no baseline in the report",
                )
            )
    sizes = {p.name: p.stat().st_size / 1e6 for p in bundle_dir.glob("emotion.*") if p.is_file()}
    tflite, keras = sizes.get("emotion.tflite"), sizes.get("emotion.keras")
    if tflite is not None:
        sec.add(
            Figure(
                "size on disk, emotion.tflite (what the app ships)",
                "MB",
                Summary.single(tflite),
                "emotion.keras",
                keras,
            )
        )
    if keras is not None:
        sec.add(Figure("size on disk, emotion.keras (training only)", "MB", Summary.single(keras)))
    speakers = report["test"].get("speakers")
    sec.notes += [
        f"From {bundle_dir / REPORT}; chance UA is 1/classes."
        + (f" Held-out test speakers: {', '.join(map(str, speakers))}." if speakers else ""),
        "Only RAVDESS and EmoDB have speaker-independent test speakers; TESS (two speakers) only "
        "trains, so it has no figure here.",
    ]
    if not baselines:
        sec.notes.append("The report holds no baseline: the ratio column is empty.")
    return sec


def measure(size: float = 1.0) -> Section:
    """``size`` is unused (the report is read, not recomputed); it keeps the common signature."""
    title = "Accuracy on held-out speakers, and model size"
    problem = material.model_problem()
    if problem:
        return skipped("accuracy", title, problem)
    b = material.load_bundle()
    path = b.path / REPORT
    if not path.is_file():
        return skipped("accuracy", title, f"n/a (no {REPORT} in {b.path})")
    return from_report(json.loads(path.read_text(encoding="utf-8")), b.path)
