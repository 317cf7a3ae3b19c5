"""``analyze`` over folders: audio found by content, every core, results written as they come,
one bad file reported and skipped, an interrupted run resumed, progress on a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.data import some_clips
from tests.processes import in_group
from tests.robustness import Report, report_fixture  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[1]


def analyze(*args: str, **kw) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "app", "analyze", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600, **kw)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """A folder as people keep them: nested, odd names, a note and a damaged file among them."""
    root = tmp_path / "archive"
    (root / "day 2").mkdir(parents=True)
    clips = some_clips("ravdess", 6)
    for i, clip in enumerate(clips[:4]):
        shutil.copy(clip, root / f"take{i}.flac")
    shutil.copy(clips[4], root / "day 2" / "no-extension")  # audio, found by content
    shutil.copy(clips[5], root / "day 2" / "speech.dat")
    (root / "notes").write_text("not audio at all")
    (root / "day 2" / "readme.txt").write_text("hello")
    return root


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_folders_by_content_on_every_core(archive: Path, tmp_path: Path) -> None:
    out1, out2 = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    done = analyze(str(archive), "--jsonl", "--out", str(out1), "--jobs", "1")
    assert done.returncode == 0, done.stderr
    assert "2 files in the folders are not audio" in done.stderr
    one = {r["file"]: r for r in lines(out1)}
    assert {Path(f).name for f in one} == {*(f"take{i}.flac" for i in range(4)), "no-extension",
                                           "speech.dat"}  # fmt: skip
    assert analyze(str(archive), "--jsonl", "--out", str(out2), "--jobs", "2").returncode == 0
    two = {r["file"]: r for r in lines(out2)}
    assert two.keys() == one.keys()
    for f, r in one.items():  # the same results whichever process analysed the file
        assert r["emotion"] == two[f]["emotion"]
        np.testing.assert_allclose(r["probabilities"], two[f]["probabilities"], atol=1e-4)


def test_a_bad_file_is_reported_and_skipped(archive: Path, tmp_path: Path) -> None:
    bad = tmp_path / "cut.flac"
    bad.write_bytes(some_clips("ravdess", 1)[0].read_bytes()[:3000])  # a header, then nothing
    done = analyze(str(bad), str(archive / "take0.flac"), "--csv", "--jobs", "2")
    assert done.returncode == 1
    assert done.stderr.count("error:") == 1 and "cut.flac" in done.stderr
    rows = done.stdout.strip().splitlines()
    assert rows[0].startswith("file,start,end") and len(rows) > 1
    assert all(r.split(",")[0].endswith("take0.flac") for r in rows[1:])


@pytest.mark.parametrize("form", ["--jsonl", "--csv"])
def test_an_interrupted_run_resumes_where_it_stopped(
    archive: Path, tmp_path: Path, form: str
) -> None:
    for i in range(14):  # 20 files: the run is still going when it is killed
        shutil.copy(archive / "take0.flac", archive / f"copy{i:02d}.flac")
    out = tmp_path / f"results{form.replace('--', '.')}"
    cmd = [sys.executable, "-m", "app", "analyze", str(archive), form, "--out", str(out),
           "--jobs", "1"]  # fmt: skip
    run = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    header = 1 if form == "--csv" else 0
    while time.monotonic() < deadline and run.poll() is None:
        if out.exists() and len(out.read_text().splitlines()) > header + 1:
            break
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait()
    before = out.read_text()
    assert len(before.splitlines()) - header < 20  # it stopped part-way
    whole = before[: before.rfind("\n") + 1]
    if form == "--csv":  # the last file's rows may be cut between two lines: all go
        last = whole.splitlines()[-1].split(",")[0]
        whole = "".join(r for r in whole.splitlines(True) if r.split(",")[0] != last)
        with out.open("w") as f:  # cut after its first row, at a line's end
            f.write(whole + next(r for r in before.splitlines(True) if r.startswith(last)))
    with out.open("a") as f:
        f.write('{"file": "half a line, as a power cut leaves it')  # cut short: dropped
    resumed = analyze(str(archive), form, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    after = out.read_text()
    assert after.startswith(whole)  # what was written whole stays
    if form == "--jsonl":
        files = [r["file"] for r in lines(out)]
    else:
        rows = [r.split(",")[0] for r in after.splitlines()[1:]]
        files = list(dict.fromkeys(rows))
        assert after.splitlines()[0].startswith("file,")
        alone = analyze(last, "--csv").stdout.splitlines()[1:]
        assert rows.count(last) == len(alone)  # the cut file analysed again, whole
    assert len(files) == len(set(files)) == 20  # every file exactly once


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_says_how_far_the_run_got(
    archive: Path, tmp_path: Path, jobs: str, report: Report
) -> None:
    """Ctrl-C from a terminal (to the whole process group, workers too): the files written so
    far are whole, the user is told how many and how to go on, and no worker is left behind."""
    for i in range(400):  # the run is still going when it is interrupted
        (archive / f"copy{i:03d}.flac").symlink_to(archive / "take0.flac")
    out = tmp_path / "results.jsonl"
    cmd = [sys.executable, "-m", "app", "analyze", str(archive), "--jsonl", "--out", str(out),
           "--jobs", jobs]  # fmt: skip
    run = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out.exists() and out.read_text().count("\n") > 1):
        time.sleep(0.01)
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    done = lines(out)
    assert 1 < len(done) < 406  # it stopped part-way
    assert err.strip().splitlines()[1:] == [  # after the note on the two that are not audio
        f"Interrupted (Ctrl-C) after {len(done)} of 406 files. Their results are in {out}; "
        "the same command with --resume adds the rest."
    ]
    assert not workers(run.pid)  # ended with the run, not left analysing
    said = re.sub(r"after \d+ of", "after N of", err.strip().splitlines()[-1])
    report(
        "Command line",
        f"Ctrl-C to analyze over a folder (--jsonl --out, --jobs {jobs}), to the process group",
        f"exit 130: “{said}”; the N lines in the file whole, no worker left running",
    )


@pytest.mark.parametrize("form", ["--jsonl", "--json"])
def test_a_full_disk_is_said_and_ends_the_run(archive: Path, form: str, report: Report) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full to stand for a full disk")
    done = analyze(str(archive), form, "--out", "/dev/full", "--jobs", "2")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        "error: cannot write /dev/full: No space left on device; 0 of 6 files written."
    )
    report(
        "Command line",
        f"analyze {form} --out to a full disk (/dev/full)",
        f"exit 2: “{done.stderr.splitlines()[-1]}”",
    )


def test_a_reader_that_has_read_enough_ends_the_run_quietly(archive: Path) -> None:
    """``analyze DIR --jsonl | head -1``: the run ends when the pipe closes, with no message."""
    for i in range(100):
        (archive / f"copy{i:03d}.flac").symlink_to(archive / "take0.flac")
    cmd = [sys.executable, "-m", "app", "analyze", str(archive), "--jsonl", "--jobs", "1"]
    run = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert run.stdout is not None and run.stderr is not None
    assert json.loads(run.stdout.readline())["file"]
    run.stdout.close()
    err = run.stderr.read().decode()
    assert run.wait(timeout=120) == 141, err
    assert err.strip() == "note: 2 files in the folders are not audio; skipped"


def workers(group: int) -> list[str]:
    """The worker processes of a process group still running (a zombie has ended)."""
    return [command for command in in_group(group) if "spawn_main" in command]


def test_resuming_csv_drops_every_row_of_the_last_file(tmp_path: Path) -> None:
    """A file's rows are one write, but a cut can fall between two of them at a line's end:
    the last file is never trusted, and a file left empty gets its header back."""
    from app.batch import Output

    out = tmp_path / "results.csv"
    fresh = Output("csv", ("calm",), tmp_path / "fresh.csv")
    fresh.close()
    header = fresh.header
    first = 'a.flac,0.0\na.flac,0.5\n"odd, name\n.flac",0.0\n'
    out.write_text(header + first + "b.flac,0.0\nb.flac,0.5\n")
    resumed = Output("csv", ("calm",), out, resume=True)
    resumed.close()
    assert resumed.done == {"a.flac", "odd, name\n.flac"} and out.read_text() == header + first
    out.write_text("file,sta")  # cut inside the header
    Output("csv", ("calm",), out, resume=True).close()
    assert out.read_text().startswith("file,start,end,") and out.read_text().count("\n") == 1


def blas_threads() -> list[int]:
    import numpy  # noqa: F401  (loads the BLAS that threadpoolctl reports)
    from threadpoolctl import threadpool_info

    return [lib["num_threads"] for lib in threadpool_info()]


def test_workers_run_numpy_on_one_thread_each() -> None:
    """A BLAS thread per core in every worker made two workers slower than one on two cores."""
    from app.batch import ONE_THREAD, workers

    before = {k: os.environ.get(k) for k in ONE_THREAD}
    with workers(2, None) as pool:
        counts = [pool.submit(blas_threads).result() for _ in range(4)]
    assert all(c and set(c) == {1} for c in counts), counts
    assert {k: os.environ.get(k) for k in ONE_THREAD} == before  # the caller's left as it was


def test_the_app_runs_numpy_on_one_thread() -> None:
    """The app runs the model on a lane per core; BLAS's own threads spun beside them and took a
    core from the model (an hour-long file on two cores: 175× against 200× real time)."""
    from app.batch import ONE_THREAD

    env = {k: v for k, v in os.environ.items() if k not in ONE_THREAD}
    code = (
        "from app.__main__ import main; assert main(['--self-test']) == 0; "
        "from tests.test_batch import blas_threads; print(blas_threads())"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "[1]", run.stdout


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_every_core_means_every_core_the_process_may_use() -> None:
    """Under taskset or a container's CPU set, lanes and jobs beyond its cores only wait."""
    code = "from app.batch import cores; print(cores())"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),
                         timeout=60, check=True)  # fmt: skip
    assert run.stdout.strip() == "1"


def test_progress_shows_on_a_terminal_only(archive: Path) -> None:
    main, term = pty.openpty()
    run = subprocess.run(
        [sys.executable, "-m", "app", "analyze", str(archive), "--jsonl", "--jobs", "2"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=term, timeout=600,
    )  # fmt: skip
    os.close(term)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert run.returncode == 0
    assert b"[6/6]" in shown and b"left" in shown
    piped = analyze(str(archive), "--jsonl")
    assert "/6]" not in piped.stderr  # piped: no progress, only real messages


def test_resume_needs_a_file_written_as_it_goes(archive: Path) -> None:
    done = analyze(str(archive), "--resume")
    assert done.returncode == 2 and "--resume" in done.stderr
