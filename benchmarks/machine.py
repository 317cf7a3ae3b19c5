"""The machine and the code the figures were taken on: without these they mean nothing.

The load average is recorded too: timings from a machine that was busy with something else
(a training run, say) must be read as such.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

from benchmarks.proc import ROOT

PACKAGES = (
    "numpy",
    "soundfile",
    "soxr",
    "ai-edge-litert",
    "PySide6-Essentials",
    "pyqtgraph",
    "tensorflow-cpu",
    "tensorflow",
    "keras",
    "librosa",
)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def ram_gb() -> float:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def os_name() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return f"{line.split('=', 1)[1].strip(chr(34))} (kernel {platform.release()})"
    return platform.platform()


def git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def revision() -> str:
    """The commit, and whether tracked files differed from it when measured."""
    rev = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{rev} (with uncommitted changes to tracked files)" if dirty else rev


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def describe() -> dict[str, str]:
    """Everything the report's machine table shows, as words."""
    return {
        "CPU": cpu_model(),
        "cores": f"{os.cpu_count()} logical",
        "RAM": f"{ram_gb():.1f} GiB",
        "OS": os_name(),
        "Python": platform.python_version(),
        "packages": ", ".join(f"{k} {v}" for k, v in versions().items()),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "git revision": revision(),
        "load average at start (1/5/15 min)": load(),
    }
