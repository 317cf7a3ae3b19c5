"""This process's resources, and fresh child processes to measure in.

A fresh process per measurement keeps figures honest: peak RSS is only that measurement's, no
earlier import (TensorFlow above all) warms a cache or holds memory, and pinning to one core
applies from the interpreter's first instruction.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PIN_ENV = "EMOTION_METER_BENCH_PIN"  # tells a child it runs pinned (for its notes)
PIN_CPU = 0
RESULT_MARK = "BENCHMARK-RESULT "
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)


def rss_mb() -> float:
    """Resident memory now (VmRSS), MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss), MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU time of every thread of this process."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pin() -> None:
    """Runs in the child between fork and exec: every thread it ever starts stays on core 0."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {PIN_CPU})


def usable_cores() -> int:
    """How many cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def pinned_cores() -> str:
    """The cores this process may run on, in words."""
    if not hasattr(os, "sched_getaffinity"):
        return "any"
    return ",".join(map(str, sorted(os.sched_getaffinity(0))))


def child_env(pinned: bool = False, **extra: str) -> dict[str, str]:
    """The environment of a child: the repository importable, one thread per library if pinned."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    if pinned:
        env.update({v: "1" for v in THREAD_VARS})
        env[PIN_ENV] = str(PIN_CPU)
    else:
        env.pop(PIN_ENV, None)
    env.update(extra)
    return env


def emit(result: Any) -> None:
    """Hand a JSON result to the parent (the last marked line of stdout wins)."""
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    sys.stdout.flush()


def timed(args: list[str], pinned: bool = False) -> float:
    """Wall seconds of ``python ARGS`` in a fresh process, from its start to its end (its
    start-up included); ``pinned``: it and every thread or process it starts on one core."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=child_env(), capture_output=True,
                          text=True, timeout=3600, preexec_fn=pin if pinned else None)  # fmt: skip
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-15:]
        raise RuntimeError(f"python {' '.join(args)} failed (exit {done.returncode}):\n" +
                           "\n".join(tail))  # fmt: skip
    return wall


def run_python(
    args: list[str],
    pinned: bool = False,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> tuple[Any, float]:
    """Run ``python ARGS`` in a fresh process; return what it :func:`emit`-ted and the wall time."""
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=child_env(pinned, **(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=pin if pinned else None,  # before exec: all its threads
    )
    wall = time.monotonic() - start
    lines = [x for x in done.stdout.splitlines() if x.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise RuntimeError(
            f"python {' '.join(args)} failed (exit {done.returncode}):\n" + "\n".join(tail)
        )
    return json.loads(lines[-1][len(RESULT_MARK) :]), wall
