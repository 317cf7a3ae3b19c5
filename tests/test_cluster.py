"""``analyze --scheduler`` on a real Dask cluster: a ``dask scheduler`` and ``dask worker``
processes on 127.0.0.1 (ports the system chose), real clips, a worker killed mid-run, an
interrupted client resumed, and each way the cluster can be unfit said in a line. Every process
a test starts runs in a session of its own and is ended, and checked gone, when it ends."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from distributed import Client

from app.batch import ONE_THREAD
from tests.conftest import adaptive_copy
from tests.data import some_clips
from tests.processes import in_group
from tests.robustness import Report, report_fixture  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    **ONE_THREAD,  # as a nanny sets it in the workers it starts
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "5s",
}
CLIPS = 120


class Processes:
    """Processes started each in a session (a process group) of its own, so that ending them
    ends whatever they started too."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[subprocess.Popen] = []

    def start(self, *cmd: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
        log = (self.logs / f"process-{len(self.started)}.log").open("w")
        kw.setdefault("stderr", log)
        run = subprocess.Popen(cmd, cwd=kw.pop("cwd", ROOT), env=env or ENV,
                               stdout=kw.pop("stdout", log), start_new_session=True,
                               **kw)  # fmt: skip
        self.started.append(run)
        return run

    def end(self) -> None:
        for run in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)
            run.wait()
        deadline = time.monotonic() + 10
        while any(in_group(r.pid) for r in self.started) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [c for r in self.started for c in in_group(r.pid)]  # none left behind


def dask(processes: Processes, *args: str, **kw) -> subprocess.Popen:
    return processes.start(sys.executable, "-m", "dask", *args, **kw)


def scheduler(processes: Processes, folder: Path, **env: str) -> str:
    """A ``dask scheduler`` on a free port of 127.0.0.1 (port 0: the system picks), its
    dashboard too; its address, from the file it writes once it listens."""
    file = folder / "scheduler.json"
    dask(processes, "scheduler", "--host", "127.0.0.1", "--port", "0",
         "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(file),
         env={**ENV, **env})  # fmt: skip
    deadline = time.monotonic() + 60
    while not file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return json.loads(file.read_text())["address"]


def worker(processes: Processes, address: str, *prefix: str, **env: str) -> subprocess.Popen:
    """A ``dask worker`` of one thread, without a nanny: killing it kills the worker itself. It
    starts outside the project, as on another machine: ``-m`` puts the working folder first on
    its path, and the project's own metadata there would hide any other installed version."""
    cmd = [sys.executable, "-m", "dask", "worker", address, "--nthreads", "1", "--no-nanny",
           "--no-dashboard"]  # fmt: skip
    return processes.start(*prefix, *cmd, env={**ENV, **env}, cwd=processes.logs)


def wait_for(address: str, count: int) -> None:
    """Until the scheduler has exactly ``count`` workers (one killed has left it)."""
    with Client(address, timeout=30) as client:
        deadline = time.monotonic() + 90
        while len(client.scheduler_info()["workers"]) != count:
            assert time.monotonic() < deadline, client.scheduler_info()["workers"]
            time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler for this module's tests, which start the workers they need."""
    processes = Processes(tmp_path_factory.mktemp("scheduler"))
    try:
        yield scheduler(processes, processes.logs)
    finally:
        processes.end()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.end()


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """Real clips (links to them) in a folder, a damaged one among them."""
    root = tmp_path / "archive"
    root.mkdir()
    for clip in some_clips("ravdess", CLIPS):
        (root / clip.name).symlink_to(clip)
    (root / "cut.flac").write_bytes(some_clips("ravdess", 1)[0].read_bytes()[:3000])
    (root / "notes.txt").write_text("not audio: skipped by the walk")
    return root


def analyze(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "app", "analyze", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env or ENV, capture_output=True, text=True,
                          timeout=600)  # fmt: skip


def ports(text: str) -> str:
    """``text`` with the ports the system chose as PORT: the same each run, for the document."""
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def wait_lines(path: Path, count: int, run: subprocess.Popen) -> int:
    """Until ``path`` has ``count`` lines (or the run ended); how many it has."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        if path.exists() and path.read_text().count("\n") >= count:
            break
        time.sleep(0.01)
    return path.read_text().count("\n") if path.exists() else 0


def test_a_dead_worker_loses_no_file(
    cluster: str, processes: Processes, archive: Path, tmp_path: Path, report: Report
) -> None:
    """Two workers, one SIGKILLed mid-run: its files are run again on the other, and every
    readable file is in the output once, whole, judged as this machine's cores judge it."""
    empty, text = tmp_path / "empty.flac", tmp_path / "notes.wav"
    empty.touch()
    text.write_text("a note, whatever its name says")
    doomed = worker(processes, cluster)
    worker(processes, cluster)
    wait_for(cluster, 2)
    out = tmp_path / "cluster.jsonl"
    cmd = ["-m", "app", "analyze", str(archive), str(empty), str(text), "--jsonl", "--out",
           str(out), "--scheduler", cluster]  # fmt: skip
    run = processes.start(sys.executable, *cmd, stderr=subprocess.PIPE, text=True)
    done = wait_lines(out, 20, run)
    doomed.send_signal(signal.SIGKILL)
    assert doomed.wait() == -signal.SIGKILL
    _, err = run.communicate(timeout=300)
    assert run.returncode == 1, err  # some files failed; the run went on
    assert 20 <= done < CLIPS  # the kill fell mid-run
    assert "Traceback" not in err
    assert f"note: Dask cluster {cluster}: 2 worker(s), 2 thread(s); dashboard http://" in err
    results = lines(out)  # every line whole
    names = [r["file"] for r in results]
    assert len(names) == len(set(names)) == CLIPS + 3  # each file exactly once
    failed = {Path(r["file"]).name: r["error"] for r in results if "error" in r}
    assert failed.keys() == {"cut.flac", "empty.flac", "notes.wav"}
    assert err.count("error: ") == 3 and "empty.flac is empty (0 bytes)" in err
    here = tmp_path / "here.jsonl"
    alone = analyze(str(archive), str(empty), str(text), "--jsonl", "--out", str(here),
                    "--jobs", "2")  # fmt: skip
    assert alone.returncode == 1, alone.stderr
    local = {r["file"]: r for r in lines(here)}
    assert local.keys() == set(names)
    for r in results:
        assert r.get("error") == local[r["file"]].get("error")
        assert r.get("emotion") == local[r["file"]].get("emotion")
        if "error" not in r:
            np.testing.assert_allclose(r["probabilities"], local[r["file"]]["probabilities"],
                                       atol=1e-4)  # fmt: skip
    report(
        "Command line",
        f"analyze --scheduler over {CLIPS + 3} files on two dask workers, one SIGKILLed mid-run",
        f"its files run again on the other: each of the {CLIPS} clips once, whole, the same "
        "emotions as on this machine's cores; the 3 broken files reported, exit 1",
    )


def test_a_task_whose_worker_died_is_tried_file_by_file(
    processes: Processes, archive: Path, tmp_path: Path
) -> None:
    """A task holds several files; when the scheduler gives up on one (here at the first death:
    no failures allowed), its files are tried again one a task, so that only a file that kills
    workers itself is reported, not the files that shared its task."""
    strict = scheduler(processes, tmp_path, DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0")
    doomed = worker(processes, strict)
    worker(processes, strict)
    wait_for(strict, 2)
    out = tmp_path / "cluster.jsonl"
    cmd = ["-m", "app", "analyze", str(archive), "--jsonl", "--out", str(out), "--scheduler",
           strict]  # fmt: skip
    run = processes.start(sys.executable, *cmd, stderr=subprocess.PIPE, text=True)
    done = wait_lines(out, 20, run)
    doomed.send_signal(signal.SIGKILL)
    _, err = run.communicate(timeout=300)
    assert 20 <= done < CLIPS  # the kill fell mid-run, on a task in hand
    assert run.returncode == 1, err  # cut.flac
    results = lines(out)
    assert len(results) == len({r["file"] for r in results}) == CLIPS + 1  # cut.flac too
    assert [Path(r["file"]).name for r in results if "error" in r] == ["cut.flac"], err
    assert "died" not in err


def test_an_interrupted_client_resumes(
    cluster: str, processes: Processes, archive: Path, tmp_path: Path, report: Report
) -> None:
    """Ctrl-C to the client: its files so far are whole, it says how many and how to go on;
    the cluster drops the rest, and --resume adds them."""
    (archive / "cut.flac").unlink()  # a file that failed is tried again by --resume
    for i in range(180):
        (archive / f"copy{i:03d}.flac").symlink_to(archive / "03-01-01-01-01-01-01.flac")
    worker(processes, cluster)
    worker(processes, cluster)
    wait_for(cluster, 2)
    out = tmp_path / "results.jsonl"
    args = [str(archive), "--jsonl", "--out", str(out), "--scheduler", cluster]
    run = processes.start(sys.executable, "-m", "app", "analyze", *args, stderr=subprocess.PIPE,
                          text=True)  # fmt: skip
    wait_lines(out, 5, run)
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    before = lines(out)
    total = CLIPS + 180
    assert 5 <= len(before) < total
    assert err.strip().splitlines()[-1] == (
        f"Interrupted (Ctrl-C) after {len(before)} of {total} files. Their results are in "
        f"{out}; the same command with --resume adds the rest."
    )
    text = out.read_text()
    resumed = analyze(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_text().startswith(text)
    names = [r["file"] for r in lines(out)]
    assert len(names) == len(set(names)) == total
    report(
        "Command line",
        "Ctrl-C to analyze --scheduler (a dask cluster) mid-run, then the same with --resume",
        "exit 130 with the count and how to resume, the lines written whole; --resume adds "
        "the rest: every file once",
    )


def test_an_unreachable_scheduler_is_one_line(tmp_path: Path, report: Report) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clip = str(some_clips("ravdess", 1)[0])
    out = tmp_path / "never.jsonl"
    env = {**ENV, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    done = analyze(clip, "--jsonl", "--out", str(out), "--scheduler", f"tcp://127.0.0.1:{port}",
                   env=env)  # fmt: skip
    assert done.returncode == 2
    (said,) = done.stderr.splitlines()  # "(Connection refused)" too, if a try got that far
    assert said.startswith(f"error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port} in")
    assert said.endswith(" 2s: is it running, and its port open from here?") or said.endswith(
        " 2s (Connection refused): is it running, and its port open from here?"
    )
    assert not out.exists()  # nothing started, nothing written
    report("Command line", "analyze --scheduler tcp://HOST:PORT where no scheduler listens",
           f"exit 2: “{ports(said)}”")  # fmt: skip
    for bad, said in [("local:none", "local:N needs a number of workers"),
                      ("no port", "not tcp://HOST:PORT")]:  # fmt: skip
        done = analyze(clip, "--scheduler", bad)
        assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr


def test_unfit_workers_are_named(
    cluster: str, processes: Processes, archive: Path, tmp_path: Path, report: Report
) -> None:
    """A worker with another Emotion Meter, then one without the model: one line each, exit 2,
    and nothing analysed."""
    fake = tmp_path / "fake" / "emotion_meter-9.9.dist-info"  # another version, installed
    fake.mkdir(parents=True)
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: emotion-meter\nVersion: 9.9\n")
    without = worker(processes, cluster, EMOTION_METER_MODEL=str(tmp_path / "no-model"))
    other = worker(processes, cluster, PYTHONPATH=f"{fake.parent}{os.pathsep}{ENV['PYTHONPATH']}")
    wait_for(cluster, 2)
    done = analyze(str(archive), "--jsonl", "--scheduler", cluster)
    assert done.returncode == 2 and done.stdout == ""
    (said,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert said.startswith("error: worker tcp://127.0.0.1:") and said.endswith(
        " has emotion-meter 9.9, this computer 0.1.0: install the same versions everywhere "
        '(pip install "emotion-meter[cluster]")'
    )
    report("Command line", "analyze --scheduler: a worker with another emotion-meter version",
           f"exit 2: “{ports(said)}”")  # fmt: skip
    other.kill()
    other.wait()
    wait_for(cluster, 1)
    done = analyze(str(archive), "--jsonl", "--scheduler", cluster)
    assert done.returncode == 2 and done.stdout == ""
    (said,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert said.endswith(
        f": No emotion model found: {tmp_path}/no-model/emotion.json is missing. (give --model "
        "a folder that every worker sees)"
    )
    report("Command line", "analyze --scheduler: a worker without the model",
           f"exit 2: “{ports(said)}”")  # fmt: skip
    without.kill()
    without.wait()
    wait_for(cluster, 0)


def test_a_worker_that_cannot_see_the_audio_is_named(
    cluster: str, processes: Processes, archive: Path, report: Report
) -> None:
    """A worker whose file system lacks the folder the client walked (an empty one mounted over
    it, in a mount namespace of its own): the run stops at its first file and says why."""
    hide = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
            f'mount -t tmpfs none "{archive}" && exec "$0" "$@"']  # fmt: skip
    if subprocess.run([*hide[:4], "true"], capture_output=True).returncode != 0:
        pytest.skip("no user and mount namespaces here")
    worker(processes, cluster, *hide)
    wait_for(cluster, 1)
    done = analyze(str(archive), "--jsonl", "--scheduler", cluster)
    assert done.returncode == 2 and done.stdout == ""
    said = done.stderr.splitlines()[-1]
    assert f" cannot see {archive}/" in said and said.endswith(
        ", which this computer can: the audio must be on a path every worker sees (a shared "
        "file system, or a URL); 0 of 121 files written."
    )
    report("Command line", "analyze --scheduler: a worker that cannot see the audio's folder",
           f"exit 2: “{ports(said)}”")  # fmt: skip


def test_urls_and_one_speaker_on_the_cluster(
    cluster: str, processes: Processes, tmp_path: Path
) -> None:
    """--files-from with fsspec URLs (file://: the local back end), which this computer does
    not look at, and --same-speaker with a --model the workers load: the statistics are
    pooled from the workers, and the results are this machine's."""
    model = adaptive_copy(tmp_path)
    clips = some_clips("tess", 4)
    listing = tmp_path / "list.txt"
    missing = f"file://{tmp_path}/missing.flac"
    listing.write_text("".join(f"file://{c}\n" for c in clips) + f"\n{missing}\n")
    worker(processes, cluster)
    wait_for(cluster, 1)
    out, here = tmp_path / "cluster.jsonl", tmp_path / "here.jsonl"
    common = ["--jsonl", "--same-speaker", "--model", str(model)]
    done = analyze("--files-from", str(listing), *common, "--out", str(out),
                   "--scheduler", cluster)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"error: {missing} cannot be fetched: [Errno 2] No such file or directory: "
        f"'{tmp_path}/missing.flac'"
    )
    assert analyze(*map(str, clips), *common, "--out", str(here)).returncode == 0
    local = {r["file"]: r for r in lines(here)}
    results = [r for r in lines(out) if "error" not in r]
    assert sorted(r["file"] for r in results) == sorted(f"file://{c}" for c in clips)
    for r in results:
        alone = local[r["file"].removeprefix("file://")]
        assert r["normalisation"] == alone["normalisation"]
        assert r["normalisation"]["speaker"] == "same speaker: 4 files"
        assert r["probabilities"] == alone["probabilities"]
    assert analyze("--files-from", str(listing), "--jsonl").returncode == 2  # URLs need workers
    paths = "".join(f"{c}\n" for c in clips)  # a list here: the paths, from standard input
    done = subprocess.run([sys.executable, "-m", "app", "analyze", "--files-from", "-", *common],
                          input=paths, cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = [json.loads(x) for x in done.stdout.splitlines()]  # in the order they ended
    assert {r["file"]: r for r in listed} == local and len(listed) == len(clips)


def test_losing_the_scheduler_is_said(processes: Processes, archive: Path, tmp_path: Path) -> None:
    address = scheduler(processes, tmp_path)
    worker(processes, address)
    wait_for(address, 1)
    out = tmp_path / "results.jsonl"
    cmd = ["-m", "app", "analyze", str(archive), "--jsonl", "--out", str(out), "--scheduler",
           address]  # fmt: skip
    run = processes.start(sys.executable, *cmd, stderr=subprocess.PIPE, text=True)
    wait_lines(out, 5, run)
    processes.started[0].send_signal(signal.SIGKILL)  # the scheduler
    _, err = run.communicate(timeout=120)
    assert run.returncode == 2, err
    written = len(lines(out))
    assert err.splitlines()[-1] == (
        f"error: lost the Dask scheduler at {address}; {written} of {CLIPS + 1} files written. "
        f"Their results are in {out}; the same command with --resume adds the rest."
    )


def test_a_local_cluster_ends_with_the_client(archive: Path, tmp_path: Path) -> None:
    """--scheduler local:2: Ctrl-C at the terminal reaches the whole process group, the
    workers too; the client alone acts on it and ends them."""
    out = tmp_path / "results.jsonl"
    cmd = [sys.executable, "-m", "app", "analyze", str(archive), "--jsonl", "--out", str(out),
           "--scheduler", "local:2"]  # fmt: skip
    run = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)  # fmt: skip
    try:
        wait_lines(out, 10, run)
        os.killpg(run.pid, signal.SIGINT)
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.splitlines()[-1].startswith(f"Interrupted (Ctrl-C) after {len(lines(out))} of ")
    deadline = time.monotonic() + 10
    while in_group(run.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not in_group(run.pid)  # no worker left


def test_without_dask_the_extra_is_named() -> None:
    code = ("import sys; sys.modules['distributed'] = None; from app.__main__ import main; "
            f"sys.exit(main(['analyze', {str(some_clips('ravdess', 1)[0])!r}, "
            "'--scheduler', 'local:1']))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: --scheduler needs distributed, which is not installed: "
        'pip install "emotion-meter[cluster]"'
    )
