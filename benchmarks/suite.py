"""Every measurement, its size in full and quick runs, and whether it runs pinned to one core.

Functions are named as ``module:function`` strings and imported only in the process that runs
them, so no measurement pays for (or has its memory coloured by) another one's imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.results import Section


@dataclass(frozen=True)
class Benchmark:
    name: str
    target: str  # "module:function", the function taking the size
    full: float
    quick: float
    unit: str  # what the size counts
    pinned: bool = False  # run in a process pinned to one core, one thread per library

    def function(self) -> Callable[[float], Section]:
        module, name = self.target.split(":")
        fn: Callable[[float], Section] = getattr(importlib.import_module(module), name)
        return fn

    def words(self, size: float) -> str:
        return f"{size:g} {self.unit}" if self.unit else "–"


SUITE = (
    Benchmark("window", "benchmarks.window:measure", 200, 20, "windows", pinned=True),
    Benchmark("live", "benchmarks.live:measure", 60, 8, "s of live input"),
    Benchmark("gui", "benchmarks.live:measure_gui", 60, 8, "s of live input"),
    Benchmark("gui-x11", "benchmarks.live:measure_gui_x11", 60, 8, "s of live input"),
    Benchmark(
        "offline", "benchmarks.offline:speed", 200, 1, "min of corpus audio (at most)", pinned=True
    ),
    Benchmark("memory", "benchmarks.offline:memory", 60, 2, "min, longest file"),
    Benchmark("folders", "benchmarks.offline:folders", 60, 1, "min of corpus audio"),
    Benchmark("cluster", "benchmarks.cluster:measure", 30, 0.5, "min of corpus audio"),
    Benchmark("startup", "benchmarks.startup:first_result", 5, 1, "runs"),
    Benchmark("imports", "benchmarks.startup:imports", 5, 1, "runs per module"),
    Benchmark("accuracy", "benchmarks.accuracy:measure", 1, 1, ""),
    Benchmark("soak", "benchmarks.live:soak", 30, 0.25, "min"),
)
NAMES = tuple(b.name for b in SUITE)


def get(name: str) -> Benchmark:
    for b in SUITE:
        if b.name == name:
            return b
    raise KeyError(f"no benchmark {name!r}; there are {', '.join(NAMES)}")
