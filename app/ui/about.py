"""What the About box says of the loaded model: its emotions, what it is built on and under which
licence, what it was trained on and what it says of its own limits."""

from __future__ import annotations

from app.bundle import Bundle
from app.ui import theme


def text(b: Bundle) -> str:
    """What the loaded model is, what it is built on and under which licence."""
    trained = b.meta.get("training", {})
    built_on = (
        f"Built on: {b.encoder.name}, its first {b.encoder.layers} layers "
        f"(licence: {b.encoder.licence})"
        if b.encoder
        else "Built on: a network trained from scratch (no pretrained encoder)"
    )
    return (
        f"Emotions: {', '.join(theme.label_text(x) for x in b.labels)}\n"
        f"Window {b.window_seconds:g} s, hop {b.hop_seconds:g} s\n"
        f"{built_on}\n"
        f"Trained on: {', '.join(trained.get('corpora', [])) or 'unknown'}\n"
        f"{judging_text(b)}\n"
        f"Model folder: {b.path}"
    )


def judging_text(b: Bundle) -> str:
    """What the model says of its own limits, or that it says nothing (an older bundle)."""
    calibrated = (
        f"Probabilities calibrated (temperature {b.temperature:.2f})"
        if "calibration" in b.meta
        else "Note: this model has no calibration: its probabilities may be overconfident"
    )
    limits = (
        "input quality is checked against its measured limits"
        if not b.quality.empty
        else "it has no measured quality limits, so poor input is not flagged"
    )
    return f"{calibrated}; {limits}."
