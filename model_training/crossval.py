"""Speaker-fold cross-validation: every RAVDESS and EmoDB speaker tested exactly once.

One held-out split says little with six test speakers; the headline figures are the mean and
standard deviation of UA over ``k`` speaker folds, for the encoder model, the CNN of the seeds and
eGeMAPS+SVM, each fold choosing on its own validation speakers. TESS only ever trains. Each
fold's result is written as soon as it exists, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from app import atomic
from app.features import FeatureSettings
from model_training import augment, data, splits
from model_training import baseline as svm
from model_training import encoder_run as er
from model_training import model as models
from model_training import train as training
from model_training.calibration import ece, ece_floor
from model_training.corpora import Clip
from model_training.scoring import score_clips
from model_training.train import TrainSettings

SYSTEMS = ("encoder", "cnn", "baseline")
NAMES = {
    "encoder": "Whisper-base encoder + head",
    "cnn": "CNN → LSTM → attention (the seeds' model)",
    "baseline": "eGeMAPS + SVM",
}
RESULTS_JSON = "crossval.json"
RESULTS_MD = "crossval.md"
CORPUS_FOLD = "corpus-"  # a leave-one-corpus-out fold's folder: corpus-emodb, ...
UNSEEN = ("encoder", "baseline")  # the systems left-out corpora are measured for


def subset(features: data.Features, clips: Sequence[Clip], clean: bool = False) -> data.Features:
    """The rows of ``features`` for ``clips`` (``clean``: without augmented renderings)."""
    row = {c.path: i for i, c in enumerate(features.clips)}
    keep = [row[c.path] for c in clips if c.path in row]
    return data.Features(
        [features.clips[i] for i in keep],
        [features.variants[i][:1] if clean else features.variants[i] for i in keep],
        [],
        [features.levels[i] for i in keep],
    )


class Runner:
    """Features and encodings computed once for every clip, then one fold at a time."""

    def __init__(
        self,
        clips: Sequence[Clip],
        labels: tuple[str, ...],
        settings: TrainSettings,
        augmenting: augment.AugmentSettings,
        cache: Path,
        out: Path,
        workers: int,
        layers: int | None,
        conditions: Sequence[str] = (),
        sounds: str = "",
        command: str = "",
        known: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        self.clips, self.labels, self.settings = list(clips), labels, settings
        self.augmenting, self.cache, self.out, self.workers = augmenting, cache, out, workers
        self.layers = layers
        self.conditions, self.sounds = list(conditions), sounds  # the encoder's test channels
        self.command = command
        self.known = known or {}  # folds a report already holds (from another machine's run)
        self._encoder: Any = None
        self._cnn: data.Features | None = None

    def fold(self, name: str, split: splits.Split, system: str) -> dict[str, Any]:
        """``system`` trained and tested on ``split``, kept in ``out/name`` (or found there)."""
        path = self.out / name / f"{system}.json"
        if path.exists():
            return dict(json.loads(path.read_text()))
        recipe = self.recipe(system)
        if (done := self.reuse(system, split, path, recipe)) is not None:
            return done
        print(f"{name}: {system}", file=sys.stderr, flush=True)
        result = getattr(self, system)(split, path.parent / system)
        result["max_epochs"] = self.settings.epochs if system != "baseline" else None
        result["command"] = self.command
        result["recipe"] = recipe
        result["test_speakers"] = split.speakers("test")
        result["val_speakers"] = split.speakers("val")
        result["train_labels"] = sorted({c.label for c in split.train})
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write(path, json.dumps(result, indent=1))
        return result

    def reuse(
        self, system: str, split: splits.Split, path: Path, recipe: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """The report's fold of ``system`` for ``split`` (of ``recipe``; any, if None), copied
        to ``path``; None if it holds none."""
        for done in self.known.get(system, []):
            same = recipe is None or done.get("recipe") == recipe
            if done.get("test_speakers") == split.speakers("test") and same:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic.write(path, json.dumps(done, indent=1))
                return dict(done)
        return None

    def keep(self, name: str, split: splits.Split, systems: Sequence[str]) -> None:
        """The report's folds of systems not run now, kept beside this run's in its summary."""
        for system in systems:
            path = self.out / name / f"{system}.json"
            if not path.exists():
                self.reuse(system, split, path, None)

    def recipe(self, system: str) -> dict[str, Any]:
        """What a fold of ``system`` was trained with: a fold measured with another recipe is
        not this one's."""
        if system == "baseline":  # chooses its own parameters per fold
            return {}
        if system == "encoder":
            settings = self.encoder_settings()
            return recipe(settings.to_dict(), self.augmenting.to_dict(), layers=self.layers,
                          block_frames=er.BLOCK_FRAMES, level=er.LEVEL,
                          precision=er.PRECISION)  # fmt: skip
        return recipe(self.settings.to_dict(), self.augmenting.to_dict())

    def encoder_settings(self) -> TrainSettings:
        """The bundled model's timing (hop) and no speaker adaptation, as ``train`` uses."""
        return replace(self.settings, hop_seconds=er.HOP_SECONDS, adapt=False)

    def encoder(self, split: splits.Split, out: Path) -> dict[str, Any]:
        settings = self.encoder_settings()
        if self._encoder is None:
            encoders = er.Encoders(settings)
            feats = er.features(self.clips, self.augmenting, self.cache, self.workers)
            pooled = None
            if self.layers is None:  # each fold chooses its layer by the probe
                pooled = er.encode(feats, encoders, er.PROBE_LAYERS, None, self.cache, True)
            self._encoder = encoders, feats, pooled
        encoders, feats, pooled = self._encoder
        train, val, test = (set(split.speakers(p)) for p in ("train", "val", "test"))
        probe = None
        layers = self.layers
        if pooled is not None:
            probe = er.probe_layers(pooled.subset(train), pooled.subset(val), self.labels)
            layers = er.best_layer(probe)
        assert layers is not None  # given, or chosen by the probe
        enc = er.encode(feats, encoders, layers, self.augmenting, self.cache)
        head = er.train_head(
            enc.subset(train), enc.subset(val), self.labels, self.augmenting, settings, out
        )
        tested = enc.subset(test)
        probs = er.predict(head, tested)
        scored = score_clips(tested.clips, probs, self.labels)
        scored["judged"] = judged(tested.clips, probs, self.labels)
        shifted = er.predict(head, er.speaker_shifted(enc.subset(train), tested))
        scored["judged_speaker"] = judged(tested.clips, shifted, self.labels)
        heard = {}
        for c in self.conditions:  # the fold's test speakers through each evaluation channel
            feats_c = er.features(tested.clips, None, self.cache, self.workers, c, self.sounds)
            enc_c = er.encode(feats_c, encoders, layers, None, self.cache, condition=c)
            heard[c] = score_clips(enc_c.clips, er.predict(head, enc_c), self.labels)
        return {"test": scored, "layers": layers, "probe": probe, "conditions": heard}

    def cnn(self, split: splits.Split, out: Path) -> dict[str, Any]:
        features = FeatureSettings(kind="logmel")
        if self._cnn is None:
            self._cnn = data.extract(
                self.clips, features, self.augmenting, self.cache / "features", self.workers
            )
        val, test = subset(self._cnn, split.val, True), subset(self._cnn, split.test, True)
        cnn = training.fit_cnn(
            train_set=subset(self._cnn, split.train), val_set=val, labels=self.labels,
            features=features, augmenting=self.augmenting,
            settings=replace(self.settings, adapt=False),  # cold, as the encoder model
            out_dir=out,
        )  # fmt: skip
        w = cnn.windowing
        probs = training.predict_clips(
            models.classifier(cnn.model), test.clean, w.size, w.hop, cnn.fill,
            [cnn.population.cold] * len(test.clips),
        )  # fmt: skip
        return {"test": score_clips(test.clips, probs, self.labels)}

    def baseline(self, split: splits.Split, out: Path) -> dict[str, Any]:
        result = svm.run(split, self.labels, self.cache / "egemaps", workers=self.workers,
                         judged=True)  # fmt: skip
        test = {**svm.pooled_and_by_corpus(result["test"]), "judged": result["judged"]}
        return {"test": test, "params": result["params"]}


def recipe(settings: dict[str, Any], augment: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A model's recipe as folds record it (as JSON keeps it: tuples become lists)."""
    return dict(json.loads(json.dumps({"settings": settings, "augment": augment, **more})))


def judged(clips: Sequence[Clip], probs: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Each test clip's label and probabilities, kept so the folds' calibration can be pooled."""
    return {
        "truth": [labels.index(c.label) for c in clips],
        "probabilities": np.round(probs, 5).tolist(),
    }


def calibration(folds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """ECE of the top emotion per fold and over every fold's clips pooled (each judged by a
    model that never heard its speaker), beside the chance floor of a perfectly calibrated
    model with the same probabilities on as many clips."""
    probs = [np.array(f["probabilities"]) for f in folds]
    truth = [np.array(f["truth"]) for f in folds]
    per_fold = [ece(p, t) for p, t in zip(probs, truth, strict=True)]
    pooled, right = np.concatenate(probs), np.concatenate(truth)
    return {
        "ece": {"mean": float(np.mean(per_fold)), "std": float(np.std(per_fold)),
                "folds": per_fold},
        "pooled_ece": ece(pooled, right),
        "pooled_floor": ece_floor(pooled),
        "clips": len(pooled),
        "confidence": float(pooled.max(axis=1).mean()),  # below accuracy: underconfident
        "accuracy": float((pooled.argmax(axis=1) == right).mean()),
    }  # fmt: skip


def summarise(results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Mean and standard deviation over folds of UA and accuracy, pooled and per corpus."""
    out: dict[str, Any] = {}
    for system, folds in results.items():
        rows: dict[str, dict[str, list[float]]] = {}
        for f in folds:
            groups = {"pooled": f["test"]["pooled"], **f["test"]["by_corpus"]}
            for name, s in groups.items():
                for metric in ("ua", "accuracy"):
                    rows.setdefault(name, {}).setdefault(metric, []).append(s[metric])
        out[system] = {
            name: {m: {"mean": float(np.mean(v)), "std": float(np.std(v)), "folds": v}
                   for m, v in metrics.items()}
            for name, metrics in rows.items()
        }  # fmt: skip
        kept = [f["test"].get("judged") for f in folds]
        if kept and all(kept):
            out[system]["calibration"] = calibration(kept)
        heard = [f.get("conditions") or {} for f in folds]
        if heard and all(heard):
            out[system]["channels"] = {
                c: {"mean": float(np.mean(v)), "std": float(np.std(v)), "folds": v}
                for c in heard[0]
                if (v := [h[c]["pooled"]["ua"] for h in heard if c in h])
            }
    return out


def unseen(judged: dict[str, Any], labels: Sequence[str], trained: Sequence[str]) -> dict[str, Any]:
    """A corpus left out, as its clips were judged: UA over its own classes that training had
    (closed set: the choice limited to them) and over every label (open set), accuracy, the
    top emotion's ECE and mean probability (open set: what the user sees)."""
    probs, truth = np.array(judged["probabilities"]), np.array(judged["truth"])
    own = sorted({int(y) for y in truth} & {labels.index(x) for x in trained})
    guess = probs.argmax(axis=1)
    recall: list[float] = []
    if own:  # none when training had none of its emotions: there is no UA to give
        closed = np.array(own)[probs[:, own].argmax(axis=1)]
        recall = [float(np.mean(closed[truth == y] == y)) for y in own]
    return {
        "clips": len(truth),
        "classes": [labels[y] for y in own],
        "closed_ua": float(np.mean(recall)) if own else None,
        "open_ua": float(np.mean([np.mean(guess[truth == y] == y) for y in own])) if own else None,
        "accuracy": float(np.mean(guess == truth)),
        "ece": ece(probs, truth),
        "confidence": float(probs.max(axis=1).mean()),
        "recall": dict(zip([labels[y] for y in own], recall, strict=True)),
    }


def unseen_summary(
    results: dict[str, dict[str, dict[str, Any]]], labels: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """:func:`unseen` for every system and corpus left out."""

    def both(f: dict[str, Any]) -> dict[str, Any]:
        out = unseen(f["test"]["judged"], labels, f["train_labels"])
        if "judged_speaker" in f["test"]:  # encoder folds since the speaker's offset was scored
            out["speaker"] = unseen(f["test"]["judged_speaker"], labels, f["train_labels"])
        return out

    return {
        system: {c: both(f) for c, f in sorted(folds.items())} for system, folds in results.items()
    }


def figure(x: float | None) -> str:
    """A table cell: three decimals, or a dash where there is no figure."""
    return "–" if x is None else f"{x:.3f}"


def unseen_markdown(summary: dict[str, dict[str, Any]], commands: Sequence[str]) -> str:
    lines = [
        "## Leave-one-corpus-out",
        "",
        "Each corpus judged by a model trained on the others only (validation speakers dealt "
        "from those), so no speaker, sentence, language or studio of it was heard in training "
        "or in any choice: what a new user's recordings meet. Closed set: the choice limited to "
        "the corpus' own emotions that training had (calm is RAVDESS' alone); open set: over "
        "every label, as the app answers. ECE and mean top probability of the open set, "
        "uncalibrated (each fold's head as trained).",
        "",
        "Commands: " + ", ".join(f"`{c}`" for c in commands),
        "",
        "| system | corpus left out | clips | classes | UA closed | UA open | accuracy | ECE | "
        "mean top probability |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for system, corpora in summary.items():
        for corpus, r in corpora.items():
            lines.append(
                f"| {NAMES[system]} | {corpus} | {r['clips']} | {len(r['classes'])} | "
                f"{figure(r['closed_ua'])} | {figure(r['open_ua'])} | {r['accuracy']:.3f} | "
                f"{r['ece']:.3f} | {r['confidence']:.3f} |"
            )
    shifted = [(s, c, r["speaker"]) for s, cs in summary.items() for c, r in cs.items()
               if "speaker" in r]  # fmt: skip
    if shifted:
        lines += [
            "",
            "The same heads with each test speaker's voice taken out in the encoder's space (the "
            "mean encoder frame of the speaker's *other* clips moved onto the training voices' "
            "mean): what knowing a speaker from other recordings gives, not what one file alone "
            "gets.",
            "",
            "| system | corpus left out | UA closed | UA open | accuracy | ECE | "
            "mean top probability |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for system, corpus, r in shifted:
            lines.append(
                f"| {NAMES[system]} | {corpus} | {figure(r['closed_ua'])} | "
                f"{figure(r['open_ua'])} | {r['accuracy']:.3f} | {r['ece']:.3f} | "
                f"{r['confidence']:.3f} |"
            )
    lines += ["", "Recall per emotion (closed set):", ""]
    for system, corpora in summary.items():
        for corpus, r in corpora.items():
            cells = ", ".join(f"{k} {v:.2f}" for k, v in r["recall"].items())
            lines.append(f"- {NAMES[system]}, {corpus}: {cells}")
    return "\n".join(lines) + "\n"


def markdown(summary: dict[str, Any], k: int, commands: Sequence[str]) -> str:
    lines = [
        f"# Speaker-fold cross-validation ({k} folds)",
        "",
        "Every RAVDESS and EmoDB speaker in the corpora is tested exactly once, in the fold that "
        "held it out; each fold chose its epoch (and the encoder its layer, unless the command "
        "fixed it) on the next fold's speakers and trained on the rest and TESS. Mean ± standard "
        "deviation over the folds; "
        "UA is unweighted average recall (RAVDESS 8 classes, EmoDB 6).",
        "",
        "Commands (each fold records the one that ran it): "
        + ", ".join(f"`{c}`" for c in commands),
        "",
        "| system | folds | UA pooled | UA RAVDESS | UA EmoDB | accuracy pooled |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def cell(s: dict[str, Any], group: str, metric: str = "ua") -> str:
        v = s.get(group, {}).get(metric)
        return f"{v['mean']:.3f} ± {v['std']:.3f}" if v else "–"

    for system, s in summary.items():
        n = len(s["pooled"]["ua"]["folds"])
        lines.append(
            f"| {NAMES[system]} | {n} of {k} | {cell(s, 'pooled')} | {cell(s, 'ravdess')} | "
            f"{cell(s, 'emodb')} | {cell(s, 'pooled', 'accuracy')} |"
        )
    lines += ["", "Pooled UA per fold:", "", "| system | " + " | ".join(
        f"fold {i}" for i in range(k)) + " |", "|---|" + "---:|" * k]  # fmt: skip
    for system, s in summary.items():
        folds = s["pooled"]["ua"]["folds"]
        cells = [f"{v:.3f}" for v in folds] + ["–"] * (k - len(folds))
        lines.append(f"| {NAMES[system]} | " + " | ".join(cells) + " |")
    for system, s in summary.items():
        if c := s.get("calibration"):
            low, high = c["pooled_floor"]
            lines += [
                "",
                f"{NAMES[system]}: expected calibration error of the top emotion (10 bins, clean "
                f"test clips, each fold's head uncalibrated), pooled over every fold's "
                f"{c['clips']} clips: **{c['pooled_ece']:.3f}**; a perfectly calibrated model "
                f"with these probabilities would measure {low:.3f} by chance (95th percentile "
                f"{high:.3f}). Per fold {c['ece']['mean']:.3f} ± {c['ece']['std']:.3f}. Mean "
                f"top probability {c['confidence']:.3f} against accuracy {c['accuracy']:.3f}.",
            ]
        if s.get("channels"):
            lines += ["", f"{NAMES[system]} through the evaluation channels, pooled UA:", "",
                      "| channel | UA |", "|---|---:|"]  # fmt: skip
            lines += [f"| {c} | {v['mean']:.3f} ± {v['std']:.3f} |"
                      for c, v in s["channels"].items()]  # fmt: skip
    return "\n".join(lines) + "\n"


def run(
    clips: Sequence[Clip],
    labels: tuple[str, ...],
    k: int,
    systems: Sequence[str],
    runner: Runner,
) -> dict[str, Any]:
    """Every fold of every system asked for (folds first, so their figures grow together); the
    summary also keeps what earlier runs in the same folder measured for other systems."""
    for i, split in enumerate(splits.folds(clips, k)):
        print(split.describe(labels), file=sys.stderr)
        for system in systems:
            runner.fold(f"fold{i}", split, system)
        runner.keep(f"fold{i}", split, [s for s in runner.known if s not in systems])
        summary = write(runner.out, k, labels)
    return summary


def run_corpora(
    clips: Sequence[Clip], labels: tuple[str, ...], k: int, systems: Sequence[str], runner: Runner
) -> dict[str, Any]:
    """Every corpus left out once (:func:`splits.by_corpus`), for every system asked for (of
    :data:`UNSEEN`); the speaker folds a report holds are kept beside them."""
    for i, split in enumerate(splits.folds(clips, k)):
        runner.keep(f"fold{i}", split, list(runner.known))
    for corpus, split in splits.by_corpus(clips).items():
        print(f"left out: {corpus}\n" + split.describe(labels), file=sys.stderr)
        for system in (s for s in systems if s in UNSEEN):
            runner.fold(f"{CORPUS_FOLD}{corpus}", split, system)
        summary = write(runner.out, k, labels)
    return summary


def known(report: Path | None) -> dict[str, list[dict[str, Any]]]:
    """The folds a report's ``crossval.json`` holds, by system (none without one)."""
    path = report / RESULTS_JSON if report else None
    if path is None or not path.exists():
        return {}
    return dict(json.loads(path.read_text())["folds"])


def write(out: Path, k: int, labels: Sequence[str]) -> dict[str, Any]:
    """``crossval.json`` and ``crossval.md`` from every fold result in ``out``: speaker folds,
    then corpora left out."""
    results = {
        s: [
            json.loads(p.read_text())
            for i in range(k)
            if (p := out / f"fold{i}" / f"{s}.json").exists()
        ]
        for s in SYSTEMS
    }
    results = {s: r for s, r in results.items() if r}
    corpora = {
        s: {p.parent.name.removeprefix(CORPUS_FOLD): json.loads(p.read_text())
            for p in sorted(out.glob(f"{CORPUS_FOLD}*/{s}.json"))}
        for s in UNSEEN
    }  # fmt: skip
    corpora = {s: r for s, r in corpora.items() if r}
    summary = summarise(results)
    unseen_figures = unseen_summary(corpora, labels)
    done = [f for r in results.values() for f in r]
    done += [f for r in corpora.values() for f in r.values()]
    commands = list(dict.fromkeys(f["command"] for f in done))
    atomic.write(
        out / RESULTS_JSON,
        json.dumps({"k": k, "commands": commands, "summary": summary, "folds": results,
                    "corpora": {"summary": unseen_figures, "folds": corpora}}, indent=1),
    )  # fmt: skip
    text = markdown(summary, k, commands) if results else ""
    if unseen_figures:
        text += "\n" + unseen_markdown(unseen_figures, commands)
    atomic.write(out / RESULTS_MD, text)
    return summary
