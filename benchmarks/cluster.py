"""``analyze DIR --scheduler local:N``, the Dask path on this machine: how it grows from one worker
(on one core) to two, and what it costs per file beside the local pool (``--jobs``) on the same
files and cores. Each run is a whole command, its cluster's start-up included.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks import material, proc
from benchmarks.results import Figure, Section, Summary, Target, skipped

SCALING_TARGET = 1.6  # two workers over one (issue 30)
OVERHEAD_TARGET = 1.2  # time per file on local:2 over --jobs 2


def measure(minutes: float = 30.0, runs: int = 3) -> Section:
    """``runs`` times in turn: local:1 pinned to one core, local:2 and ``--jobs 2`` unpinned."""
    title = "Cluster: analyze DIR --scheduler local:N (Dask) beside the local pool"
    problem = material.model_problem()
    if problem:
        return skipped("cluster", title, problem)
    try:
        import distributed  # noqa: F401  (the [cluster] extra)
    except ImportError:
        return skipped("cluster", title, 'n/a (needs pip install "emotion-meter[cluster]")')
    if proc.usable_cores() < 2:
        return skipped("cluster", title, "n/a (needs two cores)")
    ways = {"local:1": ["--scheduler", "local:1"], "local:2": ["--scheduler", "local:2"],
            "--jobs 2": ["--jobs", "2"]}  # fmt: skip
    walls: dict[str, list[float]] = {way: [] for way in ways}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "clips"
        audio = material.clip_folder(folder, minutes)
        count = sum(1 for _ in folder.iterdir())
        for _ in range(runs):
            for way, extra in ways.items():
                out = Path(tmp) / "results.jsonl"
                cmd = ["-m", "app", "analyze", str(folder), "--jsonl", "--out", str(out), *extra]
                walls[way].append(proc.timed(cmd, pinned=way == "local:1"))
    speed = {way: Summary.of(audio / w for w in ws) for way, ws in walls.items()}
    per_file = {way: Summary.of(w / count * 1000 for w in ws) for way, ws in walls.items()}
    one, pool = speed["local:1"], per_file["--jobs 2"]
    assert one is not None and pool is not None
    sec = Section("cluster", title, size=minutes)
    sec.add(Figure("local:1, one worker on one core", "× real time", one))
    sec.add(
        Figure(
            "local:2, two workers",
            "× real time",
            speed["local:2"],
            "local:1",
            one.median,
            Target(">=", SCALING_TARGET, "ratio"),
        )
    )
    sec.add(
        Figure(
            "time per file, local:2",
            "ms",
            per_file["local:2"],
            "--jobs 2 (the local pool), the same files",
            pool.median,
            Target("<=", OVERHEAD_TARGET, "ratio"),
        )
    )
    sec.add(Figure("time per file, --jobs 2", "ms", pool))
    sec.notes.append(
        f"{count} corpus clips, {audio / 60:.1f} min of audio ({material.describe()}), in one "
        f"folder; each run is one `emotion-meter analyze DIR --jsonl --out` command from its "
        f"start to its end: Python, the model and the cluster's scheduler and worker processes "
        f"started, the folder walked, every result written. local:1 runs pinned to one core "
        f"(client, scheduler and worker), so it is the throughput of one worker core; {runs} "
        f"runs of each in turn, medians."
    )
    return sec
