"""The processes a test leaves behind: those of a process group still running."""

from __future__ import annotations

from pathlib import Path


def in_group(group: int) -> list[str]:
    """The command lines of a process group's processes still running (a zombie has ended)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            state, _, pgrp = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:3]
            command = (proc / "cmdline").read_bytes()
        except OSError:  # ended meanwhile
            continue
        if int(pgrp) == group and state != "Z":
            found.append(command.replace(b"\0", b" ").decode(errors="replace").strip())
    return found
