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

from app import atomic
from app.adapt import Moments, Norm, Population, blend, clip_moments, pooled
from app.audio.files import AudioFileError, load
from app.features import FeatureSettings, Pipeline, Windowing, silence_frame
from model_training import channels
from model_training.augment import AugmentSettings, render
from model_training.corpora import Clip

CACHE_ENV = "EMOTION_METER_CACHE"
SEED = 1234

Array = npt.NDArray[np.float32]


class CacheError(Exception):
    """The feature cache cannot be written (a full disk, say)."""


@dataclass
class Features:
    """Per clip: the clean features first, then its augmented variants (training clips only),
    and the clean rendering's frame levels (dB), which tell speech from silence."""

    clips: list[Clip]
    variants: list[list[Array]]
    skipped: list[tuple[Path, str]]
    levels: list[Array]

    @property
    def clean(self) -> list[Array]:
        return [v[0] for v in self.variants]

    def moments(self, windowing: Windowing) -> list[Moments]:
        """Each clip's speech-frame statistics (the unit of speaker adaptation), found window by
        window as the app finds them."""
        pairs = zip(self.clean, self.levels, strict=True)
        return [clip_moments(x, lv, windowing) for x, lv in pairs]


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
    condition: str | None = None,
    sounds: str = "",
) -> Features:
    """Features of every clip (and ``augment.variants`` renderings when given), in clip order;
    with ``condition`` (a name in :data:`channels.BY_NAME`), of the clip heard through that
    channel, with the evaluation recordings at ``sounds`` (default: their shared folder).

    ``workers`` > 1 computes in that many processes; 1 computes here.
    """
    from tqdm import tqdm

    jobs = [(c, settings, augment, cache_dir, condition, sounds) for c in clips]
    kept: list[Clip] = []
    variants: list[list[Array]] = []
    levels: list[Array] = []
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
                variants.append(result[:-1])
                levels.append(result[-1])
    return Features(kept, variants, skipped, levels)


def _clip_variants(
    job: tuple[Clip, FeatureSettings, AugmentSettings | None, Path, str | None, str],
) -> list[Array] | str:
    """Worker: the cached or freshly computed variants of one clip, then its frame levels, or
    why it is unusable."""
    clip, settings, augment, cache_dir, condition, sounds = job
    count = 1 + (augment.variants if augment else 0)
    stat = clip.path.stat()
    base = json.dumps(
        [settings.to_dict(), str(clip.path.resolve()), stat.st_size, stat.st_mtime_ns]
        + ([condition, sounds] if condition else [])
    )
    paths = [
        cache_dir / _key(base if i == 0 else f"{base}{augment.audio_key if augment else ''}{i}")
        for i in range(count)
    ] + [cache_dir / _key(f"{base}levels")]
    if all(p.exists() for p in paths):
        return [np.load(p) for p in paths]
    pipeline = Pipeline(settings)
    try:
        audio = load(clip.path, settings.sample_rate)
    except AudioFileError as e:
        return str(e)
    if len(audio) < settings.n_fft or not np.abs(audio).max() > 0:
        return "too short or silent"
    if condition:
        audio = channels.heard(audio, condition, clip.path.name, sounds)
    rng = np.random.default_rng(
        int(hashlib.sha1(f"{SEED}{clip.path.name}".encode()).hexdigest(), 16)
    )
    out = []
    for i, path in enumerate(paths):
        if i == count:
            x = pipeline.level_db(audio)
        else:
            y = audio if i == 0 else render(audio, settings.sample_rate, augment, rng)  # type: ignore[arg-type]
            x = pipeline.features(y)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic.replacing(path) as f:
                np.save(f, x)
        except OSError as e:
            return f"cache: cannot write the feature cache at {cache_dir} ({e.strerror})"
        out.append(x)
    return out


def _key(text: str) -> str:
    digest = hashlib.sha1(text.encode()).hexdigest()
    return f"{digest[:2]}/{digest}.npy"


def statistics(features: Sequence[Array], moments: Sequence[Moments]) -> Population:
    """The training clips' statistics: mean and std of every feature over all their frames (the
    cold normalisation) and the mean over their speech frames (what speakers depart from)."""
    frames = np.concatenate(features)
    mean, std = frames.mean(axis=0), frames.std(axis=0) + 1e-6
    speech = pooled(list(moments)).mean
    return Population(mean.astype(np.float32), std.astype(np.float32), speech.astype(np.float32))


class Voices:
    """Each clip's speaker and speech statistics, for the normalisations the app would use:
    cold (global), leave-one-out (the speaker's other clips, as in the report), and sampled (a
    random number of the speaker's other clips: every stage of adapting, for training)."""

    def __init__(
        self, clips: Sequence[Clip], moments: Sequence[Moments], population: Population,
        prior: float,
    ) -> None:  # fmt: skip
        self.population, self.cold = population, population.cold
        self.prior = prior
        self.speakers = [c.speaker for c in clips]
        self.moments = list(moments)
        self.counts = np.array([m.count for m in moments], np.int64)
        self.totals = np.stack([m.total for m in moments]) if moments else np.zeros((0, 0))
        names = np.asarray(self.speakers)
        self.groups = {s: np.flatnonzero(names == s) for s in set(self.speakers)}

    def _of(self, picks: npt.NDArray[np.int64]) -> Norm:
        m = Moments(int(self.counts[picks].sum()), self.totals[picks].sum(axis=0))
        return blend(self.population, m, self.prior)

    def left_out(self) -> list[Norm]:
        """Per clip, its speaker's statistics from their other clips only."""
        return [self._of(self.groups[s][self.groups[s] != i]) for i, s in enumerate(self.speakers)]

    def sampled(self, i: int, rng: np.random.Generator) -> Norm:
        """Clip ``i`` normalised by a log-uniform number of its speaker's other clips."""
        others = self.groups[self.speakers[i]]
        others = others[others != i]
        if not len(others):
            return self.cold
        k = int(np.ceil(len(others) ** rng.random()))
        return self._of(rng.choice(others, k, replace=False))


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
