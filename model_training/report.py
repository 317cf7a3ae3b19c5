"""The evaluation report: held-out speakers only, per corpus and pooled, beside the baseline.

Writes ``report.json`` (all figures), ``report.md`` (the short version a person reads) and
``confusion.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from app import atomic
from model_training import crossval, personal_eval, robustness
from model_training.encoder_run import precision
from model_training.scoring import chance, table_head

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
CONFUSION_PNG = "confusion.png"


def write_report(report: dict[str, Any], out_dir: Path) -> None:
    """The report as JSON, Markdown and a confusion-matrix plot of the pooled test figures."""
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic.write(out_dir / REPORT_JSON, json.dumps(report, indent=1))
    atomic.write(out_dir / REPORT_MD, markdown(report, crossvalidated(report, out_dir),
                                               unseen(out_dir), personalised(out_dir)))  # fmt: skip
    plot_confusion(report["test"]["pooled"], out_dir / CONFUSION_PNG)
    if report.get("robustness"):
        robustness.plot(report["robustness"], chance(report), out_dir / robustness.PLOT)
        robustness.plot_reliability(report["robustness"], out_dir / robustness.RELIABILITY_PLOT)


def crossvalidated(report: dict[str, Any], folder: Path) -> dict[str, Any] | None:
    """The calibration that a complete cross-validation beside the report measured, if it
    trained this model's recipe (settings, augmentation, encoder layers and weights); else
    none."""
    path = folder / crossval.RESULTS_JSON
    if not path.exists():
        return None
    found = json.loads(path.read_text())
    train = report.get("training", {})
    enc = train.get("encoder", {})
    shape = {k: enc.get(k) for k in ("layers", "block_frames", "level")}
    shape["precision"] = precision(enc.get("file"))
    recipe = crossval.recipe(train.get("settings"), train.get("augment"), **shape)
    folds = found["folds"].get("encoder", [])
    if len(folds) != found["k"] or any(f.get("recipe") != recipe for f in folds):
        return None
    calibration = found["summary"]["encoder"].get("calibration")
    return {**calibration, "k": found["k"]} if calibration else None


def unseen(folder: Path) -> dict[str, Any] | None:
    """The leave-one-corpus-out summary of a cross-validation beside the report, if any."""
    path = folder / crossval.RESULTS_JSON
    if not path.exists():
        return None
    return json.loads(path.read_text()).get("corpora", {}).get("summary") or None


def personalised(folder: Path) -> dict[str, Any] | None:
    """The figures of ``personal-eval`` beside the report (``personal.json``), if any."""
    path = folder / personal_eval.RESULTS_JSON
    return json.loads(path.read_text()) if path.exists() else None


def personal_lines(found: dict[str, Any] | None) -> list[str]:
    """Cold against a personal voice (``personalise``) per corpus and number of takes."""
    if not found:
        return []
    takes = found["takes"]
    lines = [
        "Taught the user's voice (`personal.md`, from "
        f"`{found.get('command', 'emotion-meter-train personal-eval')}`: each withheld test "
        "speaker enrols with k takes per emotion of one sentence set and is judged on the "
        "others; UA, the mean over speakers):",
        "",
        "| corpus | speakers | cold | " + " | ".join(f"k={k}" for k in takes) + " |",
        "|---|---:|---:|" + "---:|" * len(takes),
    ]
    for corpus, block in found["corpora"].items():
        p = block["pooled"]
        cells = " | ".join(
            f"{p[str(k)]:.3f} ({p['beats_cold'][str(k)]}/{p['speakers']} beat cold)" for k in takes
        )
        lines.append(f"| {corpus} | {p['speakers']} | {p['cold']:.3f} | {cells} |")
    return [*lines, ""]


def markdown(
    report: dict[str, Any],
    crossval: dict[str, Any] | None = None,
    folder_unseen: dict[str, Any] | None = None,
    personal: dict[str, Any] | None = None,
) -> str:
    """Model and baseline side by side on the same held-out speakers (and the calibration
    cross-validated over every speaker, when ``crossval`` holds it; the corpora left out, when
    ``folder_unseen`` does)."""
    test = report["test"]
    adapted = report.get("test_adapted")
    rows = [("model, cold" if adapted else "model", test)]
    if adapted:
        rows.append(("model, adapted*", adapted))
    rows += [(baseline_name(name, r), r["test"]) for name, r in report.get("baselines", {}).items()]
    groups = ["pooled", *sorted(test["by_corpus"])]
    lines = [
        "# Evaluation report",
        "",
        f"Held-out test speakers (never seen in training): {', '.join(test['speakers'])}.",
        "UA is unweighted average recall (the mean of per-class recalls); chance is 1/classes.",
        "",
        "| system | set | clips | accuracy | UA | macro-F1 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, result in rows:
        for g in groups:
            s = result["pooled"] if g == "pooled" else result["by_corpus"].get(g)
            if s:
                lines.append(
                    f"| {name} | {g} | {s['clips']} | {s['accuracy']:.3f} | {s['ua']:.3f} "
                    f"| {s['macro_f1']:.3f} |"
                )
    pooled = test["pooled"]
    lines += ["", "Per class (pooled test):", "", "| emotion | precision | recall | F1 | clips |"]
    lines.append("|---|---:|---:|---:|---:|")
    for label, c in pooled["per_class"].items():
        figures = " | ".join(f"{c[k]:.3f}" for k in ("precision", "recall", "f1"))
        lines.append(f"| {label} | {figures} | {c['support']} |")
    if adapted or any(r.get("speaker_norm") for r in report.get("baselines", {}).values()):
        lines += [
            "",
            "\\* adapted: each test clip normalised by the statistics of its speaker's *other* "
            "clips (leave one out); every other row is cold (training statistics only).",
        ]
    if adapted:
        lines += speaker_table(test, adapted)
    lines += ["", "Confusion matrix: `confusion.png` (rows true, columns predicted).", ""]
    train = report.get("training", {})
    if train:
        lines += [
            f"Trained on {train.get('clips')} clips of {len(train.get('speakers', []))} speakers "
            f"({', '.join(train.get('corpora', []))}), revision {train.get('revision')}, "
            f"{train.get('date')}.",
            "",
        ]
    lines += encoder_lines(train)
    if report.get("robustness"):
        lines += robustness.markdown(report["robustness"], chance(report))
    lines += fit_lines(report.get("calibration") or {})
    lines += shift_lines(report.get("calibration") or {})
    lines += crossval_lines(crossval, report.get("calibration") or {})
    lines += unseen_lines(folder_unseen)
    lines += personal_lines(personal)
    if report.get("flags"):
        lines += robustness.flag_lines(report["flags"])
    return "\n".join(lines)


def shift_lines(block: dict[str, Any]) -> list[str]:
    """How sure the model stays on corpora it never heard, before and after the temperature
    that grows with the distance from what it learnt."""
    shift = block.get("shift")
    if not shift:
        return []
    lines = [
        "Under shift (`calibrate --shift`: each corpus judged by a head of this recipe trained on "
        "the others only, the test speakers left out; the temperature's growth with the "
        "distance from the training windows is fitted on these judgements):",
        "",
        "| corpus left out | clips | accuracy | mean top probability, raw → as shown | ECE raw → "
        "as shown | flagged unfamiliar |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {name} | {r['clips']} | {r['accuracy']:.3f} | {r['confidence_raw']:.3f} → "
        f"{r['confidence']:.3f} | {r['ece_raw']:.3f} → **{r['ece']:.3f}** | {r['unfamiliar']:.0%} |"
        for name, r in shift.items()
    ]
    return [*lines, ""]


def unseen_lines(found: dict[str, Any] | None) -> list[str]:
    """The leave-one-corpus-out figures ``crossval.md`` holds, model beside baseline."""
    if not found:
        return []
    lines = [
        "Leave-one-corpus-out (`crossval.md`: each corpus judged by a model trained on the "
        "others; UA over the corpus' own emotions that training had, uncalibrated heads):",
        "",
        "| system | corpus left out | UA closed set | UA open set | accuracy | ECE |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {crossval.NAMES[system]} | {c} | {crossval.figure(r['closed_ua'])} | "
        f"{crossval.figure(r['open_ua'])} | "
        f"{r['accuracy']:.3f} | {r['ece']:.3f} |"
        for system, corpora in found.items()
        for c, r in corpora.items()
    ]
    return [*lines, ""]


def fit_lines(block: dict[str, Any]) -> list[str]:
    """Where the calibration was fitted and how calibrated the model already was there."""
    if "fitted_on_ece" not in block:
        return []
    low, high = block["fitted_on_ece_floor"]
    kept = "kept" if block["kept"] else "not kept: it did not lower the ECE of speakers left out"
    return [
        f"Calibration: {block['method']}. On those {block['fitted_on_clips']} "
        f"clips the ECE is {block['fitted_on_ece']:.3f} (a perfectly calibrated model would show "
        f"{low:.3f}, at most {high:.3f}, by chance); fitted temperature "
        f"{block['fitted_temperature']:.2f}, {kept}. Uncertain below a top probability of "
        f"{block['uncertain_below']:.2f} (from there files are right at least half the time).",
        "",
    ]


def crossval_lines(found: dict[str, Any] | None, block: dict[str, Any]) -> list[str]:
    """The cross-validated ECE: every RAVDESS and EmoDB speaker judged by a model that never
    heard it, far more clips than the held-out split alone."""
    if not found:
        return []
    low, high = found["pooled_floor"]
    shown = ("before the temperature above, which this bundle applies"
             if block.get("temperature", 1.0) != 1.0
             else "as this bundle shows them (no temperature applied)")  # fmt: skip
    return [
        f"Cross-validated (`crossval.md`: this model's recipe trained {found['k']} times, each "
        f"time without one fold of speakers, each of the {found['clips']} clean clips of every "
        f"RAVDESS and EmoDB speaker judged once by the model that never heard it; probabilities "
        f"{shown}): ECE **{found['pooled_ece']:.3f}**, where a perfectly calibrated model "
        f"would show {low:.3f}, at most {high:.3f}, by chance; per fold "
        f"{found['ece']['mean']:.3f} ± {found['ece']['std']:.3f}; mean top probability "
        f"{found['confidence']:.3f} against accuracy {found['accuracy']:.3f}.",
        "",
    ]


def encoder_lines(train: dict[str, Any]) -> list[str]:
    """How the encoder model chose its layers and whether it adapts, from validation alone."""
    encoder, val = train.get("encoder"), train.get("val_ua")
    if not encoder:
        return []
    probe = encoder.get("layer_choice") or {}
    lines = [
        f"Built on {encoder['name']}: its first {encoder['layers']} layers, frozen, with a head "
        "trained on their output.",
    ]
    if probe:
        lines += [
            "",
            "Validation UA of a linear probe (logistic regression on a clip's mean and standard "
            "deviation of a layer's output) per layer; the best within the size and CPU budgets "
            "(at most 2 layers) was kept:",
            "",
            *table_head("layer", list(probe)),
            "| validation UA | " + " | ".join(f"{v:.3f}" for v in probe.values()) + " |",
        ]
    if val:
        lines += [
            "",
            f"Validation UA of the trained model: cold {val['cold']:.3f}, adapted to the "
            f"speaker {val['adapted']:.3f}.",
        ]
    return [*lines, ""]


def speaker_table(cold: dict[str, Any], adapted: dict[str, Any]) -> list[str]:
    """UA of every held-out speaker cold and adapted, so the gain is seen speaker by speaker."""
    lines = [
        "",
        f"Per held-out speaker (the model's speech statistics reach on average "
        f"{adapted.get('adaptation', 0):.0%} of the normalisation when adapted):",
        "",
        "| speaker | clips | UA cold | UA adapted | accuracy cold | accuracy adapted |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for speaker, c in cold["by_speaker"].items():
        a = adapted["by_speaker"][speaker]
        lines.append(
            f"| {speaker} | {c['clips']} | {c['ua']:.3f} | {a['ua']:.3f} "
            f"| {c['accuracy']:.3f} | {a['accuracy']:.3f} |"
        )
    return lines


def baseline_name(key: str, result: dict[str, Any]) -> str:
    method = result.get("method", key)
    return f"{method}, speaker-normalised*" if result.get("speaker_norm") else method


def plot_confusion(scores: dict[str, Any], path: Path) -> None:
    """Row-normalised confusion matrix with counts, as a PNG."""
    import matplotlib  # lazily: only a written report draws; Agg before pyplot, no display

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = scores["labels"]
    counts = np.asarray(scores["confusion"], dtype=float)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if counts[i, j]:
                color = "white" if rates[i, j] > 0.5 else "black"
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", color=color)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Held-out speakers: accuracy {scores['accuracy']:.2f}, UA {scores['ua']:.2f}")
    fig.tight_layout()
    with atomic.replacing(path) as f:
        fig.savefig(f, format=path.suffix.lstrip("."))
    plt.close(fig)
