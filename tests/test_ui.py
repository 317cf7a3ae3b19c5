"""The window, offscreen, with real parts: live sessions fed from a file played in real time,
recordings analysed on the worker thread, bad input, exports, a screenshot with real data."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
import soundfile as sf
from PySide6.QtCore import QMimeData, QPointF, QRect, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app.audio import sources
from app.engine import Engine
from app.features import FeatureSettings
from app.ui import theme
from app.ui.driver import Driver
from app.ui.main_window import INSPECTOR_TAB, LIVE_TAB, MainWindow
from app.ui.views.live_panel import LivePanel
from app.ui.views.strips import LiveStrips
from tests.signals import needs_proc, wait_for_handler

ROOT = Path(__file__).resolve().parents[1]
OUR_THREADS = {"live-worker", "file-source", "analysis", "player-feed"}


def make_window(qtbot, settings_file: Path, engine: Engine | None, problem: str | None = None):
    theme.apply(QApplication.instance())
    settings = QSettings(str(settings_file), QSettings.Format.IniFormat)
    window = MainWindow(engine, problem, settings)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    return window


@pytest.fixture
def window(qtbot, tmp_path: Path, engine: Engine) -> Iterator[MainWindow]:
    w = make_window(qtbot, tmp_path / "settings.ini", engine)
    yield w
    w.close()


def our_threads() -> set[str]:
    return {t.name for t in threading.enumerate()} & OUR_THREADS


def variance(widget: QWidget, area: QRect | None = None) -> float:
    """Pixel variance of a widget as drawn (of ``area``, or a plot's data area only, not its
    axes): zero for a blank view."""
    if area is None and isinstance(widget, pg.PlotWidget):
        area = widget.mapFromScene(widget.getViewBox().sceneBoundingRect()).boundingRect()
    if area is not None:
        image = widget.grab(area.adjusted(2, 2, -2, -2)).toImage()
    else:
        image = widget.grab().toImage()
    image = image.convertToFormat(QImage.Format.Format_Grayscale8)
    pixels = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    return float(pixels.reshape(image.height(), image.bytesPerLine())[:, : image.width()].var())


def views(panel) -> list[tuple[QWidget, QRect | None]]:
    """The views of ``panel`` that show data, and where (None: a plot's data area)."""
    if isinstance(panel, LivePanel):
        s = panel.strips
        rects = (s.spectrogram_rect, s.attention_rect, s.voice_rect)
        strips: list[tuple[QWidget, QRect | None]] = [(s, r.toAlignedRect()) for r in rects]
    else:
        strips = [(panel.spectrogram, None), (panel.attention, None)]
    return [*strips, (panel.timeline, None), (panel.bars.plot, None)]


def wait_analysis(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: Driver(window).job is None, timeout=20_000)


def inspecting(qtbot, tmp_path: Path, engine: Engine, clip: Path):
    """A new window with ``clip`` analysed in its inspector, and that analysis."""
    window = make_window(qtbot, tmp_path / "s.ini", engine)
    Driver(window).open_file(clip)
    wait_analysis(qtbot, window)
    analysis = window.inspector.analysis
    assert analysis is not None
    return window, analysis


def test_live_session_from_a_file_updates_every_view(qtbot, window: MainWindow, clip: Path):
    driver = Driver(window)
    assert driver.start_file_input(clip, speed=2.0)
    live = window.live
    qtbot.waitUntil(lambda: live.latest is not None and not live.latest.provisional
                    and live.timeline.points >= 2, timeout=10_000)  # fmt: skip
    assert live.strips.columns_shown > 150  # 1.5 s of 10 ms frames at least
    assert live.strips.attention is not None and live.strips.judged is not None
    winner = live.bars.winner.text()
    assert winner in [theme.label_text(x) for x in window.labels] + ["Silence", "Uncertain"]
    assert window.device_label.text() == f"File: {clip.name}"
    assert window.rate_label.text() == "16 kHz"
    assert "ms" in window.latency_label.text()
    assert window.dropped_label.text() == "dropped 0"
    assert live.frames_per_second > 0  # its rate is a benchmark figure, never asserted here
    qtbot.waitUntil(lambda: driver.worker is None, timeout=10_000)  # stops at the file's end
    assert "end of" in window.statusBar().currentMessage()
    assert not our_threads()


def test_live_spectrogram_colours_each_column_where_its_frame_is(qtbot) -> None:
    """New columns enter at the right (0 s ago), older ones move left and drop out, each in the
    colour map's colour for its level, lowest mel band at the bottom, across the wrap of the
    doubled image."""
    settings = FeatureSettings(kind="logmel")
    view = LiveStrips(settings, seconds=1.0)  # 100 columns of 10 ms
    qtbot.addWidget(view)
    view.resize(700, 300)
    view.show()
    lo, hi = theme.SPECTROGRAM_LEVELS
    colours = theme.lookup_table(theme.SPECTROGRAM_COLORMAP)

    def pixel(seconds_ago: float, row: float) -> np.ndarray:
        QApplication.processEvents()
        image = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
        r = view.spectrogram_rect
        x = float(view.x_at(-seconds_ago))
        y = r.bottom() - (row + 0.5) / settings.n_mels * r.height()
        argb = image.pixel(int(x), int(y))
        return np.array([argb >> 16 & 255, argb >> 8 & 255, argb & 255])

    def frames(level: float, n: int) -> np.ndarray:
        return np.full((n, settings.n_mels), level, np.float32)

    assert np.abs(pixel(0.5, 32) - colours[0]).max() <= 2  # empty: the lowest level
    for _ in range(7):  # 140 columns in pieces of 20: the doubled image wraps
        view.append_columns(frames(lo, 20))
    view.append_columns(frames(hi, 30))
    view.append_columns(frames((lo + hi) / 2, 10))
    assert np.abs(pixel(0.05, 32) - colours[127]).max() <= 4  # the newest 0.1 s: middle level
    assert np.abs(pixel(0.25, 32) - colours[255]).max() <= 2  # 0.1-0.4 s ago: loud
    assert np.abs(pixel(0.8, 32) - colours[0]).max() <= 2  # before: quiet
    view.append_columns(frames(hi, 150))  # more than the width: only the newest 100 kept
    assert np.abs(pixel(0.9, 10) - colours[255]).max() <= 2
    high = frames(lo, 10)
    high[:, -8:] = hi  # loud only in the top bands
    view.append_columns(high)
    assert np.abs(pixel(0.05, settings.n_mels - 4) - colours[255]).max() <= 2
    assert np.abs(pixel(0.05, 4) - colours[0]).max() <= 2
    assert view.columns_shown == 140 + 40 + 150 + 10


def test_stop_and_restart(qtbot, window: MainWindow, clip: Path):
    driver = Driver(window)
    assert driver.start_file_input(clip, speed=2.0)
    qtbot.waitUntil(lambda: window.live.strips.columns_shown > 20, timeout=5_000)
    driver.stop_live()
    assert driver.worker is None and not our_threads()
    assert window.start_action.text() == "▶ Start"
    assert driver.start_file_input(clip, speed=2.0)
    assert window.live.strips.columns_shown < 20  # a new session starts empty
    qtbot.waitUntil(lambda: window.live.strips.columns_shown > 20, timeout=5_000)
    assert window.start_action.text() == "■ Stop"
    driver.stop_live()
    assert not our_threads()


def test_hop_and_smoothing_controls_reach_the_running_analysis(
    qtbot, window: MainWindow, clip: Path
):
    driver = Driver(window)
    assert driver.start_file_input(clip, speed=2.0)
    window.hop_spin.setValue(0.5)
    window.smoothing_spin.setValue(0.2)
    analyzer = driver.worker.analyzer
    qtbot.waitUntil(lambda: analyzer.hop_seconds == 0.5 and analyzer.smoothing == 0.2)
    driver.stop_live()
    assert window.settings.value("hop", type=float) == 0.5


def test_close_mid_session_leaves_no_thread_alive(qtbot, tmp_path: Path, engine, clip: Path):
    before = set(threading.enumerate())
    w = make_window(qtbot, tmp_path / "s.ini", engine)
    driver = Driver(w)
    assert driver.start_file_input(clip)
    assert driver.start_recording(tmp_path / "session.wav")
    driver.open_file(clip)  # an analysis in flight too
    qtbot.wait(300)
    assert our_threads()
    w.close()
    assert set(threading.enumerate()) <= before
    assert (tmp_path / "session.wav").is_file()  # the recording was finished, not lost
    assert not list(tmp_path.glob(".*.part"))


def test_opening_a_file_fills_the_timeline_and_clicks_select_a_window(
    qtbot, window: MainWindow, clip: Path
):
    driver = Driver(window)
    driver.open_file(clip)
    assert window.tabs.currentIndex() == INSPECTOR_TAB
    wait_analysis(qtbot, window)
    inspector = window.inspector
    a = inspector.analysis
    assert a is not None and len(a.ends) >= 3
    assert inspector.timeline.points == len(a.ends)
    assert inspector.spectrogram.columns_shown == len(a.spectrogram)
    assert "overall" in inspector.info.text()
    assert inspector.play_button.isEnabled()
    assert str(clip.resolve()) in driver.recent_files()

    # click on the timeline at about 80 % of the file: the cursor and the window follow
    plot = inspector.timeline
    box = plot.getViewBox()
    scene_point = box.mapViewToScene(QPointF(0.8 * a.duration, 0.5))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=plot.mapFromScene(scene_point))
    assert inspector.cursor_time == pytest.approx(0.8 * a.duration, abs=0.05)
    k = int(np.argmin(np.abs(a.ends - a.window_seconds / 2 - inspector.cursor_time)))
    start, end = inspector.spectrogram.region.span
    assert end == pytest.approx(a.ends[k]) and start == pytest.approx(a.ends[k] - a.window_seconds)
    assert f"{a.ends[k]:.2f} s" in inspector.bars.detail.text()


def test_exports_are_complete_files(qtbot, window: MainWindow, clip: Path, tmp_path: Path):
    driver = Driver(window)
    driver.open_file(clip)
    wait_analysis(qtbot, window)
    a = window.inspector.analysis
    csv_path = driver.export_timeline(tmp_path / "timeline.csv")
    json_path = driver.export_timeline(tmp_path / "timeline.json")
    png_path = driver.save_screenshot(tmp_path / "window.png")
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == len(a.ends)
    n = len(window.labels)
    assert list(rows[0])[5 : 5 + n] == list(window.labels)
    assert list(rows[0])[5 + n :] == ["level_db", "snr_db", "clipping", "bandwidth_hz", "flags",
                                      "pitch_hz", "pitch_range_st", "loudness_db", "tempo",
                                      "valence", "arousal"]  # fmt: skip
    assert all(float(r["bandwidth_hz"]) > 5000 and r["flags"] == "" for r in rows)
    spoken = [r for r in rows if r["speech"] == "1"]
    assert spoken and all(60 < float(r["pitch_hz"]) < 500 for r in spoken)
    assert all(-1 <= float(r["valence"]) <= 1 for r in spoken)
    document = json.loads(json_path.read_text())
    assert document["labels"] == list(window.labels) and len(document["windows"]) == len(a.ends)
    assert QImage(str(png_path)).width() == window.width()
    assert not list(tmp_path.glob(".*.part"))

    window.tabs.setCurrentIndex(LIVE_TAB)
    assert driver.export_timeline(tmp_path / "live.csv") is None  # nothing yet, and says so
    assert "Nothing to export" in window.statusBar().currentMessage()


def test_recording_a_live_session_writes_audio_and_results(
    qtbot, window: MainWindow, clip: Path, tmp_path: Path
):
    driver = Driver(window)
    wav = tmp_path / "take.wav"
    assert driver.start_file_input(clip, speed=3.0)
    assert driver.start_recording(wav)
    qtbot.waitUntil(lambda: driver.worker is None, timeout=10_000)  # the file ends
    assert driver.recording is None and not window.record_action.isChecked()
    audio, rate = sf.read(wav)
    assert rate == 16000 and len(audio) > 0.8 * sf.info(clip).frames
    results = json.loads(wav.with_suffix(".json").read_text())
    assert results["windows"] and results["labels"] == list(window.labels)
    assert 0 <= results["audio_starts_at"] < 0.5
    quality = [w["quality"] for w in results["windows"]]
    assert all(set(q) == {"level_db", "snr_db", "clipping", "bandwidth_hz", "flags"}
               for q in quality)  # fmt: skip
    assert all(isinstance(w["uncertain"], bool) for w in results["windows"])
    assert wav.with_suffix(".csv").read_text().startswith("start,end,speech,emotion,uncertain,")


BROKEN = {
    "corrupt.wav": b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4,
    "empty.flac": b"",
    "notes.mp3": b"these are my meeting notes, not audio\n" * 20,
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_bad_files_give_a_message_and_the_app_keeps_running(
    qtbot, window: MainWindow, tmp_path: Path, clip: Path, name: str
):
    driver = Driver(window)
    bad = tmp_path / name
    bad.write_bytes(BROKEN[name])
    driver.open_file(bad)
    wait_analysis(qtbot, window)
    assert name in driver.last_error or "not an audio file" in driver.last_error
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and boxes[-1].text() == driver.last_error
    assert window.inspector.analysis is None
    driver.open_file(clip)  # and it still works
    wait_analysis(qtbot, window)
    assert window.inspector.analysis is not None


@pytest.mark.parametrize(
    ("name", "rate", "channels", "subtype"),
    [
        ("8bit.wav", 16000, 1, "PCM_U8"),
        ("96k.wav", 96000, 1, "PCM_24"),
        ("6ch.wav", 48000, 6, "FLOAT"),
    ],
)
def test_unusual_but_valid_files_are_analysed(
    qtbot, window: MainWindow, tmp_path: Path, clip: Path, name, rate, channels, subtype
):
    driver = Driver(window)
    from app.audio import files

    audio = files.load(clip, rate)
    path = tmp_path / name
    sf.write(path, np.repeat(audio[:, None], channels, axis=1) * 0.9, rate, subtype=subtype)
    driver.open_file(path)
    wait_analysis(qtbot, window)
    a = window.inspector.analysis
    assert a is not None and a.duration == pytest.approx(len(audio) / rate)
    assert driver.last_error == ""


def test_dropping_a_file_opens_it(qtbot, window: MainWindow, clip: Path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(clip))])
    event = QDropEvent(
        QPointF(200, 200),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    wait_analysis(qtbot, window)
    assert window.inspector.analysis is not None and window.inspector.analysis.path == clip


def test_settings_remember_geometry_recent_files_and_controls(
    qtbot, tmp_path: Path, engine, clip: Path
):
    first = make_window(qtbot, tmp_path / "s.ini", engine)
    first.resize(1100, 700)
    first.smoothing_spin.setValue(0.7)
    Driver(first).open_file(clip)
    wait_analysis(qtbot, first)
    first.close()
    second = make_window(qtbot, tmp_path / "s.ini", engine)
    assert second.smoothing_spin.value() == pytest.approx(0.7)
    assert Driver(second).recent_files() == [str(clip.resolve())]
    assert [a.text() for a in second.recent_menu.actions()] == [str(clip.resolve())]
    second.close()


def test_no_microphone_gives_a_clear_message_and_inspection_still_works(
    qtbot, window: MainWindow, clip: Path
):
    driver = Driver(window)
    if sources.input_devices():
        pytest.skip("this machine has an input device")
    assert window.tabs.currentIndex() == LIVE_TAB
    qtbot.keyClick(window, Qt.Key.Key_Space)  # the Start shortcut, with no microphone
    assert "No microphone found" in driver.last_error
    assert driver.worker is None
    driver.open_file(clip)
    wait_analysis(qtbot, window)
    assert window.inspector.analysis is not None


def test_playback_without_an_output_device_says_so(
    qtbot, window: MainWindow, clip: Path, no_output_device: None
):
    driver = Driver(window)
    driver.open_file(clip)
    wait_analysis(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_Space)  # in the inspector Space plays
    assert "No audio output device" in window.statusBar().currentMessage()
    assert driver.player is None


def test_without_a_model_the_inspector_still_shows_spectrograms(qtbot, tmp_path: Path, clip: Path):
    problem = "No emotion model found: /nowhere/emotion.json is missing."
    w = make_window(qtbot, tmp_path / "s.ini", None, problem)
    driver = Driver(w)
    assert problem in driver.last_error
    assert not driver.start_file_input(clip)
    assert "needs an emotion model" in driver.last_error
    driver.open_file(clip)
    wait_analysis(qtbot, w)
    assert w.inspector.spectrogram.columns_shown > 300
    assert "spectrogram only" in w.inspector.info.text()
    assert variance(w.inspector.spectrogram) > 100
    w.close()


def test_screenshot_with_real_data_is_not_blank(
    qtbot, window: MainWindow, clip: Path, tmp_path: Path
):
    """Every view's data area differs clearly from the same view in a fresh, empty window."""
    driver = Driver(window)
    empty = make_window(qtbot, tmp_path / "empty.ini", window.engine)
    empty.inspector.stack.setCurrentIndex(1)  # its (empty) views instead of the hint
    window.hop_spin.setValue(0.25)  # results enough within the 4 s clip
    assert driver.start_file_input(clip, speed=2.0)
    live = window.live
    qtbot.waitUntil(
        lambda: live.latest is not None and live.latest.speech and live.timeline.points >= 3,
        timeout=10_000,
    )  # stopped while the bars show speech: the clip's last window may end in silence
    driver.stop_live()
    live_png = driver.save_screenshot(tmp_path / "live.png")
    driver.open_file(clip)
    wait_analysis(qtbot, window)
    window.inspector.select(2.0)
    inspector_png = driver.save_screenshot(tmp_path / "inspector.png")
    for panel, blank in ((live, empty.live), (window.inspector, empty.inspector)):
        for (view, area), (nothing, _) in zip(views(panel), views(blank), strict=True):
            drawn, bare = variance(view, area), variance(nothing, area)
            assert drawn > 1.5 * bare + 10, (type(panel).__name__, type(view).__name__, area, drawn)
    for png in (live_png, inspector_png):
        image = QImage(str(png))
        assert not image.isNull() and image.size() == window.size()
    empty.close()


def test_shortcuts_are_bound(window: MainWindow) -> None:
    bound = {a.shortcut().toString() for a in window.actions()}
    assert {"Space", "Ctrl+O", "Ctrl+E", "Ctrl+Q"} <= bound


def test_silence_reads_as_silence_not_as_an_emotion(qtbot, window: MainWindow, tmp_path: Path):
    driver = Driver(window)
    quiet = tmp_path / "room.wav"
    noise = np.random.default_rng(0).normal(0, 1e-4, 16000 * 4).astype(np.float32)
    sf.write(quiet, noise, 16000)
    assert driver.start_file_input(quiet, speed=4.0)
    qtbot.waitUntil(lambda: window.live.latest is not None, timeout=10_000)
    assert not window.live.latest.speech
    assert window.live.bars.winner.text() == "Silence"
    driver.stop_live()


def test_run_opens_files_from_the_command_line_and_quits_cleanly(
    qtbot, tmp_path: Path, engine: Engine, clip: Path
):
    from app.ui.main_window import run

    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path))
    opened: list[MainWindow] = []

    def check_then_quit() -> None:
        # the window run() opened: earlier tests' closed windows may still be alive
        window = next(
            w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()
        )
        if Driver(window).job is not None:  # still analysing: look again shortly
            QTimer.singleShot(100, check_then_quit)
            return
        opened.append(window)
        window.close()

    QTimer.singleShot(100, check_then_quit)
    assert run([clip], engine.bundle.path) == 0
    assert opened and opened[0].inspector.analysis is not None
    assert opened[0].inspector.analysis.path == clip
    assert not our_threads()


@needs_proc
def test_the_app_closes_cleanly_on_sigterm_and_saves_its_settings(
    tmp_path: Path, engine: Engine, clip: Path
):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    cmd = [sys.executable, "-m", "app", "--model", str(engine.bundle.path), str(clip)]
    app = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    wait_for_handler(app, signal.SIGTERM)
    time.sleep(1)  # the window is up and analysing
    assert app.poll() is None, app.communicate()[1]
    app.send_signal(signal.SIGTERM)
    _, err = app.communicate(timeout=20)
    assert app.returncode == 0, err
    saved = (tmp_path / "EmotionMeter" / "Emotion Meter.conf").read_text()
    assert "geometry" in saved and clip.name in saved  # window and recent files remembered


def test_a_long_analysis_can_be_cancelled(qtbot, window: MainWindow, clip: Path, tmp_path: Path):
    from app.audio import files

    long = tmp_path / "long.wav"
    sf.write(long, np.tile(files.load(clip, 16000), 60), 16000)  # about 4 minutes
    Driver(window).open_file(long)
    inspector = window.inspector
    assert inspector.progress.isVisible() and inspector.cancel_button.isVisible()
    qtbot.waitUntil(lambda: inspector.progress.value() > 0, timeout=20_000)
    qtbot.mouseClick(inspector.cancel_button, Qt.MouseButton.LeftButton)
    wait_analysis(qtbot, window)
    assert inspector.analysis is None and inspector.info.text() == "analysis cancelled"
    assert not inspector.progress.isVisible()
    assert "cancelled" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not our_threads(), timeout=5_000)


@pytest.fixture
def adaptive_window(qtbot, tmp_path: Path, adaptive_engine: Engine) -> Iterator[MainWindow]:
    """The window on a model that adapts to the speaker (the bundled one may not)."""
    w = make_window(qtbot, tmp_path / "adaptive.ini", adaptive_engine)
    yield w
    w.close()


def test_live_meter_adapts_to_the_voice_and_a_new_speaker_starts_again(
    qtbot, adaptive_window: MainWindow, clip: Path, tmp_path: Path
):
    window = adaptive_window
    driver = Driver(window)
    assert driver.adaptive
    driver.voices_dir = tmp_path / "voices"
    assert window.adapt_action.isChecked()  # on by default
    assert driver.start_file_input(clip, speed=1.0)  # time to change voices before the file ends
    analyzer = driver.worker.analyzer
    assert analyzer.adapter.time_constant == window.engine.bundle.adapt_seconds  # the model's
    driver.set_adapt_seconds(5.0)
    qtbot.waitUntil(lambda: analyzer.adapter.time_constant == 5.0, timeout=5_000)
    qtbot.waitUntil(lambda: driver.voice is not None and driver.voice.count > 100, timeout=10_000)
    assert window.voice_label.text().startswith("adapted to your voice:")
    assert driver.session[-1].adaptation > 0
    saved = driver.save_voice("Anna")
    assert saved is not None and saved.is_file()
    heard = analyzer.adapter.speaker.count
    driver.new_speaker()
    qtbot.waitUntil(lambda: analyzer.adapter.speaker.count < heard, timeout=5_000)
    window.adapt_action.trigger()  # off: the meter runs cold
    qtbot.waitUntil(lambda: not analyzer.adapter.enabled, timeout=5_000)
    assert window.voice_label.text() == "voice: adaptation off"
    driver.stop_live()
    exported = driver.export_timeline(tmp_path / "live.json")
    steps = [w["adaptation"] for w in json.loads(exported.read_text())["windows"]]
    assert max(steps) > 0  # each result says how far it was adapted
    assert window.settings.value("adapt", type=bool) is False
    assert window.settings.value("adapt_seconds", type=float) == 5.0
    assert driver.use_voice(saved)  # and adaptation comes back on with that voice
    assert window.adapt_action.isChecked() and driver.start_voice[0] == "Anna"
    assert window.voice_label.text() == "voice: Anna, speak to adapt"
    assert driver.start_file_input(clip, speed=4.0)
    assert driver.worker.analyzer.adapter.speaker.count == driver.start_voice[1].count
    driver.stop_live()


def test_a_damaged_voice_profile_is_a_message(qtbot, window: MainWindow, tmp_path: Path):
    driver = Driver(window)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert not driver.use_voice(bad)
    assert "Cannot use this voice" in window.statusBar().currentMessage()
    assert driver.start_voice is None


def test_inspector_adapts_to_the_speaker_of_the_file(
    qtbot, adaptive_window: MainWindow, clip: Path
):
    window = adaptive_window
    driver = Driver(window)
    driver.open_file(clip)
    wait_analysis(qtbot, window)
    assert window.inspector.analysis.adaptation == 0
    window.inspector.adapt_box.setChecked(True)  # analyses the same file again, adapted
    assert driver.job is not None
    wait_analysis(qtbot, window)
    a = window.inspector.analysis
    assert a.path == clip and 0 < a.adaptation < 1 and a.speaker == "this file"
    assert "adapted to the speaker" in window.inspector.info.text()
    assert a.to_dict()["normalisation"]["mode"] == "adapted"
    assert window.settings.value("adapt_files", type=bool) is True


def test_about_box_names_the_encoder_and_its_licence(
    qtbot, window: MainWindow, monkeypatch
) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a: shown.append(a[2]))
    window.about_model()
    encoder = window.engine.bundle.encoder
    assert encoder is not None, "the bundled model is built on Whisper-base's encoder"
    assert shown == [window.about_text()]
    assert "whisper-base" in shown[0].lower() and "MIT" in shown[0]
    assert f"first {encoder.layers} layers" in shown[0]


@pytest.fixture
def judging_engine(engine: Engine, tmp_path: Path) -> Engine:
    """The bundled model with quality limits of known values (the flags' wiring, whatever the
    shipped figures are) and an uncertainty threshold."""
    from app import bundle as bundles

    copy = tmp_path / "model"
    shutil.copytree(engine.bundle.path, copy)
    meta = json.loads((copy / "emotion.json").read_text())
    meta["quality"] = {"too_quiet_db": -60, "noisy_snr_db": 14, "clipping": 1e-3,
                       "narrowband_hz": 5000}  # fmt: skip
    (copy / "emotion.json").write_text(json.dumps(meta))
    return Engine(bundles.load(copy))


@pytest.mark.parametrize("flag", ["narrowband", "clipping", "too_quiet", "noisy", "unfamiliar"])
def test_a_flag_dims_the_bars_and_says_why(
    qtbot, tmp_path: Path, judging_engine: Engine, clip: Path, flag: str
):
    from app.audio.files import load
    from app.quality import ADVICE
    from model_training import channels as ch

    y = load(clip, 16000)
    heard = {
        "narrowband": lambda: ch.telephone(y, "GSM610"),
        "clipping": lambda: ch.gain(y, 25.0),
        "too_quiet": lambda: ch.gain(y, -50.0),
        "unfamiliar": lambda: np.tile(ch.resample(y, 16000, 8000), 3),  # an octave up
        "noisy": lambda: ch.add_noise(y, ch.evaluation_sounds().noise(len(y),
                                                                      np.random.default_rng(0)), 5),
    }[flag]()  # fmt: skip
    path = tmp_path / f"{flag}.wav"
    sf.write(path, heard, 16000, subtype="FLOAT")
    window = make_window(qtbot, tmp_path / "s.ini", judging_engine)
    driver = Driver(window)
    window.hop_spin.setValue(0.25)
    assert driver.start_file_input(path, speed=1.0)  # at 2x a starved worker judged too few
    live = window.live
    qtbot.waitUntil(lambda: live.latest is not None and live.latest.speech
                    and not live.latest.provisional  # a whole window of the flagged sound
                    and bool(live.latest.quality.flags), timeout=20_000)  # fmt: skip
    driver.stop_live()
    assert live.latest.quality.flags[0] == flag
    assert live.bars.advice.text() == ADVICE[flag]
    assert all(b.color().alpha() < 255 for b in live.bars.bars.opts["brushes"])  # dimmed
    assert theme.WARNING in live.quality.figures.styleSheet()
    png = driver.save_screenshot(tmp_path / f"{flag}.png")
    assert not QImage(str(png)).isNull()
    if flag == "narrowband" and os.environ.get("EMOTION_METER_SCREENSHOTS"):
        shutil.copy(png, Path(os.environ["EMOTION_METER_SCREENSHOTS"]) / "quality-flag.png")
    driver.open_file(path)  # the inspector marks the flagged stretch and explains it
    wait_analysis(qtbot, window)
    marked = window.inspector.timeline.flagged.getData()[1]
    assert marked is not None and np.isfinite(marked).any()
    window.inspector.select(2.0)
    assert window.inspector.bars.advice.text() == ADVICE[flag]
    window.close()


def test_clean_speech_raises_no_flag(qtbot, tmp_path: Path, judging_engine: Engine, clip: Path):
    window = make_window(qtbot, tmp_path / "s.ini", judging_engine)
    Driver(window).open_file(clip)
    wait_analysis(qtbot, window)
    a = window.inspector.analysis
    assert a is not None and a.speech.any()
    assert not any(q.flags for q in a.quality)
    assert window.inspector.bars.advice.text() == ""
    window.close()


def test_menu_actions_save_where_the_user_chooses(
    qtbot, window: MainWindow, clip: Path, tmp_path: Path, monkeypatch
):
    """The menu's Export… and Screenshot… (QAction.triggered passes ``checked``, which once
    arrived as the path and crashed them)."""
    from PySide6.QtWidgets import QFileDialog

    chosen = iter([str(tmp_path / "shot.png"), str(tmp_path / "timeline.csv")])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (next(chosen), ""))
    window.screenshot_action.trigger()
    assert QImage(str(tmp_path / "shot.png")).width() == window.width()
    Driver(window).open_file(clip)
    wait_analysis(qtbot, window)
    window.export_action.trigger()
    assert (tmp_path / "timeline.csv").read_text().startswith("start,end,speech,emotion,")
