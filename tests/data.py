"""Where the tests find real speech: ``../shared/datasets`` (or ``$EMOTION_METER_DATASETS``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def datasets() -> Path:
    path = Path(os.environ.get("EMOTION_METER_DATASETS") or ROOT.parent / "shared" / "datasets")
    if not path.is_dir():
        pytest.skip(f"the corpora are not at {path}")
    return path


def some_clips(corpus: str, n: int) -> list[Path]:
    """The first ``n`` clips of a corpus, in a stable order."""
    clips = sorted(p for p in (datasets() / corpus).rglob("*") if p.suffix in (".flac", ".wav"))
    return clips[:n]
