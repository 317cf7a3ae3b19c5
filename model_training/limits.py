"""Where the model stops being reliable: the quality thresholds the bundle carries, found on the
validation speakers heard through channels made of *training* recordings (the evaluation's
recordings are never used to choose anything).

For each measure a sweep of one kind of damage, from none to much: each step's clips are analysed
by the app's own path (LiteRT, the speech gate, the quality meter). For level and noise the
threshold lies halfway between the measured values of the last step whose UA stays within
:data:`TOLERANCE` of clean and the first that falls further, but never where it would flag more
than :data:`CLEAN_PERCENTILE` % of the clean recordings of any corpus it learnt from (the
validation speakers' and a sample of the training speakers': each studio has its own floor of
hum and room, and three validation speakers do not show every one); a sweep that never falls
gets its threshold beyond its last step (the flag is raised only outside what was checked).
Clipping and a telephone line are defects of the recording rather than degrees of difficulty,
and worth fixing at the source even where the model copes: a telephone line is flagged below
halfway between clean and telephone copies' bandwidth, clipping above what 95 % of clean copies
show (and at least :data:`MIN_CLIPPING`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from app.audio.files import load
from app.engine import Engine
from app.offline import analyze_audio
from model_training import channels, metrics
from model_training.corpora import Clip

TOLERANCE = 0.08  # UA below clean that still counts as reliable (163 clips: about ±0.04 of noise)
CLEAN_PERCENTILE = 5  # of each corpus' clean values: a level or noise threshold never flags more
# (halfway to the first failing step flagged 12.5 % of the clean studio clips of EmoDB's test
# speakers as noisy; capped on the validation speakers alone, still 12.5 %)
CLEAN_PER_SPEAKER = 8  # clips of each training speaker added to the clean cap (no model fit)
MIN_CLIPPING = 1e-4  # of samples: 5 in a 3 s window, audible distortion
NOISE_SNRS = (20.0, 10.0, 5.0, 0.0, -5.0)
QUIET_DB = (-20.0, -30.0, -40.0, -50.0, -60.0)
LOUD_DB = (10.0, 20.0, 30.0)
CODECS = ("GSM610", "ULAW")

Damage = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def gained(db: float) -> Damage:
    return lambda y, rng: channels.gain(y, db)


def noised(sounds: channels.Sounds, snr: float) -> Damage:
    return lambda y, rng: channels.add_noise(y, sounds.noise(len(y), rng), snr)


def sweeps(sounds: channels.Sounds) -> dict[str, tuple[str, bool, list[tuple[str, Damage]]]]:
    """Per threshold: the quality field it reads, whether low values are bad, and its steps."""
    return {
        "too_quiet_db": ("level_db", True, [
            (f"gain {db:+.0f} dB", gained(db)) for db in QUIET_DB
        ]),
        "noisy_snr_db": ("snr_db", True, [
            (f"noise {snr:.0f} dB", noised(sounds, snr)) for snr in NOISE_SNRS
        ]),
        "clipping": ("clipping", False, [
            (f"gain {db:+.0f} dB", gained(db)) for db in LOUD_DB
        ]),
        "narrowband_hz": ("bandwidth_hz", True, [
            ("telephone", lambda y, rng: channels.telephone(y, CODECS[int(rng.integers(2))])),
        ]),
    }  # fmt: skip


# per clip: its speech windows' probabilities, its label, its speaker
Samples = list[tuple[np.ndarray, int, str]]


def step(
    engine: Engine, clips: Sequence[Clip], labels: Sequence[str], damage: Damage | None
) -> tuple[float, list[dict[str, Any]], Samples]:
    """UA of the clips heard through ``damage`` (``None``: clean), each file's quality, and the
    probabilities of the speech windows of the clips that have any."""
    truth, guess, quality, samples = [], [], [], []
    for i, clip in enumerate(clips):
        y = load(clip.path, engine.bundle.features.sample_rate)
        if damage is not None:
            y = damage(y, np.random.default_rng(i))
        analysis = analyze_audio(y, engine)
        label, _ = analysis.overall
        if label is None:  # the gate heard no speech: wrong, as a user would see it
            label = next(x for x in labels if x != clip.label)
        truth.append(labels.index(clip.label))
        guess.append(labels.index(label))
        quality.append(analysis.file_quality())
        if analysis.speech.any():
            samples.append((analysis.probabilities[analysis.speech], truth[-1], clip.speaker))
    return float(metrics.scores(truth, guess, labels)["ua"]), quality, samples


def threshold(
    field: str,
    low_is_bad: bool,
    steps: list[tuple[float, list[float]]],
    clean_sets: Sequence[Sequence[float]] = (),
) -> float:
    """Halfway between the last reliable step and the first unreliable one (``steps``: UA drop
    and the measured values, clean first), or just beyond the last step if none fails; never
    flagging more than :data:`CLEAN_PERCENTILE` % of the clean step or of any of
    ``clean_sets`` (each corpus' clean recordings)."""
    medians = [float(np.median(v)) for _, v in steps]
    if field == "clipping":
        return max(float(np.percentile(steps[0][1], 95)), MIN_CLIPPING)
    if field == "bandwidth_hz":
        return (medians[0] + medians[-1]) / 2
    for i in range(1, len(steps)):
        if steps[i][0] > TOLERANCE:  # and no false alarm on most clean recordings
            q = CLEAN_PERCENTILE if low_is_bad else 100 - CLEAN_PERCENTILE
            caps = [float(np.percentile(v, q)) for v in (steps[0][1], *clean_sets) if len(v)]
            halfway = (medians[i - 1] + medians[i]) / 2
            return min(halfway, *caps) if low_is_bad else max(halfway, *caps)
    beyond = np.percentile(steps[-1][1], 5 if low_is_bad else 95)
    return float(beyond)


def find(
    engine: Engine,
    clips: Sequence[Clip],
    labels: Sequence[str],
    sounds: channels.Sounds,
    known: Sequence[Clip] = (),
) -> tuple[dict[str, Any], dict[str, Samples]]:
    """The thresholds and the sweeps that gave them (UA and median measure per step), and every
    step's samples (clean first), on which the calibration is fitted: ``engine`` should give raw
    probabilities. ``known``: more clean recordings (training speakers'), only for the cap."""
    clean_ua, clean_q, clean = step(engine, clips, labels, None)
    _, known_q, _ = step(engine, known, labels, None)
    corpus: dict[str, list[dict[str, Any]]] = {}
    for c, q in zip([*clips, *known], [*clean_q, *known_q], strict=True):
        corpus.setdefault(c.corpus, []).append(q)
    samples = {"clean": clean}
    out: dict[str, Any] = {"fitted_on": "validation speakers, training noise and rooms; the "
                           f"clean cap also on {len(known)} clips of training speakers",
                           "tolerance": TOLERANCE, "sweeps": {}}  # fmt: skip
    for name, (field, low_is_bad, damages) in sweeps(sounds).items():
        sets = [[q[field] for q in qs if field in q] for qs in corpus.values()]
        measured = [(0.0, [q[field] for q in clean_q if field in q])]
        record = [{"step": "clean", "ua": clean_ua, "median": float(np.median(measured[0][1]))}]
        for label, damage in damages:
            ua, damaged, samples[f"{name}: {label}"] = step(engine, clips, labels, damage)
            values = [x[field] for x in damaged if field in x]
            measured.append((clean_ua - ua, values))
            record.append({"step": label, "ua": ua, "median": float(np.median(values))})
            print(f"{name}: {label}: UA {ua:.3f}, median {field} {record[-1]['median']:.4g}",
                  file=sys.stderr, flush=True)  # fmt: skip
        out[name] = threshold(field, low_is_bad, measured, sets)
        out["sweeps"][name] = record
    return out, samples


def uncertain_below(probs: np.ndarray, truth: Sequence[int]) -> float:
    """The top probability from which files are right at least as often as wrong (a monotone
    fit of being right on the top probability): below it no emotion is clearly ahead. Counting
    all the files under a threshold instead let many unsure files drag it far above that point.
    A model never right half the time is unsure below the grid's top, 0.99 (a bundle's threshold
    is under 1)."""
    from sklearn.isotonic import IsotonicRegression

    top, right = probs.max(axis=1), probs.argmax(axis=1) == np.asarray(truth)
    fit = IsotonicRegression(out_of_bounds="clip").fit(top, right.astype(float))
    grid = np.round(np.arange(0.0, 1.0, 0.01), 2)
    sure = grid[fit.predict(grid) >= 0.5]
    return float(sure[0]) if len(sure) else float(grid[-1])
