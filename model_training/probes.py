"""Linear probes on the bundle's encoder statistics: which layers and which normalisation carry
emotion to speakers and corpora the probe never saw.

A logistic regression on each clip's mean (over its windows) of every window's mean and standard
deviation of a layer's frames: seconds per variant where training a head takes many minutes, so
the leads are found here and only the best are trained. Scored as the report scores: UA over the
test corpus' own emotions (closed set), by speaker (the bundle's split) and with a corpus left
out. Run: ``python -m model_training.probes`` (every clip's six layers encoded once, cached).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from model_training import corpora, data, splits
from model_training import encoder_run as er
from model_training.train import TrainSettings

LAYERS = 6  # all of Whisper-base's
C = 0.1  # inverse L2 strength (the layer choice's probe)
RANDOM_CLIPS = 8  # a speaker's statistics from this many of their clips: what a user might give

Array = npt.NDArray[np.float64]


def table(x: Array, clips: list[corpora.Clip], labels: tuple[str, ...]) -> list[str]:
    """One line per variant: closed-set UA by speaker split and per corpus left out."""
    y = np.array([labels.index(c.label) for c in clips])
    corpus = np.array([c.corpus for c in clips])
    speaker = np.array([c.speaker for c in clips])
    split = splits.by_speaker(clips)
    test = np.isin(speaker, split.speakers("test"))
    setups = {"speakers": (~test, test), **{
        f"without {c}": (corpus != c, corpus == c) for c in ("emodb", "ravdess")}}  # fmt: skip

    def by(groups: np.ndarray, f: Array, mean_only: bool = False) -> Array:
        out = f.copy()
        for g in np.unique(groups):
            rows = groups == g
            out[rows] = f[rows] - f[rows].mean(axis=0)
            if not mean_only:
                out[rows] /= f[rows].std(axis=0) + 1e-3
        return out

    def few(f: Array) -> Array:
        rng, out = np.random.default_rng(0), f.copy()
        for s in np.unique(speaker):
            rows = np.flatnonzero(speaker == s)
            pick = rng.choice(rows, min(RANDOM_CLIPS, len(rows)), replace=False)
            out[rows] = f[rows] - f[pick].mean(axis=0)
        return out

    def layer(k: int) -> Array:
        return x[:, k]

    variants: dict[str, Callable[[], Array]] = {
        **{f"layer {k + 1}": functools.partial(layer, k) for k in range(x.shape[1])},
        "layers 1-6 side by side": lambda: x.reshape(len(x), -1),
        "layer 2, spread only (per-clip normalisation)": lambda: x[:, 1, x.shape[2] // 2 :],
        "layer 2, each corpus standardised": lambda: by(corpus, x[:, 1]),
        "layer 2, each speaker standardised": lambda: by(speaker, x[:, 1]),
        "layer 2, each speaker's mean removed": lambda: by(speaker, x[:, 1], mean_only=True),
        f"layer 2, mean of {RANDOM_CLIPS} of the speaker's clips removed": lambda: few(x[:, 1]),
        "layer 4, each speaker's mean removed": lambda: by(speaker, x[:, 3], mean_only=True),
    }
    lines = ["| variant | " + " | ".join(setups) + " |", "|---|" + "---:|" * len(setups)]
    for name, make in variants.items():
        f = make()
        cells = [score(f, y, corpus, tr, te, labels) for tr, te in setups.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        print(lines[-1], file=sys.stderr, flush=True)
    return lines


def score(
    f: Array, y: np.ndarray, corpus: np.ndarray, tr: np.ndarray, te: np.ndarray,
    labels: tuple[str, ...],
) -> str:  # fmt: skip
    """Closed-set UA of each test corpus, the probe trained with corpus-balanced weights."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    draw, _ = data.balance(corpus[tr].tolist(), y[tr], len(labels))
    scale = StandardScaler().fit(f[tr])
    probe = LogisticRegression(C=C, max_iter=3000).fit(
        scale.transform(f[tr]), y[tr], sample_weight=draw * len(draw)
    )
    probs = np.zeros((int(te.sum()), len(labels)))
    probs[:, probe.classes_] = probe.predict_proba(scale.transform(f[te]))
    out = []
    for c in sorted(set(corpus[te].tolist())):
        rows = corpus[te] == c
        own = sorted(set(y[te][rows].tolist()) & set(probe.classes_.tolist()))
        guess = np.array(own)[probs[rows][:, own].argmax(axis=1)]
        truth = y[te][rows]
        out.append(f"{c} {np.mean([np.mean(guess[truth == k] == k) for k in own]):.3f}")
    return ", ".join(out)


def main() -> int:
    labels = corpora.LABELS8
    scan = corpora.read_corpora(corpora.datasets_root(None), None, labels)
    cache = data.cache_root(None)
    settings = replace(TrainSettings(), hop_seconds=er.HOP_SECONDS, adapt=False)
    encoders = er.Encoders(settings)
    feats = er.features(scan.clips, None, cache, 2)
    pooled = er.encode(feats, encoders, LAYERS, None, cache, every_layer=True)
    x = np.stack([w.astype(np.float64).mean(axis=0) for w in pooled.clean])  # (clips, layers, 2w)
    print("\n".join(table(x, pooled.clips, labels)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
