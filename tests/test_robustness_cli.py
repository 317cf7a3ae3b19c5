"""What a careless ``analyze`` run must not do (issue 32): destroy an input by writing over it,
take something that is not its output for its output, interleave with a second run, write a
number strict JSON readers refuse, or take an option that makes no sense. Real files, real
processes; every input is compared byte for byte after the run."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.audio import files
from tests.data import datasets, some_clips
from tests.robustness import Report, report_fixture  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000


def analyze(*args: str | Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "app", "analyze", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)


def refuse(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON")


def strict(text: str) -> object:
    """JSON as a strict reader takes it: NaN and Infinity are errors."""
    return json.loads(text, parse_constant=refuse)


def finite_cells(text: str) -> int:
    """The numeric cells of a CSV, each checked to be finite; how many there were."""
    count = 0
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            try:
                value = float(cell)
            except ValueError:
                continue
            assert math.isfinite(value), f"{cell!r} in {row}"
            count += 1
    return count


@pytest.fixture
def clips(tmp_path: Path) -> list[Path]:
    """Two recordings of the user's, in their own folder."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    out = []
    for i, clip in enumerate(some_clips("ravdess", 2)):
        out.append(folder / f"take{i}.flac")
        out[-1].write_bytes(clip.read_bytes())
    return out


def same_as_input_cases(clips: list[Path], tmp_path: Path) -> dict[str, tuple[list, Path]]:
    link = tmp_path / "link.flac"
    link.symlink_to(clips[1])
    hard = tmp_path / "hard.flac"
    hard.hardlink_to(clips[0])
    return {
        "--out naming an input": ([*clips], clips[1]),
        "--out naming a file inside an input folder": ([clips[0].parent], clips[0]),
        "--out a symlink to an input": ([*clips], link),
        "--out a hard link to an input": ([clips[1], hard], clips[0]),
    }


@pytest.mark.parametrize("form", ["--json", "--jsonl", "--csv"])
def test_an_output_that_is_an_input_is_refused(
    clips: list[Path], tmp_path: Path, form: str, report: Report
) -> None:
    before = {p: p.read_bytes() for p in clips}
    for case, (inputs, out) in same_as_input_cases(clips, tmp_path).items():
        done = analyze(*inputs, form, "--out", out)
        assert done.returncode == 2, (case, done.stderr)
        assert "would destroy it" in done.stderr and "Traceback" not in done.stderr, case
        assert {p: p.read_bytes() for p in clips} == before, case
        if form == "--json":
            said = done.stderr.strip().splitlines()[-1]
            report("Command line", f"analyze {case}", f"exit 2, the recording untouched: “{said}”")


def results_files(tmp_path: Path, clips: list[Path]) -> dict[str, Path]:
    jsonl, table = tmp_path / "results.jsonl", tmp_path / "results.csv"
    assert analyze(clips[0], "--jsonl", "--out", jsonl).returncode == 0
    assert analyze(clips[0], "--csv", "--out", table).returncode == 0
    notes = tmp_path / "notes.txt"
    notes.write_text("Meeting notes\nnot results\n")
    other = tmp_path / "other.jsonl"
    other.write_text('{"name": "a JSON line, but not ours"}\n')
    return {"jsonl": jsonl, "csv": table, "notes": notes, "other": other}


RESUME = {  # case: (the file resumed, its form)
    "--resume --csv on a JSON Lines results file": ("jsonl", "--csv"),
    "--resume --jsonl on a CSV results file": ("csv", "--jsonl"),
    "--resume --jsonl on a text file (notes.txt)": ("notes", "--jsonl"),
    "--resume --csv on a text file (notes.txt)": ("notes", "--csv"),
    "--resume --jsonl on JSON Lines of another program": ("other", "--jsonl"),
    "--resume --csv on an audio file (not an input)": ("audio", "--csv"),
}


def test_resume_touches_only_its_own_output(
    clips: list[Path], tmp_path: Path, report: Report
) -> None:
    made = {**results_files(tmp_path, clips), "audio": tmp_path / "old.flac"}
    made["audio"].write_bytes(clips[1].read_bytes())
    for case, (name, form) in RESUME.items():
        path = made[name]
        before = path.read_bytes()
        done = analyze(*clips, form, "--resume", "--out", path)
        assert done.returncode == 2, (case, done.stderr)
        said = done.stderr.strip().splitlines()[-1]
        assert "--resume left it as it was" in said and "Traceback" not in done.stderr, case
        assert path.read_bytes() == before, case
        report("Command line", f"analyze {case}", f"exit 2, the file untouched: “{said}”")
    for name, form in (("jsonl", "--jsonl"), ("csv", "--csv")):  # its own: continued
        done = analyze(*clips, form, "--resume", "--out", made[name])
        assert done.returncode == 0, done.stderr


def test_a_second_run_writing_the_same_output_is_refused(tmp_path: Path, report: Report) -> None:
    """The first run holds the file for its whole run; the second says so and leaves it."""
    speech = files.load(datasets() / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac", RATE)
    long = tmp_path / "long.flac"
    sf.write(long, np.tile(speech, 75), RATE)  # 5 minutes
    inputs = []
    for i in range(8):  # the first run lasts well beyond the second's start
        inputs.append(tmp_path / f"copy{i}.flac")
        inputs[-1].symlink_to(long)
    out = tmp_path / "results.jsonl"
    cmd = [sys.executable, "-m", "app", "analyze", *map(str, inputs), "--jsonl", "--out",
           str(out), "--jobs", "1"]  # fmt: skip
    first = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not out.exists():
        time.sleep(0.05)
    second = analyze(*inputs[:2], "--jsonl", "--out", out)
    still = first.poll() is None
    _, err = first.communicate(timeout=600)
    assert still, "the first run ended before the second tried: the case did not happen"
    assert second.returncode == 2, second.stderr
    said = second.stderr.strip().splitlines()[-1]
    assert "another run is writing" in said
    assert first.returncode == 0, err
    lines = out.read_text().splitlines()
    assert [strict(x)["file"] for x in lines] == list(map(str, inputs))  # type: ignore[index]
    report(
        "Command line",
        "two runs writing the same --out at once (--jsonl)",
        f"the second: exit 2, “{said}”; the first's results whole, every file once",
    )


def odd_numbers_folder(tmp_path: Path) -> Path:
    """A clip and the files whose figures were not numbers: 10 ms of sound (its level was
    -Infinity), digital silence, and a clip cut to 0.3 s."""
    folder = tmp_path / "odd"
    folder.mkdir()
    speech = files.load(some_clips("ravdess", 1)[0], RATE)
    sf.write(folder / "clip.wav", speech, RATE)
    sf.write(folder / "ten-ms.wav", speech[RATE : RATE + RATE // 100], RATE)
    sf.write(folder / "one-sample.wav", speech[RATE : RATE + 1], RATE)
    sf.write(folder / "zeros.wav", np.zeros(RATE, np.float32), RATE)
    sf.write(folder / "snippet.wav", speech[RATE : RATE + RATE * 3 // 10], RATE)
    return folder


def test_every_output_is_strict_json_or_finite_csv(tmp_path: Path, report: Report) -> None:
    folder = odd_numbers_folder(tmp_path)
    as_json = analyze(folder, "--json")
    assert as_json.returncode == 0, as_json.stderr
    array = strict(as_json.stdout)
    assert isinstance(array, list) and len(array) == 5
    ten = next(r for r in array if r["file"].endswith("ten-ms.wav"))
    lines = analyze(folder, "--jsonl").stdout.splitlines()
    assert len(lines) == 5 and all(strict(line) for line in lines)
    level = json.dumps(ten["quality"]["level_db"])
    table = analyze(folder, "--csv")
    assert table.returncode == 0 and finite_cells(table.stdout) > 20
    report(
        "Command line",
        "analyze of 10 ms, 1 sample, digital zeros and a 0.3 s snippet (--json, --jsonl, --csv)",
        f"strict JSON (no NaN/Infinity: the 10 ms file's level is {level}), "
        "every CSV number finite",
    )


BAD_OPTIONS = {
    "--jobs 0": ["--jobs", "0"],
    "--jobs -1": ["--jobs", "-1"],
    "--jobs two": ["--jobs", "two"],
    "--time-constant -5": ["--adapt", "--time-constant", "-5"],
    "--time-constant 0": ["--adapt", "--time-constant", "0"],
    "--time-constant nan": ["--adapt", "--time-constant", "nan"],
    "--time-constant inf": ["--adapt", "--time-constant", "inf"],
    "--time-constant without --adapt": ["--time-constant", "5"],
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_options_that_make_no_sense_are_argparse_errors(
    case: str, clips: list[Path], report: Report
) -> None:
    done = analyze(clips[0], *BAD_OPTIONS[case])
    assert done.returncode == 2 and done.stdout == ""
    said = done.stderr.strip().splitlines()[-1]
    assert said.startswith("emotion-meter analyze: error:"), said
    report("Command line", f"analyze {case}", f"exit 2: “{said}”")


def test_more_jobs_than_cores_is_capped_with_a_note(clips: list[Path], report: Report) -> None:
    done = analyze(*clips, "--jobs", "100", "--jsonl")
    assert done.returncode == 0, done.stderr
    said = done.stderr.strip().splitlines()[0]
    assert said.startswith("note: --jobs 100 is more than the") and "using" in said
    report("Command line", "analyze --jobs 100", f"runs on the cores there are: “{said}”")


def test_the_cold_model_warning_shows_whatever_the_time_constant(
    clips: list[Path], report: Report
) -> None:
    """The bundled model was trained cold; --time-constant used to hide that and adapt it."""
    cold = analyze(clips[0], "--adapt", "--jsonl")
    timed = analyze(clips[0], "--adapt", "--time-constant", "5", "--jsonl")
    warning = "warning: this model was trained without speaker adaptation; analysing cold"
    for done in (cold, timed):
        assert done.returncode == 0 and warning in done.stderr, done.stderr
    assert strict(timed.stdout)["normalisation"]["mode"] == "cold"  # type: ignore[index]
    report(
        "Command line",
        "analyze --adapt --time-constant 5 with a model trained cold",
        f"“{warning}”, as without --time-constant",
    )


def test_a_folder_names_its_broken_audio_and_cut_files(tmp_path: Path, report: Report) -> None:
    """Files named as audio that do not open are errors, named; a WAV cut short is analysed
    with a warning naming it; a note is still only counted."""
    folder = tmp_path / "session"
    folder.mkdir()
    speech = files.load(some_clips("ravdess", 1)[0], RATE)
    sf.write(folder / "whole.wav", speech, RATE, subtype="PCM_16")
    wav = (folder / "whole.wav").read_bytes()
    (folder / "cut.wav").write_bytes(wav[: len(wav) // 2])
    (folder / "empty.wav").write_bytes(b"")
    (folder / "header only.wav").write_bytes(wav[:30])
    (folder / "notes.txt").write_text("what was said")
    done = analyze(folder, "--jsonl")
    assert done.returncode == 1, done.stderr
    said = done.stderr.strip().splitlines()
    errors = sorted(line for line in said if line.startswith("error:"))
    assert len(errors) == 2 and "empty.wav" in errors[0] and "header only.wav" in errors[1]
    warning = next(line for line in said if line.startswith("warning:"))
    assert "cut.wav is cut short" in warning
    assert "note: 1 files in the folders are not audio; skipped" in said
    results = {Path(r["file"]).name: r for r in map(strict, done.stdout.splitlines())}
    assert results["cut.wav"]["warning"] in warning and "emotion" in results["whole.wav"]
    report(
        "Command line",
        "analyze over a folder with an empty .wav, a .wav of only a header, a WAV cut in half",
        f"exit 1; each named: “{errors[0]}”, “{errors[1]}”; the cut one analysed: “{warning}”",
    )


def test_a_damaged_mp3_is_analysed_without_decoder_noise(tmp_path: Path, report: Report) -> None:
    """libmpg123 printed its resync notes on standard error; our own messages still show."""
    speech = files.load(some_clips("ravdess", 1)[0], RATE)
    clean = tmp_path / "clean.mp3"
    sf.write(clean, speech, RATE, format="MP3")
    data = bytearray(clean.read_bytes())
    for at in range(2000, len(data), 1500):
        data[at : at + 40] = bytes(40)
    damaged = tmp_path / "damaged.mp3"
    damaged.write_bytes(bytes(data))
    (tmp_path / "empty.wav").write_bytes(b"")
    done = analyze(damaged, tmp_path / "empty.wav", "--jsonl", "--jobs", "1")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: empty.wav is empty (0 bytes).",
    ], done.stderr
    assert strict(done.stdout.splitlines()[0])["emotion"]  # type: ignore[index]
    report(
        "Audio files",
        "MP3 with damaged frames (zeroed every 1.5 kB)",
        "analysed; libmpg123's resync notes no longer reach the terminal, our messages do",
    )
