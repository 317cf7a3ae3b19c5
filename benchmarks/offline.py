"""Whole-file analysis: how fast, on the corpora's own files, and how memory behaves as a file
grows (each size analysed by a fresh process, whose peak RSS is then that file's alone).

Run as ``python -m benchmarks.offline FILE`` it is that fresh process: it analyses one file and
reports its wall time and peak memory.
"""

from __future__ import annotations

import os
import sys
import time

from app.audio import files
from app.batch import ONE_THREAD
from app.engine import Engine
from app.offline import analyze_audio, analyze_file
from benchmarks import material, proc
from benchmarks.results import Figure, Section, Summary, Target, skipped

SPEED_TARGET = 60.0  # × real time, one core, with the encoder model: corpus clips
LONG_TARGET = 100.0  # × real time, one core: long recordings (issue 13)
LONG_TARGET_ALL = 180.0  # × real time with two cores
FLAT_TARGET = 1.2  # peak RSS of the longest file over the shortest's
BATCHES = 12


def speed(minutes: float = 200.0) -> Section:
    """``analyze_file`` on corpus clips (up to ``minutes`` of audio), in batches for the spread;
    the same clips already decoded in memory are the reference (what file reading costs)."""
    title = "Offline analysis speed on the corpora (one core)"
    problem = material.model_problem()
    if problem:
        return skipped("offline", title, problem)
    engine = Engine(material.load_bundle())
    rate = engine.bundle.features.sample_rate
    budget, chosen, total = minutes * 60, [], 0.0
    for path in material.clips():
        chosen.append(path)
        total += files.info(path).duration
        if total >= budget:
            break
    per_batch = max(1, -(-len(chosen) // BATCHES))
    analyze_file(chosen[0], engine)  # warm-up
    file_speed, memory_speed, windows, audio, wall = [], [], 0, 0.0, 0.0
    for i in range(0, len(chosen), per_batch):
        batch = chosen[i : i + per_batch]
        seconds = sum(files.info(p).duration for p in batch)
        start = time.perf_counter()
        for path in batch:
            windows += len(analyze_file(path, engine).ends)
        took = time.perf_counter() - start
        decoded = [files.load(p, rate) for p in batch]
        start = time.perf_counter()
        for y in decoded:
            analyze_audio(y, engine)
        file_speed.append(seconds / took)
        memory_speed.append(seconds / (time.perf_counter() - start))
        audio, wall = audio + seconds, wall + took
    sec = Section("offline", title, size=minutes)
    mem = Summary.of(memory_speed)
    sec.add(
        Figure(
            "speed, analyze_file per clip",
            "× real time",
            Summary.of(file_speed),
            "the same clips decoded in memory (analyze_audio)",
            mem.median if mem else None,
        )
    )
    sec.add(
        Figure(
            "speed, pooled over every clip",
            "× real time",
            Summary.single(audio / wall),
            "real time",
            1.0,
            Target(">=", SPEED_TARGET),
        )
    )
    sec.add(Figure("speed, clips decoded in memory (analyze_audio)", "× real time", mem))
    sec.notes.append(
        f"{len(chosen)} clips, {audio / 60:.1f} min of audio, {windows} windows, in "
        f"{len(file_speed)} batches (the spread is over batches); corpora: {material.describe()}."
    )
    sec.notes.append(
        "Corpus clips are short (a few seconds), so most need one padded window or a few; "
        "continuous audio needs one window per hop. The long-file figures of the next section "
        "are what opening a recording costs."
    )
    return sec


def folders(minutes: float = 60.0, runs: int = 3) -> Section:
    """``emotion-meter analyze FOLDER --jsonl`` over corpus clips with one job, then one per
    core, ``runs`` times in turn: wall time from the command's start (its process start-up
    included), and the speed-up of the medians."""
    import os
    import tempfile
    from pathlib import Path

    title = "Folders: analyze DIR on one core and on every core"
    problem = material.model_problem()
    if problem:
        return skipped("folders", title, problem)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "clips"
        total = material.clip_folder(folder, minutes)
        speeds: dict[int, list[float]] = {1: [], cores: []}
        for _ in range(runs):
            for jobs in speeds:
                out = Path(tmp) / f"jobs{jobs}.jsonl"
                cmd = ["-m", "app", "analyze", str(folder), "--jsonl", "--out", str(out),
                       "--jobs", str(jobs)]  # fmt: skip
                # one job on one core (its engine then has one lane); every core unpinned
                speeds[jobs].append(total / proc.timed(cmd, pinned=jobs == 1))
    one = Summary.of(speeds[1])
    assert one is not None
    sec = Section("folders", title, size=minutes)
    sec.add(Figure("one job", "× real time", one))
    if cores > 1:
        sec.add(
            Figure(
                f"{cores} jobs (--jobs default: every core)",
                "× real time",
                Summary.of(speeds[cores]),
                "one job",
                one.median,
                Target(">=", 0.8 * cores, "ratio"),
            )
        )
    sec.notes.append(
        f"{total / 60:.1f} min of corpus clips ({material.describe()}) in one folder; each run "
        f"is one `emotion-meter analyze` command, its start-up and worker processes included, "
        f"with one job pinned to one core, then every core ({cores} here), {runs} times in "
        f"turn. Target: at least 80 % of linear scaling."
    )
    return sec


def _length(minutes: float) -> str:
    return f"{minutes:g} min" if minutes >= 1 else f"{minutes * 60:.3g} s"


def analyse_once(path: str) -> dict[str, float]:
    """The child's work: load the model, analyse one file, say how long and how much memory.
    The model gets a lane per core the child may use, as ``emotion-meter analyze`` gives it."""
    engine = Engine(material.load_bundle(), lanes=proc.usable_cores())
    before = proc.rss_mb()
    start = time.perf_counter()
    analysis = analyze_file(path, engine)
    return {
        "seconds": time.perf_counter() - start,
        "duration": analysis.duration,
        "windows": float(len(analysis.ends)),
        "rss_before": before,
        "peak_rss": proc.peak_rss_mb(),
    }


def memory(minutes: float = 60.0) -> Section:
    """Peak memory and speed on one long file of ``minutes``/60, ``minutes``/6 and ``minutes``."""
    title = "Offline analysis of a growing file: memory and speed (one core, then every core)"
    problem = material.model_problem()
    if problem:
        return skipped("memory", title, problem)
    sizes = [minutes / 60, minutes / 6, minutes]
    runs = []
    for m in sizes:
        wav = material.speech_wav(m * 60)
        result, _ = proc.run_python(["-m", "benchmarks.offline", str(wav)], pinned=True)
        runs.append(result)
    # the longest once more, unpinned, with numpy on one thread as `emotion-meter` sets it
    every, _ = proc.run_python(["-m", "benchmarks.offline", str(wav)], env=ONE_THREAD)
    sec = Section("memory", title, size=minutes)
    first = runs[0]
    for m, r in zip(sizes, runs, strict=True):
        is_first = r is first
        sec.add(
            Figure(
                f"peak RSS, {_length(m)} file",
                "MB",
                Summary.single(r["peak_rss"]),
                "RSS with the model loaded, before analysis"
                if is_first
                else f"peak RSS, {_length(sizes[0])} file",
                r["rss_before"] if is_first else first["peak_rss"],
                None if is_first else Target("<=", FLAT_TARGET, "ratio"),
            )
        )
    for m, r in zip(sizes, runs, strict=True):
        sec.add(
            Figure(
                f"speed, {_length(m)} file",
                "× real time",
                Summary.single(r["duration"] / r["seconds"]),
                "real time",
                1.0,
                Target(">=", LONG_TARGET),
            )
        )
    cores = os.cpu_count() or 1
    if cores > 1:
        sec.add(
            Figure(
                f"speed, {_length(sizes[-1])} file, every core ({cores})",
                "× real time",
                Summary.single(every["duration"] / every["seconds"]),
                f"speed, {_length(sizes[-1])} file (one core)",
                runs[-1]["duration"] / runs[-1]["seconds"],
                Target(">=", LONG_TARGET_ALL) if cores == 2 else None,
            )
        )
    last = runs[-1]
    hop_ms = material.load_bundle().hop_seconds * 1000
    sec.add(
        Figure(
            f"analysis cost per window, {_length(sizes[-1])} file",
            "ms",
            Summary.single(last["seconds"] / max(last["windows"], 1) * 1000),
            "the audio a window adds (one hop)",
            hop_ms,
        )
    )
    sec.notes += [
        "Each file is a concatenation of corpus clips written to a temporary 16 kHz WAV and "
        "analysed by a fresh process pinned to one core (the longest once more on every core: "
        "the model runs on a lane per core beside the features, numpy on one thread as "
        "`emotion-meter` sets it); peak RSS is that process's "
        "ru_maxrss (interpreter, numpy, LiteRT and the model included). One run per size.",
        "The Analysis itself grows with the file by design: per window its probabilities, "
        "attention (float16), quality and prosody, per frame pitch and loudness, and a display "
        "spectrogram capped at 30,000 columns of float16 (4.8 MB): about 13 MB an hour.",
    ]
    return sec


def main(argv: list[str]) -> int:
    proc.emit(analyse_once(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
