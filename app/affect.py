"""Where a voice sits on the unpleasant–pleasant (valence) and calm–excited (arousal) axes.

Derived, not measured: the model judges emotion categories, and each category is placed where
people rate its word. Ratings: Warriner, Kuperman & Brysbaert (2013), "Norms of valence, arousal,
and dominance for 13,915 English lemmas", Behavior Research Methods 45:1191–1207 (means on 1–9
scales; the label "disgust" takes the adjective "disgusted", as the other labels are adjectives).
A window's position is the probability-weighted mean of its emotions' positions, on -1 .. 1.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

RATINGS = {  # word: (valence, arousal), Warriner et al. 2013 V.Mean.Sum, A.Mean.Sum
    "neutral": (5.5, 3.45),
    "calm": (6.89, 1.67),
    "happy": (8.47, 6.05),
    "sad": (2.1, 3.49),
    "angry": (2.53, 6.2),
    "fearful": (2.66, 5.45),
    "disgust": (2.68, 4.89),  # "disgusted"
    "surprised": (6.57, 5.95),
}
SOURCE = "Warriner, Kuperman & Brysbaert (2013) word ratings"
NOTE = f"valence and arousal derived from the emotions ({SOURCE})"  # beside every output


def coordinates(labels: tuple[str, ...]) -> npt.NDArray[np.float64]:
    """(labels, 2) valence and arousal on -1 .. 1; NaN for a label with no rating."""
    return np.array([RATINGS.get(label, (np.nan, np.nan)) for label in labels]) / 4.0 - 1.25


def position(probabilities: npt.ArrayLike, labels: tuple[str, ...]) -> npt.NDArray[np.float64]:
    """Valence and arousal of each row of ``probabilities`` (``(n, labels)`` or one row), the
    rated labels' probabilities renormalised; NaN for silence or when no label is rated."""
    p = np.atleast_2d(np.asarray(probabilities, np.float64))
    xy = coordinates(labels)
    rated = ~np.isnan(xy[:, 0])
    w = p[:, rated]
    total = w.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (w @ xy[rated]) / total
    out[~(total[:, 0] > 0)] = np.nan
    return out
