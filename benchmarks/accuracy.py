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
PRIMARY = "egemaps_svm"  # the baseline: eGeMAPS features, an SVM
ADAPTED = "egemaps_svm_speaker_norm"  # the same, each speaker normalised by their other clips
METRICS = (
    ("ua", "UA (unweighted average recall)"),
    ("accuracy", "accuracy"),
    ("macro_f1", "macro-F1"),
)


def _groups(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"pooled": result["pooled"], **result.get("by_corpus", {})}


def _versus(
    name: str,
    group: str,
    scores: dict[str, Any],
    key: str,
    baseline: str,
    baselines: dict[str, dict[str, dict[str, Any]]],
) -> Figure:
    """One of the model's figures beside the same figure of ``baseline`` on the same clips."""
    ref = baselines.get(baseline, {}).get(group, {})
    return Figure(
        f"{name}, {group} ({scores.get('clips', '?')} clips)",
        "",
        Summary.single(float(scores[key])),
        f"{baseline} ({ref.get('clips', '?')} clips)" if key in ref else "",
        float(ref[key]) if key in ref else None,
        note="" if key in ref else "no baseline figure in the report",
    )


def from_report(report: dict[str, Any], bundle_dir: Path) -> Section:
    """Figures of a parsed report (``report["test"]`` and ``report["baselines"][name]["test"]``)."""
    sec = Section("accuracy", "Accuracy on held-out speakers, and model size")
    model = _groups(report["test"])
    baselines = {name: _groups(r["test"]) for name, r in report.get("baselines", {}).items()}
    main = PRIMARY if PRIMARY in baselines else next(iter(baselines), "")
    for group, scores in model.items():
        for key, words in METRICS:
            if key in scores:
                sec.add(_versus(f"model {words}", group, scores, key, main, baselines))
    adapted_ref = ADAPTED if ADAPTED in baselines else main
    for group, scores in _groups(report.get("test_adapted", {"pooled": {}})).items():
        if "ua" in scores:
            name = "model adapted to the speaker*, UA"
            sec.add(_versus(name, group, scores, "ua", adapted_ref, baselines))
    for name, groups in baselines.items():  # the other baselines: their UA beside the model's
        if name == main:
            continue
        for group, scores in groups.items():
            if "ua" in scores:
                own = model.get(group, {}).get("ua")
                sec.add(
                    Figure(
                        f"{name} UA, {group} ({scores.get('clips', '?')} clips)",
                        "",
                        Summary.single(float(scores["ua"])),
                        "the model's UA" if own is not None else "",
                        float(own) if own is not None else None,
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
    if "test_adapted" in report:
        sec.notes.append(
            "* adapted: each test clip normalised by its speaker's statistics from their *other* "
            "clips (leave one out), as `analyze --same-speaker` and the live meter do; compared "
            f"with {adapted_ref} run the same way. Every other row is cold."
        )
    if not baselines:
        sec.notes.append("The report holds no baseline: the ratio column is empty.")
    else:
        sec.notes.append(
            f"Model rows are compared with {main}; the other baselines' UA rows are compared "
            "with the model's UA on the same speakers (ratio > 1: the baseline is better)."
        )
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
