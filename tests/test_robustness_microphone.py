"""Microphone faults on the tests' own PulseAudio device (tests/pulse.py): no source, the device
unplugged while recording, a rate it refuses, overflows when the analysis falls behind. The
session stops or recovers with a message; its results and recorded audio are kept and export."""

from __future__ import annotations

import json
import queue
import time
from pathlib import Path
from typing import cast

import pytest
import soundfile as sf
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from app.analyzer import LiveAnalyzer
from app.audio.sources import Microphone, SourceError
from app.engine import Engine
from app.ui import theme
from app.ui.driver import Driver
from app.ui.main_window import MainWindow
from app.worker import LiveWorker, Tick
from tests.data import datasets
from tests.pulse import _pactl, virtual_microphone
from tests.robustness import Report, report_fixture  # noqa: F401  (the fixture)

pytestmark = pytest.mark.audio
CLIP = ("ravdess", "Actor_01", "03-01-05-02-01-01-01.flac")


def make_window(qtbot, tmp_path: Path, engine: Engine) -> MainWindow:
    theme.apply(cast(QApplication, QApplication.instance()))
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(engine, None, settings)
    qtbot.addWidget(window)
    window.show()
    return window


def unload(env: dict[str, str], argument: str) -> None:
    """Unplug: unload the module whose arguments hold ``argument``."""
    modules = _pactl(env, "list", "short", "modules").stdout.splitlines()
    index = next(line.split("\t")[0] for line in modules if argument in line)
    done = _pactl(env, "unload-module", index)
    assert done.returncode == 0, done.stderr


def test_no_source_at_all(qtbot, tmp_path: Path, engine: Engine, report: Report) -> None:
    """The sound server runs but offers no microphone (every sink and so every monitor gone)."""
    with virtual_microphone(tmp_path) as mic:
        for name in ("module-loopback", "sink_name=vmic", "sink_name=drain"):
            unload(mic.env, name)
        window = make_window(qtbot, tmp_path, engine)
        driver = Driver(window)
        assert not driver.start_live()
        assert driver.worker is None and window.isVisible()
        message = driver.last_error
        assert "microphone" in message.lower() or "could not open" in message.lower(), message
        driver.open_file(datasets().joinpath(*CLIP))  # the rest of the app works
        qtbot.waitUntil(lambda: driver.job is None, timeout=20_000)
        assert window.inspector.analysis is not None
        window.close()
    report("Microphone", "no input device (sound server without sources)", f"message: “{message}”;"
           " the window stays up and files still open")  # fmt: skip


def test_unplugged_while_recording_keeps_everything(
    qtbot, tmp_path: Path, engine: Engine, report: Report
) -> None:
    """The only microphone goes away (its sink, and every other source with it)."""
    wav = tmp_path / "take.wav"
    with virtual_microphone(tmp_path) as mic:
        window = make_window(qtbot, tmp_path, engine)
        driver = Driver(window)
        assert driver.start_live(), driver.last_error
        assert driver.start_recording(wav)
        player = mic.play(datasets().joinpath(*CLIP))
        qtbot.waitUntil(lambda: any(r.speech for r in driver.session), timeout=20_000)
        player.wait(10)
        heard = len(driver.session)
        unplugged = time.monotonic()
        for name in ("module-loopback", "sink_name=vmic", "sink_name=drain"):
            unload(mic.env, name)
        qtbot.waitUntil(lambda: driver.worker is None, timeout=15_000)
        took = time.monotonic() - unplugged
        message = driver.last_error
        assert "unplugged" in message, message
        assert window.isVisible() and len(driver.session) >= heard
        audio, rate = sf.read(wav)  # the recording up to the fault, renamed into place
        assert len(audio) / rate > 3.0
        results = json.loads(wav.with_suffix(".json").read_text())
        assert any(w["speech"] for w in results["windows"])
        exported = driver.export_timeline(tmp_path / "session.csv")
        assert exported is not None and len(exported.read_text().splitlines()) > heard // 2
        window.close()
    report(
        "Microphone",
        "the only input unplugged mid-session, while recording (null sinks unloaded)",
        f"stops in {took:.1f} s with “{message}”; the WAV ({len(audio) / rate:.1f} s), its "
        ".json/.csv and the session's results are kept and export",
    )


def test_unplugged_with_another_source_left_recovers(
    qtbot, tmp_path: Path, engine: Engine, report: Report
) -> None:
    """PulseAudio moves the stream to the source that remains: the session carries on."""
    with virtual_microphone(tmp_path) as mic:
        window = make_window(qtbot, tmp_path, engine)
        driver = Driver(window)
        assert driver.start_live(), driver.last_error
        qtbot.waitUntil(lambda: len(driver.session) > 0, timeout=20_000)
        unload(mic.env, "sink_name=vmic")
        before = len(driver.session)
        qtbot.waitUntil(lambda: len(driver.session) > before + 8, timeout=15_000)
        assert driver.worker is not None and driver.worker.is_alive()
        driver.stop_live()
        window.close()
    report("Microphone", "input unplugged mid-session, another source left",
           "recovers: PulseAudio moves the stream to the remaining source and the session "
           "goes on (no message: PortAudio reports nothing)")  # fmt: skip


def test_refused_rate_then_a_working_one(tmp_path: Path, report: Report) -> None:
    with virtual_microphone(tmp_path):
        with pytest.raises(SourceError, match="refused the sample rate") as caught:
            Microphone(sample_rate=10_000_000)
        microphone = Microphone()  # the default rate, or the first fallback the device takes
        microphone.start()
        try:
            assert microphone.fault is None
        finally:
            microphone.stop()
    report(
        "Microphone",
        "a sample rate the device refuses (10 MHz asked)",
        f"message: “{caught.value}”; without a forced rate it opens at {microphone.sample_rate} Hz",
    )


def test_overflows_are_counted_and_the_session_goes_on(
    tmp_path: Path, engine: Engine, report: Report
) -> None:
    """A ring buffer of 50 ms read every 300 ms: the analysis falls behind by design."""
    with virtual_microphone(tmp_path) as mic:
        microphone = Microphone(buffer_seconds=0.05)
        out: queue.Queue[object] = queue.Queue()
        worker = LiveWorker(microphone, LiveAnalyzer(engine, microphone.sample_rate), out, 0.3)
        worker.start()
        player = mic.play(datasets().joinpath(*CLIP))
        try:
            time.sleep(3)
            assert worker.is_alive() and microphone.fault is None
        finally:
            player.wait(10)
            worker.stop()
        ticks: list[Tick] = []
        while not out.empty():
            item = out.get_nowait()
            if isinstance(item, Tick):
                ticks.append(item)
        assert ticks and ticks[-1].dropped > 0
        assert not worker.is_alive() and not microphone.running
    report("Microphone", "overflows under load (50 ms buffer read every 300 ms)",
           f"{ticks[-1].dropped} blocks counted as dropped (shown in the status bar); the "
           f"session goes on ({len(ticks)} updates) and stops cleanly")  # fmt: skip
