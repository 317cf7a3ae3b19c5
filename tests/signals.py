"""Waiting for a child process to be ready for a signal, instead of sleeping and hoping."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

needs_proc = pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="Linux /proc")


def wait_for_handler(process: subprocess.Popen, sig: int, timeout: float = 60.0) -> None:
    """Return once ``process`` catches ``sig`` (its SigCgt mask in /proc), however slow its
    start; fail if it exits or never does."""
    status = Path(f"/proc/{process.pid}/status")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        caught = next(x for x in status.read_text().splitlines() if x.startswith("SigCgt:"))
        if int(caught.split()[1], 16) >> (sig - 1) & 1:
            return
        time.sleep(0.1)
    if process.poll() is not None:
        raise AssertionError(f"the app exited with {process.returncode} before it was ready")
    raise AssertionError(f"the app did not catch signal {sig} within {timeout:.0f} s")
