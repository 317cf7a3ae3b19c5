"""What a measurement returns: figures with their spread, their reference and their target.

Plain dataclasses that survive a JSON round trip, because most measurements run in a fresh
process (so that one measurement's imports and memory never colour the next one's figures).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

STATS = ("median", "p95", "ratio")


@dataclass(frozen=True)
class Summary:
    """Distribution of repeated runs (or of many windows) of one figure."""

    n: int
    median: float
    p95: float
    q1: float
    q3: float
    lo: float
    hi: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Summary | None:
        """The summary of finite ``values``; None when there are none."""
        v = np.asarray([x for x in values if math.isfinite(x)], np.float64)
        if not len(v):
            return None
        q1, med, q3, p95 = np.percentile(v, [25, 50, 75, 95])
        return cls(
            len(v), float(med), float(p95), float(q1), float(q3), float(v.min()), float(v.max())
        )

    @classmethod
    def single(cls, value: float) -> Summary:
        return cls(1, value, value, value, value, value, value)


@dataclass(frozen=True)
class Target:
    """The issue's goal for a figure: ``stat op limit`` (stat: median, p95 or ratio)."""

    op: str  # "<=" or ">="
    limit: float
    stat: str = "median"

    def __post_init__(self) -> None:
        if self.op not in ("<=", ">=") or self.stat not in STATS:
            raise ValueError(f"bad target {self}")

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return value <= self.limit if self.op == "<=" else value >= self.limit

    def text(self, unit: str) -> str:
        op = "≤" if self.op == "<=" else "≥"
        if self.stat == "ratio":
            return f"ratio {op} {self.limit:g}×"
        return f"{self.stat} {op} {self.limit:g} {unit}".rstrip()


@dataclass
class Figure:
    """One measured quantity next to the reference it is judged against, measured in the same run.

    ``summary`` None means not measured; ``note`` then says why (e.g. "n/a (needs app/ui)").
    """

    name: str
    unit: str
    summary: Summary | None
    reference: str = ""  # what it is compared with, in words
    reference_value: float | None = None  # in the same unit; ratio = median / reference_value
    target: Target | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.summary is None or not self.reference_value:
            return None
        return self.summary.median / self.reference_value

    @property
    def judged(self) -> float | None:
        """The value the target is checked on."""
        if self.target is None or self.summary is None:
            return None
        if self.target.stat == "ratio":
            return self.ratio
        return float(getattr(self.summary, self.target.stat))

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.judged)


@dataclass
class Section:
    """The figures of one measurement, its notes, and why it was skipped (if it was)."""

    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str = ""
    seconds: float = 0.0  # wall time the measurement took
    size: float = 0.0  # the size parameter it ran with

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def figure(self, name: str) -> Figure:
        for f in self.figures:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Section:
        figures = [
            Figure(
                **{
                    **f,
                    "summary": Summary(**f["summary"]) if f["summary"] else None,
                    "target": Target(**f["target"]) if f["target"] else None,
                }
            )
            for f in d["figures"]
        ]
        return cls(**{**d, "figures": figures})


def skipped(name: str, title: str, why: str) -> Section:
    """A section that could not be measured here, saying why instead of faking figures."""
    return Section(name, title, skipped=why)
