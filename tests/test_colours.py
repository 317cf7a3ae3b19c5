"""The emotion colours stay apart for colour-blind eyes: every pair at least 20 CIELAB ΔE apart
under simulated protanopia, deuteranopia and tritanopia (Machado, Oliveira & Fernandes 2009,
full severity, applied in linear RGB), and readable on the dark background."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from app.colours import BY_LABEL, FALLBACK, emotion_colour
from app.ui import theme

MACHADO = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}  # fmt: skip
SRGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
     [0.0193339, 0.1191920, 0.9503041]]
)  # fmt: skip
WHITE = np.array([0.95047, 1.0, 1.08883])
MIN_DELTA_E = 20.0


def linear(hex_colour: str) -> np.ndarray:
    c = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def lab(rgb_linear: np.ndarray) -> np.ndarray:
    xyz = SRGB_TO_XYZ @ rgb_linear / WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def seen(hex_colour: str, vision: str) -> np.ndarray:
    rgb = linear(hex_colour)
    if vision != "typical":
        rgb = np.clip(np.array(MACHADO[vision]) @ rgb, 0.0, 1.0)
    return lab(rgb)


def test_simulation_keeps_greys_and_confuses_red_with_green() -> None:
    """The matrices as transcribed: greys are fixed points, and a deuteranope's red and green
    (the pair the simulation exists for) move far closer together."""
    for vision in MACHADO:
        np.testing.assert_allclose(seen("#808080", vision), seen("#808080", "typical"), atol=0.5)
    red, green = "#d62728", "#2ca02c"
    typical = np.linalg.norm(seen(red, "typical") - seen(green, "typical"))
    deutan = np.linalg.norm(seen(red, "deuteranopia") - seen(green, "deuteranopia"))
    assert deutan < typical / 2


@pytest.mark.parametrize("vision", ["typical", *MACHADO])
def test_emotion_colours_stay_apart(vision: str) -> None:
    colours = list(BY_LABEL.items())
    worst = min(
        (float(np.linalg.norm(seen(a, vision) - seen(b, vision))), na, nb)
        for (na, a), (nb, b) in itertools.combinations(colours, 2)
    )
    assert worst[0] >= MIN_DELTA_E, worst


def test_colours_read_on_the_dark_background() -> None:
    background = seen(theme.BACKGROUND, "typical")[0]
    for colour in [*BY_LABEL.values(), *FALLBACK]:
        assert seen(colour, "typical")[0] - background > 40, colour


def test_conventional_hues_and_unknown_labels() -> None:
    labels = ("angry", "sad", "boredom", "happy", "pleasant_surprise")
    assert emotion_colour(labels, 0) == BY_LABEL["angry"]
    r, g, b = linear(BY_LABEL["angry"])
    assert r > 2 * g and r > b  # anger is red, sadness blue, happiness yellow
    r, g, b = linear(BY_LABEL["sad"])
    assert b > r and b > g
    r, g, b = linear(BY_LABEL["happy"])
    assert r > 2 * b and g > 2 * b
    assert [emotion_colour(labels, i) for i in (2, 4)] == list(FALLBACK[:2])
