"""A voice taught by its owner: a few takes per emotion fit a small correction to the bundled
model's judgement.

Emotion is a departure from a person's own baseline, and in encoder-statistics space removing the
speaker's own mean was the largest single gain measured on voices of new corpora (EmoDB left out
of training: UA 0.36 → 0.63). So a take is described by its encoder statistics minus the mean of
the user's takes (in units of their spread) beside the general model's log-probabilities, and an
L2 logistic head (plain numpy: no TensorFlow at run time) learns from them a correction to the
general head's logits. The penalty is fixed and the takes' losses add up, so the general head
weighs most when the user gave little and the user's own takes weigh more the more they gave.
Leave-one-take-out on the user's takes estimates what it gains; a voice worse than the general
model by more than noise is not kept. No Qt here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app import atomic
from app.bundle import Bundle

FORMAT = 1
KIND = "emotion-meter personal voice"
# L2 strength on the correction, against the sum of the takes' losses (features in units of the
# takes' spread). Fixed: chosen per user by leave-one-take-out (with a blend against the general
# head) it did worse on the validation speakers (RAVDESS, 2 takes per emotion: UA 0.863 against
# 0.899), a dozen takes being too few to choose by.
PENALTY = 64.0
NOISE = 1.0  # spreads of the win-loss count beyond which a voice is worse than noise explains
MIN_SECONDS = 1.0  # a take shorter than this is no whole line
MIN_TAKES = 2  # per emotion: leave-one-take-out needs another take of it
NEWTON_STEPS = 30
BIAS_PENALTY = 0.01  # of the penalty: a speaker's own leaning to an emotion is worth learning
FLOOR = 1e-6  # probabilities below this count as this (logs stay finite)

Array = npt.NDArray[np.float32]
Floats = npt.NDArray[np.float64]
Stats = npt.NDArray[np.floating[Any]]


class ProfileError(Exception):
    """A personal voice that cannot be read, was changed, or belongs to another model."""


@dataclass(frozen=True)
class Take:
    """One recording of an acted emotion, as the general model saw its speech windows."""

    label: str
    embedding: Array  # (2 width,) encoder statistics, mean over the speech windows
    probabilities: Array  # (labels,) the general model's, mean over the speech windows

    @classmethod
    def heard(cls, label: str, analysis: Any) -> Take:
        """From a recording's analysis (app.offline, cold, with its embeddings kept)."""
        speech = np.asarray(analysis.speech, bool)
        if not speech.any():
            raise ProfileError("no speech found in it")
        return cls(
            label,
            np.asarray(analysis.embeddings, np.float32)[speech].mean(axis=0),
            np.asarray(analysis.probabilities, np.float32)[speech].mean(axis=0),
        )


@dataclass(frozen=True)
class Head:
    """What a personal voice needs to judge a window: the user's own mean and spread, the
    head's correction over the enrolled emotions. Emotions not enrolled keep the general
    head's probabilities."""

    labels: tuple[str, ...]
    classes: tuple[int, ...]  # the enrolled emotions, as indices into labels
    mean: Array  # (2 width,) the user's takes' mean embedding
    scale: Array  # (2 width,) their spread
    weights: Array  # (2 width + labels, classes)
    bias: Array  # (classes,)

    def judge(self, embedding: npt.ArrayLike, probabilities: npt.ArrayLike) -> Array:
        """``(..., 2 width)`` and the general model's ``(..., labels)`` -> personal
        probabilities ``(..., labels)``."""
        p = np.asarray(probabilities, np.float64)
        x = features(np.asarray(embedding, np.float64), p, self.mean, self.scale)
        logits = np.log(np.maximum(p[..., self.classes], FLOOR)) + x @ self.weights + self.bias
        return spread(p, logits, self.classes).astype(np.float32)


@dataclass(frozen=True)
class Teaching:
    """A fitted voice and what leave-one-take-out says of it."""

    head: Head
    counts: dict[str, int]  # takes per enrolled emotion
    before: float  # UA of the general model on the takes
    after: float  # UA of the personal one, each take judged by a voice fitted without it
    confusion_before: npt.NDArray[np.int64]  # (classes, classes): rows true, columns judged
    confusion_after: npt.NDArray[np.int64]
    wins: int  # takes the personal voice gets right and the general model wrong
    losses: int  # the other way round

    @property
    def worse(self) -> bool:
        """Worse than the general model beyond noise: more takes lost than won by over the
        spread of that count were the two equally good (the square root of the takes they
        judge differently). Not stricter: with two takes an emotion, leaving one out leaves
        one, so the estimate is pessimistic (rules asking for a clear gain refused most voices
        that were better on new sentences, personal.md); not looser: twice the spread kept a
        voice that lost all three of its takes."""
        return self.losses - self.wins > NOISE * np.sqrt(self.wins + self.losses)

    def verdict(self) -> str:
        """In plain words, for the command line and the wizard."""
        told = f"right on {self.before:.0%} of your takes before, {self.after:.0%} after"
        if self.worse:
            return (
                f"Not kept: {told}, worse than the general model. The takes may be too few "
                "or too alike: act each emotion more distinctly, or record more takes."
            )
        if self.after > self.before:
            return f"Your voice helps: {told} (each take judged without it)."
        return (
            f"Kept: {told} (each take judged without it), no worse than the general model; "
            "more takes would show how much it helps."
        )


def features(embedding: Floats, probabilities: Floats, mean: Stats, scale: Stats) -> Floats:
    """The head's input: encoder statistics standardised by the user's own takes, and the
    general model's log-probabilities."""
    own = np.asarray((embedding - mean) / scale, np.float64)
    return np.concatenate([own, np.log(np.maximum(probabilities, FLOOR))], axis=-1)


def spread(probabilities: Floats, logits: Floats, classes: Sequence[int]) -> Floats:
    """Probabilities over every label from the head's logits over ``classes``: the general
    head's mass of the enrolled emotions shared out by the logits, the others' kept."""
    p = np.maximum(probabilities, FLOOR)
    idx = list(classes)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    out = p / p.sum(axis=-1, keepdims=True)
    out[..., idx] = e / e.sum(axis=-1, keepdims=True) * out[..., idx].sum(axis=-1, keepdims=True)
    return out


def logistic(x: Floats, y: npt.NDArray[np.intp], offset: Floats, penalty: float) -> Floats:
    """Multinomial logistic regression by Newton's method: ``(features + 1, classes)`` weights
    (the last row the bias, penalised :data:`BIAS_PENALTY` as much) added to ``offset``, the
    general head's logits, minimising the takes' summed cross-entropy plus ``penalty / 2`` times
    the squared weights. ``x`` is a few dozen rows, so it is fitted in the
    span of its rows (where an L2 solution lies) and mapped back."""
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    keep = s > s.max(initial=0.0) * 1e-9
    z = np.hstack([u[:, keep] * s[keep], np.ones((len(x), 1))])  # (n, rank + 1)
    r, classes = z.shape[1], offset.shape[1]
    ridge = np.full(r, float(penalty))
    ridge[-1] = BIAS_PENALTY * penalty
    onehot = np.eye(classes)[y]
    w = np.zeros((r, classes))

    def loss(w: Floats) -> tuple[float, Floats]:
        logits = offset + z @ w
        logits -= logits.max(axis=1, keepdims=True)
        lse = np.log(np.exp(logits).sum(axis=1))
        p = np.exp(logits - lse[:, None])
        value = float((lse - (logits * onehot).sum(axis=1)).sum() + 0.5 * (ridge @ (w * w)).sum())
        return value, p

    value, p = loss(w)
    for _ in range(NEWTON_STEPS):
        grad = z.T @ (p - onehot) + ridge[:, None] * w
        # Hessian over (feature, class) pairs: sum over takes of (diag p - p p^T) ⊗ z z^T
        cov = np.einsum("nc,cd->ncd", p, np.eye(classes)) - p[:, :, None] * p[:, None, :]
        outer = (z[:, :, None] * z[:, None, :]).reshape(len(z), r * r)
        hess = (outer.T @ cov.reshape(len(z), -1)).reshape(r, r, classes, classes)
        hess = hess.transpose(0, 2, 1, 3).reshape(r * classes, r * classes)
        hess += np.diag(np.repeat(ridge, classes))
        step = np.linalg.solve(hess, grad.reshape(-1)).reshape(r, classes)
        for _halving in range(20):
            trial, (new, q) = w - step, loss(w - step)
            if new <= value:
                break
            step = step / 2
        else:
            break
        done = value - new < 1e-9 * max(1.0, abs(value))
        w, value, p = trial, new, q
        if done:
            break
    back = np.zeros((x.shape[1] + 1, classes))
    back[:-1] = vt[keep].T @ w[:-1]
    back[-1] = w[-1]
    return back


def fit(takes: Sequence[Take], labels: Sequence[str], penalty: float = PENALTY) -> Head:
    """A head on these takes: the general model's logits plus a penalised correction, so with
    few takes it stays near the general model; a speaker's own leaning to an emotion (the
    bias, penalised lightly) is learnt from a few takes."""
    classes = tuple(i for i, name in enumerate(labels) if any(t.label == name for t in takes))
    emb = np.array([t.embedding for t in takes], np.float64)
    mean = emb.mean(axis=0)
    scale = np.full(emb.shape[1], max(float((emb - mean).std()), 1e-6))
    probs = np.array([t.probabilities for t in takes], np.float64)
    x = features(emb, probs, mean, scale)
    y = np.array([classes.index(labels.index(t.label)) for t in takes], np.intp)
    w = logistic(x, y, np.log(np.maximum(probs[:, classes], FLOOR)), penalty)
    return Head(
        tuple(labels),
        classes,
        mean.astype(np.float32),
        scale.astype(np.float32),
        w[:-1].astype(np.float32),
        w[-1].astype(np.float32),
    )


def recall(truth: Sequence[int], judged: Sequence[int], classes: Sequence[int]) -> float:
    """Unweighted average recall over ``classes`` (the emotions present)."""
    t, j = np.asarray(truth), np.asarray(judged)
    return float(np.mean([(j[t == c] == c).mean() for c in classes]))


def confusion(
    truth: Sequence[int], judged: Sequence[int], classes: Sequence[int]
) -> npt.NDArray[np.int64]:
    """Counts over the enrolled emotions; a take judged as one not enrolled counts nowhere."""
    out = np.zeros((len(classes), len(classes)), np.int64)
    for t, j in zip(truth, judged, strict=True):
        if j in classes:
            out[list(classes).index(t), list(classes).index(j)] += 1
    return out


def teach(takes: Sequence[Take], labels: Sequence[str]) -> Teaching:
    """Fit a voice on all the takes, and judge it by leave-one-take-out: each take by a voice
    fitted without it (its mean and spread too)."""
    labels = list(labels)
    truth = [labels.index(t.label) for t in takes]
    classes = sorted(set(truth))
    cold = [int(np.argmax(t.probabilities)) for t in takes]
    personal = []
    for i, take in enumerate(takes):
        rest = [t for j, t in enumerate(takes) if j != i]
        personal.append(int(np.argmax(fit(rest, labels).judge(take.embedding, take.probabilities))))
    wins = sum(p == y != c for p, c, y in zip(personal, cold, truth, strict=True))
    losses = sum(c == y != p for p, c, y in zip(personal, cold, truth, strict=True))
    return Teaching(
        fit(takes, labels),
        {labels[c]: truth.count(c) for c in classes},
        recall(truth, cold, classes),
        recall(truth, personal, classes),
        confusion(truth, cold, classes),
        confusion(truth, personal, classes),
        wins,
        losses,
    )


def check_takes(counts: dict[str, int]) -> str | None:
    """Why these takes cannot teach a voice, or None: at least two emotions, each with
    :data:`MIN_TAKES` takes (leave-one-take-out judges each take by the others of its kind)."""
    few = [f"{name} ({n})" for name, n in counts.items() if n < MIN_TAKES]
    if few:
        return f"each emotion needs at least {MIN_TAKES} takes, and these have fewer: " + ", ".join(
            few
        )
    if len(counts) < 2:
        return "a voice needs takes of at least two emotions"
    return None


def refusal(analysis: Any) -> str | None:
    """Why a recorded take (its cold analysis, app.offline) cannot be used, in words that say
    what to do; None if it can."""
    quality = analysis.file_quality() if analysis.quality else {"flags": []}
    if "clipping" in quality["flags"]:
        return "The sound clipped (too loud): move back from the microphone or turn its level down."
    if not np.asarray(analysis.speech, bool).any():
        if "too_quiet" in quality["flags"]:
            return "Too quiet: no speech was heard. Speak up or come closer to the microphone."
        return "No speech was heard: say the line once the take has started."
    if "too_quiet" in quality["flags"]:
        return "Too quiet: speak up or come closer to the microphone."
    if analysis.duration < MIN_SECONDS:
        return f"Too short: say the whole line (at least {MIN_SECONDS:g} s)."
    return None


def take_files(folder: Path, labels: Sequence[str]) -> dict[str, list[Path]]:
    """The takes in ``folder``'s subfolders, one per emotion named by the model's labels, in
    the labels' order; hidden files and folders are passed over."""
    if not Path(folder).is_dir():
        raise ProfileError(f"{folder} is not a folder")
    found: dict[str, list[Path]] = {}
    for sub in sorted(p for p in Path(folder).iterdir() if p.is_dir() and p.name[0] != "."):
        if sub.name not in labels:
            raise ProfileError(
                f"{sub}: not an emotion this model knows; name the folders by its labels: "
                + ", ".join(labels)
            )
        found[sub.name] = sorted(p for p in sub.iterdir() if p.is_file() and p.name[0] != ".")
    if not found:
        raise ProfileError(
            f"{folder} has no emotion folders: put the takes in one folder per emotion "
            f"({Path(folder) / labels[0]}, …)"
        )
    return {label: found[label] for label in labels if label in found}


def model_id(bundle: Bundle) -> str:
    """The checksum of the model's files, which a voice is tied to: another model's encoder
    statistics and probabilities mean something else."""
    digest = hashlib.sha256()
    for path in (bundle.tflite_path, bundle.encoder_path):
        if path is not None:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _content_checksum(data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


def save(path: Path, name: str, teaching: Teaching, model: str) -> None:
    """A named voice as JSON, with what it holds checksummed (written beside, then renamed)."""
    h = teaching.head
    data: dict[str, Any] = {
        "kind": KIND,
        "format": FORMAT,
        "name": name,
        "model": model,
        "labels": list(h.labels),
        "classes": [h.labels[c] for c in h.classes],
        "mean": h.mean.tolist(),
        "scale": h.scale.tolist(),
        "weights": h.weights.tolist(),
        "bias": h.bias.tolist(),
        "penalty": PENALTY,
        "takes": teaching.counts,
        "ua": {"before": round(teaching.before, 4), "after": round(teaching.after, 4)},
    }
    data["checksum"] = _content_checksum(data)
    atomic.write(path, json.dumps(data), sync=True)


def renamed(path: Path, name: str) -> str:
    """A saved voice's JSON under another name, its checksum renewed; refused like
    :func:`load` if it was changed since it was saved."""
    data = _read(path)
    data["name"] = name
    data["checksum"] = _content_checksum(data)
    return json.dumps(data)


def _read(path: Path) -> dict[str, Any]:
    """A saved voice's content, checked to be one and unchanged since it was saved."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ProfileError(f"Cannot read the voice {path}: {e}") from e
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ProfileError(f"{path} is not a personal voice of Emotion Meter.")
    if data.get("format") != FORMAT:
        raise ProfileError(f"{path} is a voice of another version (format {data.get('format')}).")
    if data.get("checksum") != _content_checksum(data):
        raise ProfileError(
            f"{path} was changed after it was saved (its checksum does not match): "
            "teach the voice again."
        )
    return data


@dataclass(frozen=True)
class Voice:
    """A loaded personal voice: its name and head."""

    name: str
    head: Head
    ua: dict[str, float]

    def judge(self, embedding: npt.ArrayLike, probabilities: npt.ArrayLike) -> Array:
        return self.head.judge(embedding, probabilities)


def is_personal(path: Path) -> bool:
    """Whether a saved voice file is a taught one (rather than adaptation statistics)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f'"kind": "{KIND}"' in f.read(200)
    except (OSError, UnicodeDecodeError):
        return False


def load_for(path: Path, bundle: Bundle) -> Voice:
    """A saved voice for this bundle's model (see :func:`load`)."""
    if bundle.encoder is None:
        raise ProfileError("This model has no encoder, and personal voices need one.")
    width = 2 * bundle.model_input_shape[2]  # mean and spread of each encoder channel
    return load(path, model_id(bundle), bundle.labels, width)


def load(path: Path, model: str, labels: Sequence[str], width: int) -> Voice:
    """A saved voice, refused with the reason if it is not one, was changed since it was
    saved, or was taught to another model (``model``: :func:`model_id` of this one)."""
    data = _read(path)
    if data.get("model") != model or list(data.get("labels", [])) != list(labels):
        raise ProfileError(
            f"{path} was taught to another model; this one judges differently: "
            "teach the voice again with this model."
        )
    try:
        classes = tuple(list(labels).index(c) for c in data["classes"])
        arrays = [np.asarray(data[k], np.float32) for k in ("mean", "scale", "weights", "bias")]
        head = Head(tuple(labels), classes, *arrays)
        ua = {k: float(v) for k, v in data["ua"].items()}
    except (KeyError, ValueError, TypeError) as e:
        raise ProfileError(f"Cannot read the voice {path}: {e}") from e
    mean, scale, weights, bias = arrays
    if (
        mean.shape != (width,)
        or scale.shape != (width,)
        or weights.shape != (width + len(labels), len(classes))
        or bias.shape != (len(classes),)
        or not all(np.isfinite(a).all() for a in arrays)
    ):
        raise ProfileError(f"{path} holds numbers of the wrong shape for this model.")
    return Voice(str(data.get("name") or Path(path).stem), head, ua)
