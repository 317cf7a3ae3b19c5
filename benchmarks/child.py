"""``python -m benchmarks.child NAME SIZE``: one measurement in this fresh process, as JSON."""

from __future__ import annotations

import sys
import time

from benchmarks import proc, suite


def main(argv: list[str]) -> int:
    name, size = argv[0], float(argv[1])
    start = time.monotonic()
    section = suite.get(name).function()(size)
    section.seconds = time.monotonic() - start
    section.size = size
    proc.emit(section.to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
