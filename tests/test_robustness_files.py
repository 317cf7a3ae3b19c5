"""Bad, odd and huge audio files, through the core (``analyze_file``) and the inspector window:
each gives a clear message or a correct analysis, and the window keeps working."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import numpy as np
import pytest
import soundfile as sf
import soxr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from app import bundle as bundles
from app.analysis import Analysis
from app.audio import files
from app.audio.files import AudioFileError
from app.engine import Engine
from app.offline import analyze_file
from app.ui import theme
from app.ui.driver import Driver
from app.ui.main_window import MainWindow
from tests.data import datasets
from tests.robustness import Report, report_fixture  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[1]
CLIP = ("ravdess", "Actor_01", "03-01-05-02-01-01-01.flac")  # angry, loud to its end
RATE = 16000


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return files.load(datasets().joinpath(*CLIP), RATE)


@pytest.fixture(scope="module")
def reference(engine: Engine) -> Analysis:
    return analyze_file(datasets().joinpath(*CLIP), engine)


def wav_bytes(folder: Path, audio: np.ndarray) -> bytes:
    path = folder / "whole.wav"
    sf.write(path, audio, RATE, subtype="PCM_16")
    return path.read_bytes()


def variant(rate: int = RATE, channels: int = 1, subtype: str = "PCM_16") -> Callable:
    def make(folder: Path, audio: np.ndarray) -> Path:
        x = soxr.resample(audio, RATE, rate) if rate != RATE else audio
        path = folder / f"v-{rate}-{channels}-{subtype}.wav"
        sf.write(path, np.repeat(x[:, None] * 0.9, channels, axis=1), rate, subtype=subtype)
        return path

    return make


def written(name: str, data: Callable[[Path, np.ndarray], bytes]) -> Callable:
    def make(folder: Path, audio: np.ndarray) -> Path:
        path = folder / name
        path.write_bytes(data(folder, audio))
        return path

    return make


def folder_case(folder: Path, audio: np.ndarray) -> Path:
    (folder / "recordings.wav").mkdir()
    return folder / "recordings.wav"


def fifo_case(folder: Path, audio: np.ndarray) -> Path:
    os.mkfifo(folder / "pipe.wav")
    return folder / "pipe.wav"


def non_ascii(folder: Path, audio: np.ndarray) -> Path:
    sub = folder / "Aufnahmen äöü — 録音"
    sub.mkdir()
    path = sub / "émotion ½ 日本語.flac"
    sf.write(path, audio, RATE)
    return path


def silence(folder: Path, audio: np.ndarray) -> Path:
    path = folder / "silence.wav"
    sf.write(path, np.zeros(RATE * 6, np.float32), RATE, subtype="PCM_16")
    return path


def clipping_noise(folder: Path, audio: np.ndarray) -> Path:
    noise = np.random.default_rng(0).normal(0, 3, RATE * 6).clip(-1, 1).astype(np.float32)
    path = folder / "clipping.wav"
    sf.write(path, noise, RATE, subtype="PCM_16")
    return path


def all_nan(folder: Path, audio: np.ndarray) -> Path:
    path = folder / "nan.wav"
    sf.write(path, np.full(RATE * 2, np.nan, np.float32), RATE, subtype="FLOAT")
    return path


def link_loop(folder: Path, audio: np.ndarray) -> Path:
    (folder / "a.wav").symlink_to("b.wav")
    (folder / "b.wav").symlink_to("a.wav")
    return folder / "a.wav"


def dangling_link(folder: Path, audio: np.ndarray) -> Path:
    (folder / "take.wav").symlink_to(folder / "moved away.wav")
    return folder / "take.wav"


ERRORS = {  # case: (make the file, words the message must hold)
    "empty file (0 bytes)": (written("empty.wav", lambda f, a: b""), "empty"),
    "truncated header (first 30 bytes of a WAV)": (
        written("header.wav", lambda f, a: wav_bytes(f, a)[:30]),
        "not an audio file",
    ),
    "not audio at all (text named .wav)": (
        written("notes.wav", lambda f, a: b"Meeting notes, not audio\n" * 40),
        "not an audio file",
    ),
    "a directory": (folder_case, "folder"),
    "a FIFO (named pipe) that would block a reader": (fifo_case, "not a regular file"),
    "all samples NaN (a broken 32-bit float file)": (all_nan, "not a number"),
    "a symbolic link loop": (link_loop, "loops back on itself"),
    "a symbolic link to a file moved away": (dangling_link, "which does not exist"),
}
GOOD = {  # case: (make the file, whether the emotion must equal the clip's own)
    "truncated data (WAV cut in the middle of its samples)": (
        written("cut.wav", lambda f, a: wav_bytes(f, a)[: 44 + len(a)]),
        False,
    ),
    "8-bit unsigned PCM": (variant(subtype="PCM_U8"), False),
    "24-bit PCM": (variant(subtype="PCM_24"), True),
    "32-bit float": (variant(subtype="FLOAT"), True),
    "8 kHz (telephone rate)": (variant(rate=8000), False),
    "96 kHz": (variant(rate=96000), True),
    "6 channels (5.1)": (variant(rate=48000, channels=6), True),
    "non-ASCII folder and file name": (non_ascii, True),
}
QUIET = {"silence only (digital zeros)": silence, "clipping noise only": clipping_noise}


@pytest.fixture(scope="module")
def window(engine: Engine, tmp_path_factory) -> Iterator[MainWindow]:
    theme.apply(cast(QApplication, QApplication.instance() or QApplication([])))
    folder = tmp_path_factory.mktemp("window")
    w = MainWindow(engine, None, QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat))
    w.show()
    yield w
    w.close()


def inspect(qtbot, window: MainWindow, path: Path) -> tuple[Analysis | None, str]:
    driver = Driver(window)
    driver.last_error = ""
    driver.open_file(path)
    qtbot.waitUntil(lambda: driver.job is None, timeout=30_000)
    return window.inspector.analysis if driver.last_error == "" else None, driver.last_error


@pytest.mark.parametrize("case", list(ERRORS))
def test_unreadable_files_say_why(
    case: str, qtbot, window: MainWindow, engine: Engine, speech, tmp_path: Path, report: Report
) -> None:
    make, words = ERRORS[case]
    path = make(tmp_path, speech)
    with pytest.raises(AudioFileError, match=words) as caught:
        analyze_file(path, engine)
    analysis, message = inspect(qtbot, window, path)
    assert analysis is None and message == str(caught.value)
    assert window.isVisible()
    report("Audio files", case, f"message: “{caught.value}”")


@pytest.mark.parametrize("case", list(GOOD))
def test_odd_but_valid_files_are_analysed(
    case: str, qtbot, window: MainWindow, engine: Engine, speech, reference: Analysis,
    tmp_path: Path, report: Report,
) -> None:  # fmt: skip
    make, same = GOOD[case]
    path = make(tmp_path, speech)
    core = analyze_file(path, engine)
    label, probs = core.overall
    assert label is not None and core.speech.any()
    if same:
        assert label == reference.overall[0]
        np.testing.assert_allclose(probs, reference.overall[1], atol=0.05)
    shown, message = inspect(qtbot, window, path)
    assert message == "" and shown is not None and shown.overall[0] == label
    agrees = "the same emotion as the original" if label == reference.overall[0] else "differs"
    report(
        "Audio files",
        case,
        f"analysed: {core.duration:.2f} s, {len(core.ends)} windows, “{label}” "
        f"({agrees}{', within 0.05 per emotion' if same else ''})",
    )


@pytest.mark.parametrize("case", list(QUIET))
def test_no_speech_reads_as_silence(
    case: str, qtbot, window: MainWindow, engine: Engine, speech, tmp_path: Path, report: Report
) -> None:
    path = QUIET[case](tmp_path, speech)
    core = analyze_file(path, engine)
    assert not core.speech.any() and core.overall[0] is None
    shown, message = inspect(qtbot, window, path)
    assert message == "" and shown is not None and shown.overall[0] is None
    report("Audio files", case, f"analysed: {len(core.ends)} windows, all “silence”, no emotion")


NO_PERMISSION = """
import os, sys
from app.audio.files import AudioFileError, info  # before: Python itself may be root's alone
os.setgid(65534); os.setuid(65534)
try:
    info(sys.argv[1])
except AudioFileError as e:
    print(e)
"""


def test_unreadable_permission_says_so(engine: Engine, speech, report: Report) -> None:
    """Root reads everything, so the check runs in a child that drops to user ``nobody``."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user")
    folder = Path(tempfile.mkdtemp(prefix="perm-"))
    try:
        folder.chmod(0o755)
        path = folder / "private.wav"
        sf.write(path, speech, RATE)
        path.chmod(0o000)
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(NO_PERMISSION), str(path)],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if "PermissionError" in done.stderr and "setuid" in done.stderr:
            pytest.skip("cannot switch to user nobody here")
        assert done.returncode == 0, done.stderr
        if "No permission" not in done.stdout and "not an audio file" in done.stdout:
            pytest.skip(f"user nobody could not reach the file: {done.stdout}")
        assert "No permission to read private.wav" in done.stdout
        report(
            "Audio files",
            "no read permission (as user nobody)",
            f"message: “{done.stdout.strip()}”",
        )
    finally:
        shutil.rmtree(folder)


LONG_SECONDS = 2 * 3600
RSS_BOUND_MB = 250
LONG_CHILD = """
import resource, sys, time
from app import bundle
from app.engine import Engine
from app.offline import analyze_file


def kb(field):
    status = open("/proc/self/status").read().splitlines()
    return int(next(x for x in status if x.startswith(field + ":")).split()[1])


engine = Engine(bundle.load())
before = kb("VmRSS")  # resident now: imports may have peaked above what the analysis needs
started = time.monotonic()
a = analyze_file(sys.argv[1], engine)
took = time.monotonic() - started
# VmHWM, this process's own peak: getrusage's ru_maxrss also counts the forking parent's RSS
# (Linux keeps it across exec), so a child of a big pytest process would read 1 GB of "growth"
growth = (kb("VmHWM") - before) / 1024
assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >= kb("VmHWM")
print(a.duration, len(a.ends), int(a.speech.sum()), a.overall[0], growth, took)
"""


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_two_hour_file_in_bounded_memory(speech, tmp_path: Path, report: Report) -> None:
    """Two hours of speech and pauses, written block by block as 16 kHz FLAC. Decoded whole it
    would be 460 MB of float32 samples (at 16 kHz; more at the file's rate before resampling),
    so peak RSS growth under 250 MB proves it is streamed (peak: the child's VmHWM after the
    analysis, against its VmRSS just before it; not getrusage's ru_maxrss, which on Linux keeps
    the forking pytest process's size, over 1 GB once Keras is imported). What may grow: 30 s blocks
    (2 MB), the spectrogram capped at 30 000 columns (4.8 MB of float16 mel columns), pitch and
    loudness per frame (6 MB), and the per-window results (14 400 windows at the 0.5 s hop, each
    with 8 probabilities, 150 float16 attention weights, quality and prosody: about 10 MB); the
    rest of the bound is room for the allocator."""
    path = tmp_path / "two-hours.flac"
    pause = np.zeros(RATE * 2, np.float32)
    unit = np.concatenate([speech, pause])
    with sf.SoundFile(path, "w", RATE, 1, format="FLAC", subtype="PCM_16") as f:
        for _ in range(int(np.ceil(LONG_SECONDS * RATE / len(unit)))):
            f.write(unit)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(LONG_CHILD), str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=1700, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    duration, windows, spoken, label, growth, seconds = done.stdout.split()
    assert float(duration) >= LONG_SECONDS
    hop = bundles.load().hop_seconds
    assert int(windows) > LONG_SECONDS / hop * 0.99 and int(spoken) > 0 and label != "None"
    assert float(growth) < RSS_BOUND_MB, done.stdout
    report(
        "Audio files",
        "2-hour FLAC (real speech and pauses, made on the fly)",
        f"analysed: {float(duration) / 3600:.2f} h, {windows} windows, “{label}” overall, "
        f"peak RSS growth {float(growth):.0f} MB (bound {RSS_BOUND_MB} MB), "
        f"{float(seconds):.0f} s on a busy 2-core machine",
    )


FUZZ_EXAMPLES = 300


@pytest.fixture(scope="module")
def seed_wav(speech, tmp_path_factory) -> bytes:
    return wav_bytes(tmp_path_factory.mktemp("seed"), speech[: RATE // 2])


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzzed_audio_files_raise_only_audio_file_error(
    data, seed_wav: bytes, tmp_path: Path, report: Report
) -> None:
    """Random bytes, and a real WAV with random bytes overwritten or cut: the reader either
    reads it (finite mono float32) or raises AudioFileError; nothing else escapes."""
    report(
        "Fuzzing",
        "audio reader (files.info/load): random bytes, real WAV with overwritten/cut bytes",
        f"{FUZZ_EXAMPLES} examples per run (hypothesis): only AudioFileError escapes; "
        "what reads is finite mono float32",
    )
    kind = data.draw(st.sampled_from(["random", "mutated", "cut"]))
    if kind == "random":
        blob = data.draw(st.binary(max_size=2000))
    else:
        blob = bytearray(seed_wav)
        if kind == "cut":
            blob = blob[: data.draw(st.integers(0, len(blob)))]
        for _ in range(data.draw(st.integers(1, 8))):
            at = data.draw(st.integers(0, min(len(blob), 200)))  # mostly the header
            blob[at : at + 4] = data.draw(st.binary(min_size=1, max_size=4))
    suffix = data.draw(st.sampled_from([".wav", ".flac", ".ogg", ".mp3", ".aiff", ""]))
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(bytes(blob))
    try:
        meta = files.info(path)
        audio = files.load(path, RATE)
    except AudioFileError:
        return
    assert meta.frames > 0
    assert audio.dtype == np.float32 and audio.ndim == 1 and np.isfinite(audio).all()


def test_several_files_some_bad_say_every_error_once(
    qtbot, window: MainWindow, speech, tmp_path: Path, report: Report
) -> None:
    """Opened together (the command line, a drop): one message names every bad file, only the
    good ones become recent files, the last good one is shown."""
    driver = Driver(window)
    good = [variant()(tmp_path, speech), non_ascii(tmp_path, speech)]
    bad = [written("empty.wav", lambda f, a: b"")(tmp_path, speech), link_loop(tmp_path, speech),
           written("notes.wav", lambda f, a: b"notes\n" * 40)(tmp_path, speech)]  # fmt: skip
    window.settings.setValue("recent", [])
    driver.last_error = ""
    driver.open_files([bad[0], good[0], bad[1], good[1], bad[2]])
    qtbot.waitUntil(lambda: driver.job is None, timeout=30_000)
    message = driver.last_error
    assert all(p.name in message for p in bad) and message.count("\n") == len(bad) - 1
    assert driver.recent_files() == [str(p) for p in reversed(good)]
    assert window.inspector.analysis is not None and window.inspector.analysis.path == good[1]
    nan = all_nan(tmp_path, speech)  # opens, then fails while analysed: no recent file either
    driver.open_file(nan)
    qtbot.waitUntil(lambda: driver.job is None, timeout=30_000)
    assert "not a number" in driver.last_error and str(nan) not in driver.recent_files()
    report(
        "Audio files",
        "several files opened at once in the window, three of them bad",
        "one message naming each (“" + message.replace("\n", "”, “") + "”); only the two good "
        "ones in Recent, the last good one shown",
    )


def test_the_inspector_heading_says_uncertain_as_the_cli_does(
    qtbot, window: MainWindow, speech, tmp_path: Path
) -> None:
    path = tmp_path / "snippet.wav"
    sf.write(path, speech[RATE : RATE + RATE // 3], RATE)
    shown, message = inspect(qtbot, window, path)
    assert message == "" and shown is not None and shown.overall_uncertain
    assert "overall: uncertain (perhaps" in window.inspector.info.text()
