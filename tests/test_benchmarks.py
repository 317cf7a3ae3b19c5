"""Every benchmark runs, small, so the benchmark code cannot rot. Timings are never asserted:
only that each measurement returns the figures it promises, with sane counts."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import (
    accuracy,
    cluster,
    live,
    machine,
    material,
    offline,
    report,
    session,
    startup,
    suite,
    window,
)
from benchmarks.__main__ import main, run_one
from benchmarks.results import Figure, Section, Summary, Target


@pytest.fixture(autouse=True, scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The generated WAVs of this module go to one temporary folder, shared by its tests."""
    path = tmp_path_factory.mktemp("bench")
    with pytest.MonkeyPatch.context() as m:
        m.setenv(material.SCRATCH_ENV, str(path))
        yield path


def needs_model(sec: Section) -> Section:
    """Skip (not fail) where this checkout has no model bundle yet."""
    if sec.skipped.startswith("n/a (no model bundle"):
        pytest.skip(sec.skipped)
    return sec


def measured(sec: Section, name: str) -> Summary:
    """The summary of figure ``name``, which must exist with finite, positive-count figures."""
    s = sec.figure(name).summary
    assert s is not None, f"{name}: {sec.figure(name).note}"
    assert s.n >= 1 and all(math.isfinite(x) for x in (s.median, s.p95, s.lo, s.hi))
    assert s.lo <= s.median <= s.hi
    return s


def test_summary_target_and_ratio() -> None:
    s = Summary.of([3.0, 1.0, 2.0, float("nan")])
    assert s is not None and s.n == 3 and s.median == 2.0 and s.lo == 1.0 and s.hi == 3.0
    assert Summary.of([]) is None
    f = Figure("x", "ms", s, "ref", 4.0, Target("<=", 0.6, "ratio"))
    assert f.ratio == 0.5 and f.met is True
    assert Figure("y", "ms", s, target=Target(">=", 5.0, "p95")).met is False
    assert Figure("z", "ms", None, target=Target("<=", 1.0)).met is None
    with pytest.raises(ValueError):
        Target("<", 1.0)


def test_section_survives_json() -> None:
    sec = Section("a", "A", notes=["n"], size=2.0)
    sec.add(Figure("x", "ms", Summary.of([1.0, 2.0]), "r", 1.0, Target("<=", 3.0, "p95")))
    sec.add(Figure("y", "", None, note="n/a (needs app/ui)"))
    back = Section.from_dict(json.loads(json.dumps(sec.to_dict())))
    assert back == sec


def test_report_tables_and_kept_analysis(tmp_path: Path) -> None:
    sec = Section("a", "Alpha", seconds=1.0)
    sec.add(Figure("x", "ms", Summary.of([1.0, 2.0, 30.0]), "r", 2.0, Target("<=", 3.0)))
    sec.add(Figure("y", "MB", None, note="n/a (needs app/ui)"))
    gone = Section("b", "Beta", skipped="n/a (needs app/ui)")
    assert "n/a (needs app/ui)" in report.text_table(sec)
    doc = tmp_path / "b.md"
    doc.write_text(report.markdown([sec], {"CPU": "c"}, "cmd", {}, "my analysis"))
    text = report.markdown(
        [sec, gone], {"CPU": "c"}, "cmd", {"a": "1 run"}, report.kept_analysis(doc)
    )
    assert "## Alpha" in text and "## Beta" in text and "| CPU | c |" in text
    assert "my analysis" in text and "median ≤ 3 ms: met" in text


def test_machine_is_described() -> None:
    info = machine.describe()
    for key in ("CPU", "cores", "RAM", "OS", "Python", "packages", "date", "git revision"):
        assert info[key]
    assert "numpy" in info["packages"]


def test_suite_names_resolve_to_functions() -> None:
    assert len(set(suite.NAMES)) == len(suite.SUITE)
    for b in suite.SUITE:
        assert callable(b.function()) and b.quick <= b.full


@pytest.mark.slow  # TensorFlow's import and librosa's numba compilation: about 30 s
def test_window_costs() -> None:
    sec = needs_model(window.measure(3))
    for name in (
        "features, 3 s window (Pipeline)",
        "features, one hop streamed (FrameStream)",
        "inference, LiteRT",
        "features + inference per result (LiveAnalyzer.push of one hop)",
    ):
        assert measured(sec, name).median > 0
    assert measured(sec, "inference, LiteRT").n == 3
    keras = sec.figure("inference, Keras model(x)")
    assert keras.summary is not None or keras.note.startswith("n/a")


def test_live_headless() -> None:
    sec = needs_model(live.measure(4.5))
    assert measured(sec, "latency: window's last sample in ring → result emitted").n >= 1
    assert measured(sec, "process CPU").median >= 0
    assert measured(sec, "peak RSS").median > 0
    assert measured(sec, "dropped blocks").median >= 0
    assert sec.figure("dropped blocks").reference_value > 0  # blocks were written


def test_live_gui() -> None:
    sec = live.measure_gui(4.5)
    if not session.ui_available():
        assert sec.skipped.startswith("n/a (needs app/ui")
        return
    needs_model(sec)
    assert measured(sec, "latency: window's last sample in ring → window painted").n >= 1
    assert measured(sec, "spectrogram repaints per second").median > 0


def test_live_gui_on_an_x_server() -> None:
    """The same session through Qt's X11 platform on Xvfb (the test set-up installs it), in a
    fresh process as the suite runs it: Qt picks its platform once per process."""
    sec, _ = run_one(suite.get("gui-x11"), 4.5)
    if shutil.which("Xvfb") is None:
        assert sec.skipped.startswith("n/a (no Xvfb")
        return
    needs_model(sec)
    assert measured(sec, "latency: window's last sample in ring → window painted").n >= 1
    assert measured(sec, "spectrogram repaints per second").median > 0
    assert "xcb platform on Xvfb :" in " ".join(sec.notes)


def test_soak() -> None:
    sec = needs_model(live.soak(0.1))
    assert measured(sec, "RSS at the end").median > 0
    assert measured(sec, "results per second").median > 0
    assert measured(sec, "dropped blocks").median >= 0


def test_offline_speed() -> None:
    sec = needs_model(offline.speed(0.2))
    assert measured(sec, "speed, pooled over every clip").median > 0
    assert measured(sec, "speed, analyze_file per clip").n >= 1


def test_memory_as_the_file_grows() -> None:
    sec = needs_model(offline.memory(0.3))
    peaks = [f for f in sec.figures if f.name.startswith("peak RSS")]
    speeds = [f for f in sec.figures if f.name.startswith("speed")]
    assert len(peaks) == 3 and len(speeds) == 3 + ((os.cpu_count() or 1) > 1)  # + every core
    for f in peaks + speeds:
        assert measured(sec, f.name).median > 0


def test_cluster_beside_the_pool() -> None:
    sec = needs_model(cluster.measure(0.1, runs=1))
    if sec.skipped == "n/a (needs two cores)":
        pytest.skip(sec.skipped)
    for name in ("local:1, one worker on one core", "local:2, two workers"):
        assert measured(sec, name).median > 0
    assert any(f.name.startswith("whole run over") and measured(sec, f.name).median > 0
               for f in sec.figures)  # fmt: skip
    # a file's own cost is a difference of two runs: over the few files of a test it is within
    # their noise (even below zero on a busy machine); the documented run has ~700 files
    for name in ("time per file, local:2", "time per file, --jobs 2"):
        measured(sec, name)
    assert sec.figure("time per file, local:2").ratio is not None


@pytest.mark.slow
def test_startup() -> None:
    sec = needs_model(startup.first_result(1))
    assert measured(sec, "process start → first live result (headless)").median > 0
    assert measured(sec, "python -m app --self-test (start, analyse the sample, exit)").n == 1
    gui = sec.figure("process start → first live result painted (GUI, offscreen)")
    assert gui.summary is not None or gui.note.startswith("n/a")


@pytest.mark.slow
def test_imports() -> None:
    sec = startup.imports(1, reference=("json", "import json"))
    assert measured(sec, "import json (reference)").median > 0
    assert measured(sec, "import app.engine + LiteRT interpreter").median > 0
    assert measured(sec, "RSS after import app.engine + LiteRT interpreter").median > 0


def fake_report() -> dict:
    def scores(ua: float, clips: int) -> dict:
        return {"clips": clips, "accuracy": ua + 0.01, "ua": ua, "macro_f1": ua - 0.01}

    return {
        "test": {
            "pooled": scores(0.6, 100),
            "by_corpus": {"ravdess": scores(0.5, 60), "emodb": scores(0.7, 40)},
            "speakers": ["ravdess:01", "emodb:03"],
        },
        "test_adapted": {"pooled": scores(0.66, 100), "by_corpus": {"emodb": scores(0.8, 40)}},
        "baselines": {
            "egemaps_svm": {
                "test": {"pooled": scores(0.4, 100), "by_corpus": {"ravdess": scores(0.3, 60)}}
            },
            "egemaps_svm_speaker_norm": {"test": {"pooled": scores(0.55, 100)}},
            "other": {"test": {"pooled": scores(0.3, 100)}},
        },
    }


def test_accuracy_from_a_report(tmp_path: Path) -> None:
    (tmp_path / "emotion.tflite").write_bytes(b"0" * 2000)
    (tmp_path / "emotion.keras").write_bytes(b"0" * 4000)
    sec = accuracy.from_report(fake_report(), tmp_path)
    pooled = sec.figure("model UA (unweighted average recall), pooled (100 clips)")
    assert pooled.ratio == pytest.approx(0.6 / 0.4)
    emodb = sec.figure("model UA (unweighted average recall), emodb (40 clips)")
    assert emodb.ratio is None and emodb.note  # no baseline figure for that corpus
    assert sec.figure("size on disk, emotion.tflite (what the app ships)").ratio == 0.5
    assert sec.figure("other UA, pooled (100 clips)").ratio == pytest.approx(0.3 / 0.6)
    adapted = sec.figure("model adapted to the speaker*, UA, pooled (100 clips)")
    assert adapted.ratio == pytest.approx(0.66 / 0.55)
    assert sec.figure("model adapted to the speaker*, UA, emodb (40 clips)").ratio is None


def test_accuracy_of_the_bundle() -> None:
    sec = needs_model(accuracy.measure())
    if sec.skipped:
        assert sec.skipped.startswith("n/a (no report.json")
        return
    assert measured(sec, "size on disk, emotion.tflite (what the app ships)").median > 0
    assert any(f.name.startswith("model UA") for f in sec.figures)


def test_a_failed_measurement_is_not_a_met_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A window that cannot open (no such Qt platform) fails its section: the run says so and
    exits 1, and never reports its targets as met."""
    monkeypatch.setenv("QT_QPA_PLATFORM", "no-such-platform")
    out = tmp_path / "bench.md"
    code = main(["--only", "gui", "--live-seconds", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 1 and "Not measured" in printed and "FAILED" in out.read_text()
    assert "target met" not in printed


@pytest.mark.slow
def test_cli_writes_the_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(material.SCRATCH_ENV, raising=False)
    out = tmp_path / "bench.md"
    code = main(["--only", "accuracy", "--out", str(out)])
    text = out.read_text()
    assert code == 0 and "## Machine" in text and "## Analysis" in text
    assert "Accuracy" in text
    assert material.SCRATCH_ENV not in os.environ
