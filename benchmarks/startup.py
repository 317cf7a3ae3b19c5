"""Start-up: from process start to the first live result (headless and on screen), the frozen
app's self-test, and what importing the app's modules costs next to ``import tensorflow``.

Every run is a fresh process. The parent passes its clock in ``$EMOTION_METER_BENCH_T0`` just
before spawning; ``time.monotonic`` is one system-wide clock on Linux, so a child's timestamps
minus that value are seconds since the process was asked to start. Run as
``python -m benchmarks.startup FILE [--gui]``, this module is that child.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import proc
from benchmarks.results import Figure, Section, Summary, Target, skipped

T0_ENV = "EMOTION_METER_BENCH_T0"
FROZEN = proc.ROOT / "dist" / "EmotionMeter" / "EmotionMeter"
FROZEN_TARGET_MB = 300.0  # the installed folder, with the encoder model
MODULES = (  # (what, statement); LiteRT is imported lazily by the Engine, so it is added
    ("app.features (the feature pipeline)", "import app.features"),
    ("app.engine + LiteRT interpreter", "import app.engine, ai_edge_litert.interpreter"),
    ("app.offline + LiteRT (headless analyze)", "import app.offline, ai_edge_litert.interpreter"),
    ("app.worker + LiteRT (the live path)", "import app.worker, ai_edge_litert.interpreter"),
    (
        "app.ui.main_window + LiteRT (the GUI app)",
        "import app.ui.main_window, ai_edge_litert.interpreter",
    ),
)
REFERENCE = ("tensorflow", "import tensorflow")
SKIP_IMPORTS = {"site", "encodings", "_frozen_importlib_external", "zipimport"}  # interpreter start


def _child(path: str, gui: bool) -> dict[str, float]:
    """Start the live path as the app does and note when each stage was reached."""
    t0 = float(os.environ[T0_ENV])
    marks: dict[str, float] = {}
    if gui:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from benchmarks import session

        marks["imported"] = time.monotonic() - t0
        run = session.run_gui(Path(path), seconds=60, interval=60, first_only=True)
        if not run.first_painted:
            raise RuntimeError(f"no result painted within 60 s: {run.failure}")
        marks["first_painted"] = run.first_painted - t0
        marks["first_result"] = run.first_result - t0
        return marks
    import queue

    from app import bundle
    from app.analyzer import LiveAnalyzer
    from app.audio.sources import FileSource
    from app.engine import Engine
    from app.worker import Failed, LiveWorker, Tick

    marks["imported"] = time.monotonic() - t0
    engine = Engine(bundle.load())
    marks["model_loaded"] = time.monotonic() - t0
    source = FileSource(path)
    out: queue.Queue[object] = queue.Queue()
    worker = LiveWorker(source, LiveAnalyzer(engine, source.sample_rate), out)
    worker.start()
    try:
        while True:
            item = out.get(timeout=60)
            if isinstance(item, Failed):
                raise RuntimeError(item.message)
            if isinstance(item, Tick) and item.update.results:
                r = item.update.results[0]
                marks.setdefault("first_result", item.arrival + r.latency - t0)
                if r.speech:  # seconds of audio from speech onset to the first emotion shown
                    marks["onset_to_emotion"] = r.time - onset(path) + r.latency
                    return marks
    finally:
        worker.stop()


def onset(path: str) -> float:
    """Where speech starts in a file: its first sample within 20 dB of its loudest."""
    import numpy as np

    from app.audio import files

    y = files.load(path, 16000)
    return float(np.argmax(np.abs(y) > 0.1 * np.abs(y).max())) / 16000


def _spawn(args: list[str]) -> tuple[dict[str, float], float]:
    return proc.run_python(args, timeout=180, env={T0_ENV: repr(time.monotonic())})


def _timed_run(cmd: list[str]) -> float:
    """Wall seconds of a command that must succeed (a self-test)."""
    start = time.monotonic()
    subprocess.run(
        cmd, cwd=proc.ROOT, env=proc.child_env(), check=True, capture_output=True, timeout=300
    )
    return time.monotonic() - start


def first_result(runs: int = 5) -> Section:
    """Process start → first live result, ``runs`` times, headless and (if it exists) the GUI."""
    from benchmarks import live, material, session

    title = "Start-up: process start to the first live result"
    problem = material.model_problem()
    if problem:
        return skipped("startup", title, problem)
    window = material.load_bundle().window_seconds
    wav = str(material.speech_wav(window + 30))
    runs = max(1, int(runs))
    bare = [_timed_run([sys.executable, "-c", "pass"]) for _ in range(runs)]
    head = [_spawn(["-m", "benchmarks.startup", wav])[0] for _ in range(runs)]
    sec = Section("startup", title, size=runs)
    loaded = Summary.of(h["model_loaded"] for h in head)
    sec.add(
        Figure(
            "process start → model loaded (headless)",
            "s",
            loaded,
            "bare interpreter: python -c pass",
            Summary.of(bare).median,  # type: ignore[union-attr]
        )
    )
    sec.add(
        Figure(
            "process start → first live result (headless)",
            "s",
            Summary.of(h["first_result"] for h in head),
            "the audio one window needs",
            window,
        )
    )
    sec.add(
        Figure(
            "speech onset → first emotion (provisional, from a partial window)",
            "s",
            Summary.of(h["onset_to_emotion"] for h in head),
            "the audio one window needs",
            window,
            Target("<=", 1.0),
        )
    )
    if session.ui_available():
        gui = [_spawn(["-m", "benchmarks.startup", wav, "--gui"])[0] for _ in range(runs)]
        sec.add(
            Figure(
                "process start → first live result painted (GUI, offscreen)",
                "s",
                Summary.of(g["first_painted"] for g in gui),
                "the audio one window needs",
                window,
            )
        )
    else:
        sec.add(
            Figure(
                "process start → first live result painted (GUI, offscreen)",
                "s",
                None,
                note=live.NEEDS_UI,
            )
        )
    source = [_timed_run([sys.executable, "-m", "app", "--self-test"]) for _ in range(runs)]
    src = Summary.of(source)
    sec.add(Figure("python -m app --self-test (start, analyse the sample, exit)", "s", src))
    if FROZEN.is_file():
        files = [p for p in FROZEN.parent.rglob("*") if p.is_file() and not p.is_symlink()]
        folder = sum(p.stat().st_size for p in files) / 1e6  # a linked library counts once
        sec.add(
            Figure(
                "frozen app folder on disk",
                "MB",
                Summary.single(folder),
                target=Target("<=", FROZEN_TARGET_MB),
            )
        )
        frozen = [_timed_run([str(FROZEN), "--self-test"]) for _ in range(runs)]
        sec.add(
            Figure(
                "frozen app --self-test",
                "s",
                Summary.of(frozen),
                "python -m app --self-test",
                src.median if src else None,
            )
        )
    else:
        sec.add(
            Figure(
                "frozen app --self-test",
                "s",
                None,
                note=f"n/a (no frozen app at {FROZEN.relative_to(proc.ROOT)})",
            )
        )
    sec.notes += [
        f"{runs} fresh processes each; the live source is a file played in real time, so the "
        f"first result cannot come before one window ({window:g} s) of audio has arrived.",
        "The frozen app has no headless live mode, so its start-up is timed by --self-test "
        "(start, load the model, analyse the bundled sample, print, exit).",
    ]
    return sec


def _import_cost(statement: str) -> dict[str, float]:
    code = (
        "import time\nt = time.perf_counter()\n"
        f"{statement}\n"
        "d = time.perf_counter() - t\n"
        "from benchmarks import proc\n"
        "proc.emit({'seconds': d, 'rss': proc.rss_mb()})\n"
    )
    return proc.run_python(["-c", code], timeout=300)[0]


def _top_imports(statement: str, count: int = 6) -> str:
    """The heaviest packages an import pulls in (``-X importtime``), for the analysis."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        cwd=proc.ROOT,
        env=proc.child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    heaviest: dict[str, int] = {}
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| +([\w.]+)$", line)
        if m and "." not in m.group(2) and m.group(2) not in SKIP_IMPORTS:
            heaviest[m.group(2)] = max(heaviest.get(m.group(2), 0), int(m.group(1)))
    top = sorted(heaviest.items(), key=lambda kv: -kv[1])[:count]
    return ", ".join(f"{name} {us / 1000:.0f} ms" for name, us in top)


def imports(runs: int = 5, reference: tuple[str, str] = REFERENCE) -> Section:
    """Import time and resident memory of the app's modules, each in ``runs`` fresh processes,
    next to ``import tensorflow`` (what the app would pay if it ran the model through TF)."""
    title = "Import cost of the app's modules (fresh processes)"
    runs = max(1, int(runs))
    sec = Section("imports", title, size=runs)
    ref_name, ref_statement = reference
    _import_cost(ref_statement)  # warm-up: .pyc files and the page cache
    ref = [_import_cost(ref_statement) for _ in range(runs)]
    ref_s = Summary.of(r["seconds"] * 1000 for r in ref)
    ref_rss = Summary.of(r["rss"] for r in ref)
    sec.add(Figure(f"import {ref_name} (reference)", "ms", ref_s))
    have_ui = importlib.util.find_spec("PySide6") is not None
    biggest = ""
    for what, statement in MODULES:
        if "app.ui" in statement and not _ui_exists():
            sec.add(Figure(f"import {what}", "ms", None, note="n/a (needs app/ui)"))
            continue
        if "app.ui" in statement and not have_ui:
            continue
        _import_cost(statement)
        costs = [_import_cost(statement) for _ in range(runs)]
        sec.add(
            Figure(
                f"import {what}",
                "ms",
                Summary.of(c["seconds"] * 1000 for c in costs),
                f"import {ref_name}",
                ref_s.median if ref_s else None,
            )
        )
        sec.add(
            Figure(
                f"RSS after import {what}",
                "MB",
                Summary.of(c["rss"] for c in costs),
                f"RSS after import {ref_name}",
                ref_rss.median if ref_rss else None,
            )
        )
        biggest = statement
    if biggest:
        sec.notes.append(
            f"Heaviest packages of `{biggest}` (-X importtime, cumulative): "
            f"{_top_imports(biggest)}."
        )
    sec.notes.append(
        f"Time measured inside each fresh process around the import statement only (interpreter "
        f"start excluded); RSS is the whole process after it. {runs} runs after one warm-up."
    )
    return sec


def _ui_exists() -> bool:
    return (proc.ROOT / "app" / "ui" / "main_window.py").is_file()


def main(argv: list[str]) -> int:
    proc.emit(_child(argv[0], gui="--gui" in argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
