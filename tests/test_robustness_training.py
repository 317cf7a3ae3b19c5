"""Ctrl-C during training: the run ends with a message saying how to resume, and running the same
command again resumes from the saved epoch instead of starting over."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.data import datasets
from tests.robustness import Report, report_fixture  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 3
EPOCH_DONE = re.compile(r"^\d+/\d+ - .*loss")  # the line verbose=2 prints when an epoch ends


def command(out: Path, cache: Path) -> list[str]:
    return [
        sys.executable, "-m", "model_training", "train", "--datasets", str(datasets()),
        "--corpora", "ravdess", "--limit", "3", "--epochs", str(EPOCHS), "--augment",
        "--out", str(out), "--cache", str(cache), "--workers", "1",
    ]  # fmt: skip


def interrupt(out: Path, cache: Path, when: Callable[[str], bool]) -> tuple[int, str]:
    """Run the training and send it Ctrl-C once ``when`` is true of an output line; its exit
    status and whole output."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.Popen(
        command(out, cache), cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert run.stdout is not None
    lines = []
    deadline = time.monotonic() + 900
    for line in run.stdout:
        lines.append(line)
        if when(line):
            run.send_signal(signal.SIGINT)
            break
        assert time.monotonic() < deadline, "".join(lines[-20:])
    rest, _ = run.communicate(timeout=300)
    return run.returncode, "".join(lines) + rest


def again(out: Path, cache: Path) -> str:
    """The same command once more, to the end: its output."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    second = subprocess.run(
        command(out, cache), cwd=ROOT, env=env, text=True, capture_output=True, timeout=900,
    )  # fmt: skip
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    return second.stdout + second.stderr


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_ctrl_c_saves_a_run_that_resumes(tmp_path: Path, report: Report) -> None:
    pytest.importorskip("keras")
    out, cache = tmp_path / "run", tmp_path / "cache"

    def after_an_epoch(line: str) -> bool:
        if not EPOCH_DONE.match(line):
            return False
        resume = out / "resume"  # the progress line may come before the backup is written
        while not (resume / "training_metadata.json").exists():  # BackupAndRestore's
            time.sleep(0.02)
        return True

    code, log = interrupt(out, cache, after_an_epoch)
    assert code == 130, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    message = next(x for x in log.splitlines() if x.startswith("Training interrupted"))
    assert "run the same command again" in message and "resume from epoch 2" in message
    assert (out / "resume").is_dir()

    started = re.findall(r"^Epoch (\d+)/", again(out, cache), re.MULTILINE)
    assert started and started[0] == "2", started  # resumed, not started over
    epochs = [int(row["epoch"]) for row in csv.DictReader((out / "epochs.csv").open())]
    assert epochs == list(range(EPOCHS)), epochs  # every epoch once, across both runs
    assert not (out / "resume").exists()  # a finished run removes its backup
    report(
        "Training",
        "Ctrl-C (SIGINT) during fit, after the first epoch",
        f"exit 130, no traceback, “{message.strip()}”; the same command again resumes at "
        f"epoch {started[0]} and finishes (epochs.csv: {epochs})",
    )


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_ctrl_c_after_the_training_says_what_is_kept(tmp_path: Path, report: Report) -> None:
    """Ctrl-C while the trained model is scored, exported and calibrated (TensorFlow busy
    tracing and saving): a message and exit 130, never a traceback or another error."""
    pytest.importorskip("keras")
    from app import bundle as bundles

    out, cache = tmp_path / "run", tmp_path / "cache"
    code, log = interrupt(out, cache, lambda line: line.startswith("validation UA cold"))
    assert code == 130, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    message = next(x for x in log.splitlines() if x.startswith("Interrupted (Ctrl-C)"))
    assert str(cache) in message and "Run the same command again" in message
    again(out, cache)
    assert bundles.load(out).labels  # the second run wrote a whole bundle
    epochs = [int(row["epoch"]) for row in csv.DictReader((out / "epochs.csv").open())]
    assert epochs == list(range(EPOCHS)), epochs  # trained anew: its log too
    report(
        "Training",
        "Ctrl-C after the training, while the model is scored and exported",
        f"exit 130, no traceback, “{message.strip()}”; the same command again finishes",
    )
