"""The robustness evaluation: each system on the held-out speakers, clean and heard through every
channel of :data:`channels.CONDITIONS` (evaluation recordings only), side by side.

A system is a function from a condition (``None``: clean) to the clips it scored and their
windows' probabilities; a clip's are the mean of its windows' after the system's calibration
(``analyze`` averages the speech windows only; these clips are single sentences, nearly all
speech). The figures land in the report as a table and a plot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app import atomic
from app.adapt import frames_for
from app.audio.files import load
from app.engine import temper
from app.familiar import softening, statistics
from app.offline import analyze_audio
from model_training import calibration, channels, data, whisper
from model_training import encoder_run as er
from model_training import model as models
from model_training.corpora import Clip
from model_training.scoring import score_clips, table_head
from model_training.train import clip_windows, window_probabilities

CLEAN = "clean"
PLOT = "robustness.png"
RELIABILITY_PLOT = "reliability.png"

Windows = list[np.ndarray]  # per clip: (windows, labels) probabilities, uncalibrated
System = Callable[[str | None], tuple[list[Clip], Windows]]


def unsure(bundle: Any, frames: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """A clip's window probabilities softened as far as the bundle's familiarity says
    (:mod:`app.familiar`) before its temperature: tempering twice multiplies the temperatures,
    so the base one is still applied after, as for every system."""
    known = bundle.familiarity
    if known is None:
        return probs
    return temper(probs, softening(known.distance(statistics(frames)), known.slope))


def bundle_system(
    bundle: Any, clips: Sequence[Clip], cache: Path, workers: int, sounds: str = "",
    adapted: bool = False,
) -> System:  # fmt: skip
    """A bundle's model as the evaluation runs it: an encoder model's head over the installed
    encoder (refused if the bundle names other weights), a CNN's Keras model; cold, or for an
    encoder model ``adapted`` to each speaker (leave one clip out)."""
    if bundle.encoder is not None:
        if bundle.encoder.sha256 != whisper.SHA256:
            raise whisper.WeightsError(
                f"This model was built on encoder weights with sha256 "
                f"{bundle.encoder.sha256[:16]}…, not the installed {whisper.SHA256[:16]}… "
                f"({', '.join(bundle.encoder.packages)})."
            )
        encoders = er.Encoders.of(bundle)
        head = models.load(bundle.keras_path)

        def encoder_run(condition: str | None) -> tuple[list[Clip], Windows]:
            feats = er.features(clips, None, cache, workers, condition, sounds)
            if adapted:  # each clip normalised by its speaker's other clips, heard the same way
                enc = er.encode_normalised(feats, adapted_norms(bundle, feats), encoders,
                                           bundle.encoder.layers)  # fmt: skip
            else:
                enc = er.encode(feats, encoders, bundle.encoder.layers, None, cache,
                                condition=condition)  # fmt: skip
            probs = window_probabilities(models.classifier(head), enc.clean)
            return enc.clips, [unsure(bundle, w, p) for w, p in zip(enc.clean, probs, strict=True)]

        return encoder_run

    classifier = models.classifier(models.load(bundle.keras_path))
    w, fill = bundle.windowing, data.silence(bundle.features)

    def cnn_run(condition: str | None) -> tuple[list[Clip], Windows]:
        feats = data.extract(clips, bundle.features, None, cache / "features", workers, condition,
                             sounds)  # fmt: skip
        norms = [bundle.population.cold] * len(feats.clips)
        batches = clip_windows(feats.clean, w.size, w.hop, fill, norms)
        return feats.clips, window_probabilities(classifier, batches)

    return cnn_run


def adapted_norms(bundle: Any, feats: data.Features) -> list[Any]:
    """Each clip's normalisation adapted to its speaker from their *other* clips, as the app
    adapts (speech frames by its gate, the bundle's prior)."""

    prior = frames_for(bundle.features, bundle.adapt_seconds)
    voices = data.Voices(feats.clips, feats.moments(bundle.windowing), bundle.population, prior)
    return voices.left_out()


def score(
    systems: dict[str, tuple[System, float]], labels: Sequence[str], conditions: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per system (and its calibration temperature), per condition (clean first): the report's
    figures (pooled, by corpus), and the ECE of its clip probabilities calibrated and not."""
    out: dict[str, dict[str, Any]] = {}
    for name, (run, temperature) in systems.items():
        out[name] = {}
        for condition in (CLEAN, *conditions):
            clips, windows = run(None if condition == CLEAN else condition)
            probs = calibration.clip_probabilities(windows, temperature)
            scored = score_clips(clips, probs, labels)
            truth = [labels.index(c.label) for c in clips]
            out[name][condition] = {
                **{k: scored[k] for k in ("pooled", "by_corpus")},
                "ece": calibration.ece(probs, truth),
                "ece_floor": calibration.ece_floor(probs),
                "ece_uncalibrated": calibration.ece(calibration.clip_probabilities(windows), truth),
                "reliability": calibration.reliability(probs, truth),
                "reliability_uncalibrated": calibration.reliability(
                    calibration.clip_probabilities(windows), truth
                ),
            }
            print(f"{name}, {condition}: UA {scored['pooled']['ua']:.3f}, "
                  f"ECE {out[name][condition]['ece']:.3f}", flush=True)  # fmt: skip
    return out


FLAG_CHECKS: tuple[tuple[str, str | None, Callable[[np.ndarray], np.ndarray]], ...] = (
    ("clean", None, lambda y: y),
    ("telephone GSM", "narrowband", lambda y: channels.telephone(y, "GSM610")),
    ("telephone μ-law", "narrowband", lambda y: channels.telephone(y, "ULAW")),
    ("clipped (peak 6 dB over full scale)", "clipping", lambda y: channels.gain(y, clip_gain(y))),
    ("very quiet (level −60 dB)", "too_quiet", lambda y: channels.gain(y, -60.0)),
)


def clip_gain(y: np.ndarray) -> float:
    """The gain that takes a clip's peak 6 dB over full scale: every copy clips (+20 dB leaves
    the softer clips unclipped)."""
    return 6.0 - 20 * float(np.log10(np.abs(y).max() + 1e-12))


def flag_rates(engine: Any, clips: Sequence[Clip]) -> dict[str, dict[str, Any]]:
    """Share of files whose file-level quality raises the flag each copy should raise (clean:
    no flag), through the app's own analysis."""
    out = {}
    for name, flag, damage in FLAG_CHECKS:
        raised = []
        for clip in clips:
            y = damage(load(clip.path, engine.bundle.features.sample_rate))
            raised.append(analyze_audio(y, engine).file_quality()["flags"])
        hit = [(flag in f) if flag else not f for f in raised]
        out[name] = {"expected": flag, "files": len(hit), "share": float(np.mean(hit))}
        print(f"flags, {name}: {out[name]['share']:.1%} of files as expected", flush=True)
    return out


def flag_lines(rates: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "### Input quality flags",
        "",
        "Share of held-out files whose file-level quality (the flags raised in at least half of "
        "their speech windows, as `analyze` reports them) is as expected:",
        "",
        "| copy | expected | files | share |",
        "|---|---|---:|---:|",
    ]
    for name, r in rates.items():
        lines.append(f"| {name} | {r['expected'] or 'no flag'} | {r['files']} | "
                     f"{r['share']:.1%} |")  # fmt: skip
    return [*lines, ""]


def summary(results: dict[str, Any]) -> dict[str, float]:
    """Clean UA, the mean over the conditions, the worst condition's, and its gap to clean."""
    ua = {c: r["pooled"]["ua"] for c, r in results.items()}
    heard = [v for c, v in ua.items() if c != CLEAN]
    return {
        "clean": ua[CLEAN],
        "mean": float(np.mean(heard)),
        "worst": float(min(heard)),
        "gap": ua[CLEAN] - float(np.mean(heard)),
    }


def markdown(table: dict[str, dict[str, Any]], chance: float) -> list[str]:
    """UA per condition (rows) and system (columns), corpora in brackets; the summary rows."""
    systems = list(table)
    conditions = list(next(iter(table.values())))
    families = {c.name: c.family for c in channels.CONDITIONS}
    corpora = sorted(next(iter(table.values()))[CLEAN]["by_corpus"])
    lines = [
        "## Through other channels",
        "",
        "The same held-out speakers heard through each channel, with noise recordings and rooms "
        "kept for evaluation (`../shared/noise-eval`, never used in training). UA pooled "
        f"({' / '.join(corpora)} in brackets); chance is {chance:.3f}.",
        "",
        *table_head("condition", systems, extra="family | "),
    ]
    for c in conditions:
        cells = []
        for s in systems:
            r = table[s][c]
            by = " / ".join(
                f"{r['by_corpus'][k]['ua']:.2f}" for k in corpora if k in r["by_corpus"]
            )
            cells.append(f"{r['pooled']['ua']:.3f} ({by})")
        lines.append(f"| {c} | {families.get(c, CLEAN)} | " + " | ".join(cells) + " |")
    sums = {s: summary(table[s]) for s in systems}
    for key, what in (("mean", "mean over channels"), ("worst", "worst channel"),
                      ("gap", "clean − mean")):  # fmt: skip
        lines.append(
            f"| **{what}** | | " + " | ".join(f"{sums[s][key]:.3f}" for s in systems) + " |"
        )
    lines += ["", f"UA per condition and system: `{PLOT}`.", ""]
    return lines + ece_lines(table)


def ece_lines(table: dict[str, dict[str, Any]]) -> list[str]:
    """Expected calibration error (10 bins, top label) per condition: raw → calibrated."""
    models = [s for s in table if "ece" in next(iter(table[s].values()))]
    if not models:
        return []
    lines = [
        "### Calibration",
        "",
        "Expected calibration error (ECE, 10 bins, top emotion, clip level) on the held-out "
        "speakers, of the raw probabilities → of those calibrated by the bundle's temperature "
        "(systems without calibration, or whose fitted temperature was not kept, show one "
        "figure). The last column is the ECE that the first model would show on these clips if "
        "it were perfectly calibrated, by chance alone (median and 95th percentile of "
        f"{calibration.FLOOR_DRAWS} draws of each clip's emotion from its own probabilities): "
        "a measured ECE within it cannot be told apart from perfect calibration.",
        "",
        *table_head("condition", [*models, "calibrated by chance"]),
    ]
    for c in next(iter(table.values())):
        cells = []
        for s in models:
            r = table[s][c]
            raw, cal = r["ece_uncalibrated"], r["ece"]
            cells.append(f"{raw:.3f} → {cal:.3f}" if abs(raw - cal) > 1e-9 else f"{cal:.3f}")
        floor = table[models[0]][c].get("ece_floor")
        cells.append(f"{floor[0]:.3f} (≤ {floor[1]:.3f})" if floor else "–")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return [*lines, "", f"Reliability diagram: `{RELIABILITY_PLOT}`.", ""]


def plot_reliability(table: dict[str, dict[str, Any]], path: Path) -> None:
    """The first system's reliability clean (raw and calibrated) and in its worst channel."""
    results = next(iter(table.values()))
    worst = min((c for c in results if c != CLEAN), key=lambda c: results[c]["pooled"]["ua"],
                default=None)  # fmt: skip
    curves = {
        "clean, raw": results[CLEAN]["reliability_uncalibrated"],
        "clean, calibrated": results[CLEAN]["reliability"],
    }
    if worst:
        curves[f"{worst}, calibrated"] = results[worst]["reliability"]
    calibration.plot(curves, path)


def plot(table: dict[str, dict[str, Any]], chance: float, path: Path) -> None:
    """Grouped bars: UA per condition, one colour per system, chance marked."""
    import matplotlib  # lazily: only a written report draws; Agg before pyplot, no display

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(table)
    conditions = list(next(iter(table.values())))
    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(12, 4.8), dpi=110)
    for i, s in enumerate(systems):
        values = [table[s][c]["pooled"]["ua"] for c in conditions]
        ax.bar(np.arange(len(conditions)) + (i - (len(systems) - 1) / 2) * width, values, width,
               label=s)  # fmt: skip
    ax.axhline(chance, color="black", linestyle=":", linewidth=1, label="chance")
    ax.set_xticks(range(len(conditions)), conditions, rotation=35, ha="right")
    ax.set_ylabel("UA (held-out speakers)")
    ax.set_ylim(0, 1.15)
    ax.legend(fontsize=8, ncol=len(systems) + 1, loc="upper center")
    ax.set_title("Held-out speakers through other channels")
    fig.tight_layout()
    with atomic.replacing(path) as f:
        fig.savefig(f, format=path.suffix.lstrip("."))
    plt.close(fig)
