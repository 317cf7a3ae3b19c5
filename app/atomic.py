"""Files written whole: a reader, a crash or a full disk finds the old file or the new one,
never half of one, and no temporary file is left behind.

Every writer in the app and in training goes through here: the new content goes to a hidden
``.NAME.part`` beside the target and is renamed over it in one step (``os.replace``, atomic
on one file system).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def part_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place."""
    return path.with_name(f".{path.name}.part")


@contextmanager
def replacing(path: Path, mode: str = "wb", sync: bool = False) -> Iterator[IO[Any]]:
    """An open file (``mode`` ``"wb"`` or ``"w"``, UTF-8) that replaces ``path`` when the block
    ends without an exception; on one, ``path`` is left as it was. ``sync`` flushes it to the
    disk first: the user's own files, which must survive a power cut, not caches."""
    part = part_path(path)
    try:
        with open(part, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def write(path: Path, content: str | bytes, sync: bool = False) -> None:
    """``content`` into ``path``, whole (text as UTF-8)."""
    with replacing(path, sync=sync) as f:
        f.write(content.encode("utf-8") if isinstance(content, str) else content)
