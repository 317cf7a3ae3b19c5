"""Clip features, computed once per settings and cached on disk, and the training batches.

A clip's features are cached under a key of the feature settings, the augmentation settings, the
variant and the file itself, so a second run (or a changed model) recomputes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.audio.files import AudioFileError, load
from app.features import FeatureSettings, Pipeline, silence_frame
from model_training.augment import AugmentSettings, render
from model_training.corpora import Clip

CACHE_ENV = "EMOTION_METER_CACHE"
SEED = 1234

Array = npt.NDArray[np.float32]


class CacheError(Exception):
    """The feature cache cannot be written (a full disk, say)."""


@dataclass
class Features:
    """Per clip: the clean features first, then its augmented variants (training clips only)."""

    clips: list[Clip]
    variants: list[list[Array]]
    skipped: list[tuple[Path, str]]

    @property
    def clean(self) -> list[Array]:
        return [v[0] for v in self.variants]


def cache_root(path: str | os.PathLike[str] | None = None) -> Path:
    """``path``, else ``$EMOTION_METER_CACHE``, else ``.cache/`` in the project."""
    default = Path(__file__).resolve().parents[1] / ".cache"
    return Path(path or os.environ.get(CACHE_ENV) or default)


def extract(
    clips: Sequence[Clip],
    settings: FeatureSettings,
    augment: AugmentSettings | None,
    cache_dir: Path,
    workers: int = 2,
) -> Features:
    """Features of every clip (and ``augment.variants`` renderings when given), in clip order.

    ``workers`` > 1 computes in that many processes; 1 computes here.
    """
    from tqdm import tqdm

    jobs = [(c, settings, augment, cache_dir) for c in clips]
    kept: list[Clip] = []
    variants: list[list[Array]] = []
    skipped: list[tuple[Path, str]] = []
    with (
        ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        if workers > 1
        else (nullcontext()) as pool
    ):
        results = pool.map(_clip_variants, jobs, chunksize=8) if pool else map(_clip_variants, jobs)
        for clip, result in tqdm(
            zip(clips, results, strict=False), total=len(clips), desc="features", file=sys.stderr
        ):
            if isinstance(result, str):
                if result.startswith("cache: "):
                    raise CacheError(result.removeprefix("cache: "))
                skipped.append((clip.path, result))
            else:
                kept.append(clip)
                variants.append(result)
    return Features(kept, variants, skipped)


def _clip_variants(
    job: tuple[Clip, FeatureSettings, AugmentSettings | None, Path],
) -> list[Array] | str:
    """Worker: the cached or freshly computed variants of one clip, or why it is unusable."""
    clip, settings, augment, cache_dir = job
    count = 1 + (augment.variants if augment else 0)
    stat = clip.path.stat()
    base = json.dumps(
        [settings.to_dict(), str(clip.path.resolve()), stat.st_size, stat.st_mtime_ns]
    )
    paths = [
        cache_dir / _key(base if i == 0 else f"{base}{augment.audio_key if augment else ''}{i}")
        for i in range(count)
    ]
    if all(p.exists() for p in paths):
        return [np.load(p) for p in paths]
    pipeline = Pipeline(settings)
    try:
        audio = load(clip.path, settings.sample_rate)
    except AudioFileError as e:
        return str(e)
    if len(audio) < settings.n_fft or not np.abs(audio).max() > 0:
        return "too short or silent"
    rng = np.random.default_rng(
        int(hashlib.sha1(f"{SEED}{clip.path.name}".encode()).hexdigest(), 16)
    )
    out = []
    for i, path in enumerate(paths):
        y = (
            audio
            if i == 0 or augment is None
            else render(audio, settings.sample_rate, augment, rng)
        )
        x = pipeline.features(y)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, x)
            os.replace(tmp, path)
        except OSError as e:
            return f"cache: cannot write the feature cache at {cache_dir} ({e.strerror})"
        out.append(x)
    return out


def _key(text: str) -> str:
    digest = hashlib.sha1(text.encode()).hexdigest()
    return f"{digest[:2]}/{digest}.npy"


def statistics(features: Sequence[Array]) -> tuple[Array, Array]:
    """Mean and std of every feature over all frames of the given (training) clips."""
    frames = np.concatenate(features)
    return frames.mean(axis=0).astype(np.float32), (frames.std(axis=0) + 1e-6).astype(np.float32)


def balance(
    corpora: Sequence[str], labels: npt.NDArray[np.int64], n_labels: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Sampling probabilities per clip and loss weights per label for uneven training data.

    Each corpus gets the same share of the draws (TESS's two voices would otherwise dominate),
    each label within a corpus the same share of its corpus; the label weights then even out
    labels that fewer corpora have (calm is only in RAVDESS). Weights average 1 over the draws.
    """
    names = np.asarray(corpora)
    groups = {(c, int(x)) for c, x in zip(names, labels, strict=True)}
    per_corpus = {c: sum(1 for g in groups if g[0] == c) for c in set(names.tolist())}
    count = {g: int(np.sum((names == g[0]) & (labels == g[1]))) for g in groups}
    p = np.array([1.0 / (len(per_corpus) * per_corpus[c] * count[(c, int(x))])
                  for c, x in zip(names, labels, strict=True)])  # fmt: skip
    mass = np.bincount(labels, weights=p, minlength=n_labels)
    present = mass > 0
    weights = np.divide(1.0 / present.sum(), mass, out=np.zeros(n_labels), where=present)
    return p / p.sum(), weights


def silence(settings: FeatureSettings) -> Array:
    return silence_frame(Pipeline(settings))
