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
FEW = 16  # files of the run that measures the start-up


def measure(minutes: float = 30.0, runs: int = 3) -> Section:
    """``runs`` times in turn, on a few files and on ``minutes`` of them: local:1 pinned to one
    core, local:2 and ``--jobs 2`` unpinned. A file's time is the difference of the two runs
    over the difference of their files: what each file adds, the start-up (paid once a run)
    apart."""
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
    starts: dict[str, list[float]] = {way: [] for way in ways}
    with tempfile.TemporaryDirectory() as tmp:
        folder, few = Path(tmp) / "clips", Path(tmp) / "few"
        audio = material.clip_folder(folder, minutes)
        count = sum(1 for _ in folder.iterdir())
        few.mkdir()
        first = min(FEW, count // 2)  # a quick run's folder holds a few minutes
        for clip in sorted(folder.iterdir())[:first]:
            (few / clip.name).symlink_to(clip.resolve())
        for _ in range(runs):
            for way, extra in ways.items():
                for where, into in ((few, starts), (folder, walls)):
                    out = Path(tmp) / "results.jsonl"
                    cmd = ["-m", "app", "analyze", str(where), "--jsonl", "--out", str(out),
                           *extra]  # fmt: skip
                    into[way].append(proc.timed(cmd, pinned=way == "local:1"))
    speed = {way: Summary.of(audio / w for w in ws) for way, ws in walls.items()}
    per_file = {
        way: Summary.of(
            (w - s) / (count - first) * 1000 for w, s in zip(ws, starts[way], strict=True)
        )
        for way, ws in walls.items()
    }
    whole = {way: Summary.of(w / count * 1000 for w in ws) for way, ws in walls.items()}
    start_up = {way: Summary.of(ss) for way, ss in starts.items()}
    one, pool = speed["local:1"], per_file["--jobs 2"]
    pool_whole, pool_start = whole["--jobs 2"], start_up["--jobs 2"]
    assert one is not None and pool is not None and pool_whole and pool_start
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
    sec.add(Figure(f"start-up and {first} files, local:2", "s", start_up["local:2"], "--jobs 2",
                   pool_start.median))  # fmt: skip
    sec.add(Figure(f"start-up and {first} files, --jobs 2", "s", pool_start))
    sec.add(Figure(f"whole run over {count} files, per file, local:2", "ms", whole["local:2"],
                   "--jobs 2", pool_whole.median))  # fmt: skip
    sec.notes.append(
        f"{count} corpus clips, {audio / 60:.1f} min of audio ({material.describe()}), in one "
        f"folder, and a folder of its first {first}; each run is one `emotion-meter analyze DIR "
        f"--jsonl --out` command from its start to its end: Python, the model and the cluster's "
        f"scheduler and worker processes started, the folder walked, every result written. "
        f"*Time per file* is what a file adds to a run: (whole run − run over {first} files) / "
        f"({count} − {first}) files; the start-up, paid once a run, is its own row. local:1 runs "
        f"pinned to one core (client, scheduler and worker), so it is the throughput of one "
        f"worker core; {runs} runs of each in turn, medians."
    )
    return sec
