"""Timelines to CSV and JSON, written beside the target and renamed over it, so that a crash or a
full disk never leaves a half-written export behind. No Qt here."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from app import affect, atomic
from app.analysis import affect_fields, finite
from app.analyzer import LiveResult
from app.prosody import PROSODY_FIELDS


class ExportError(OSError):
    """An export that could not be written; nothing was left behind. The message says why."""


def write_problem(path: Path) -> str | None:
    """Why no file can be created at ``path`` (its folder is missing or is a file), else None."""
    for folder in (path.parent, *path.parent.parents):
        if folder.is_dir():
            break
        if folder.exists():
            return f"{folder} is a file, not a folder."
    if not path.parent.is_dir():
        return f"the folder {path.parent} does not exist."
    return None


def write_atomic(path: Path, data: bytes, overwrite: bool = False) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place.

    An existing ``path`` is refused unless ``overwrite`` (the UI asks first); a failure leaves
    neither a half-written target nor the temporary file, and raises :class:`ExportError`.
    """
    if path.exists() and not overwrite:
        raise ExportError(f"{path} already exists; choose another name or allow replacing it.")
    folder_problem = write_problem(path)
    if folder_problem:
        raise ExportError(f"Cannot save {path.name}: {folder_problem}")
    try:
        atomic.write(path, data, sync=True)
    except OSError as e:
        raise ExportError(f"Could not save {path.name}: {e.strerror or e}.") from e


def live_document(
    results: list[LiveResult],
    labels: tuple[str, ...],
    window_seconds: float,
    hop_seconds: float,
    source: str,
) -> dict[str, Any]:
    """A live session in the same shape as a file's analysis, plus loudness, latency and how far
    each result was adapted to the speaker's voice."""
    rows = np.full((len(results), len(labels)), np.nan)  # NaN: silence
    for row, r in zip(rows, results, strict=True):
        if r.probabilities is not None:
            row[:] = r.probabilities
    places = affect.position(rows, labels).reshape(-1, 2)
    return finite({
        "source": source,
        "labels": list(labels),
        "window_seconds": window_seconds,
        "hop_seconds": hop_seconds,
        "windows": [
            {
                "start": round(max(0.0, r.time - window_seconds), 3),
                "end": round(r.time, 3),
                "speech": r.speech,
                "emotion": labels[int(r.probabilities.argmax())]
                if r.probabilities is not None
                else None,
                "probabilities": None
                if r.probabilities is None
                else [round(float(p), 4) for p in r.probabilities],
                "uncertain": r.uncertain,
                "quality": r.quality.to_dict() if r.quality else None,
                "prosody": r.prosody.to_dict() if r.prosody else None,
                **affect_fields(xy),
                "level_db": round(r.level_db, 1),
                "latency_ms": round(r.latency * 1000, 2),
                "adaptation": round(r.adaptation, 4),  # 0: cold, else adapted to the voice
            }
            for r, xy in zip(results, places, strict=True)
        ],
        "affect_source": affect.NOTE,
    })  # fmt: skip


QUALITY = ("level_db", "snr_db", "clipping", "bandwidth_hz")
AFFECT = ("valence", "arousal")


def csv_table(document: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """A timeline's CSV header and one row per window: times, speech, emotion, uncertain, every
    probability, the input quality and its flags (space-separated), the voice's prosody and the
    derived valence and arousal; empty cells where a value is not known."""
    labels = document["labels"]
    header = ["start", "end", "speech", "emotion", "uncertain", *labels, *QUALITY, "flags",
              *PROSODY_FIELDS, *AFFECT]  # fmt: skip
    rows = []
    for w in document["windows"]:
        q, v = w.get("quality") or {}, w.get("prosody") or {}
        rows.append([
            w["start"], w["end"], int(w["speech"]), w["emotion"] or "",
            int(w.get("uncertain", False)), *(w["probabilities"] or [""] * len(labels)),
            *(q.get(k, "") for k in QUALITY), " ".join(q.get("flags", [])),
            *("" if v.get(k) is None else v[k] for k in PROSODY_FIELDS),
            *("" if w.get(k) is None else w[k] for k in AFFECT),
        ])  # fmt: skip
    return header, rows


def to_csv(document: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header, rows = csv_table(document)
    writer.writerows([header, *rows])
    return out.getvalue()


def save_timeline(path: Path, document: dict[str, Any], overwrite: bool = False) -> None:
    """CSV for a ``.csv`` path, JSON otherwise; see :func:`write_atomic`."""
    if path.suffix.lower() == ".csv":
        text = to_csv(document)
    else:
        text = json.dumps(document, indent=1, allow_nan=False) + "\n"
    write_atomic(path, text.encode("utf-8"), overwrite)
