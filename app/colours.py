"""One colour per emotion, the same in the bars, the timeline, the valence–arousal view and
every screenshot.

By convention (anger red, sadness blue, happiness yellow, disgust green, fear purple, surprise
orange, calm teal, neutral grey), with lightness and saturation chosen so that every pair stays
apart for the colour-blind too: at least 20 CIELAB ΔE under simulated protanopia, deuteranopia
and tritanopia (``tests/test_colours.py``). Labels from other corpora take the fallback colours.
"""

from __future__ import annotations

BY_LABEL = {
    "neutral": "#e1e6f0",
    "calm": "#1fad9d",
    "happy": "#f5d33d",
    "sad": "#7486ba",
    "angry": "#d32854",
    "fearful": "#a153e8",
    "disgust": "#a1f0aa",
    "surprised": "#d89145",
}
FALLBACK = ("#5b9bd5", "#f5a03a", "#6cc24a", "#ef5b5b", "#b48ce0", "#4fc7bd", "#ff8fb1", "#c4956a")


def emotion_colour(labels: tuple[str, ...], index: int) -> str:
    """The colour (``#rrggbb``) of the ``index``-th of a bundle's ``labels``."""
    label = labels[index]
    if label in BY_LABEL:
        return BY_LABEL[label]
    unknown = [x for x in labels if x not in BY_LABEL]
    return FALLBACK[unknown.index(label) % len(FALLBACK)]
