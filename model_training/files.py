"""Files a run writes whole: an interrupted run leaves the old file, never half a new one."""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write(path: Path, content: str | bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    os.replace(tmp, path)
