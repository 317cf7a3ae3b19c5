"""Every writer's one helper: a failed write leaves the old file and no temporary one."""

from pathlib import Path

import numpy as np
import pytest

from app import atomic


def test_a_write_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("old", encoding="utf-8")
    atomic.write(path, "new ✓", sync=True)
    assert path.read_text(encoding="utf-8") == "new ✓"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_failed_write_leaves_the_old_file_and_no_part(tmp_path: Path) -> None:
    path = tmp_path / "cache.npy"
    with atomic.replacing(path) as f:
        np.save(f, np.arange(3))
    with pytest.raises(RuntimeError), atomic.replacing(path) as f:
        np.save(f, np.arange(5))
        raise RuntimeError("the disk filled up")
    assert np.load(path).tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["cache.npy"]


def test_a_write_into_a_missing_folder_says_so_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic.write(tmp_path / "gone" / "x.json", "{}")
    assert list(tmp_path.iterdir()) == []
