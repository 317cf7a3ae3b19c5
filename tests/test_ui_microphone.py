"""The real microphone path: a clip spoken into the tests' own PulseAudio virtual microphone is
recorded by the app's Microphone through PortAudio, and the live meter hears what the offline
analysis of the same clip finds.

Tolerance: PulseAudio resamples the clip to its own rate and the meter resamples it back
(two resampling passes), and live windows end where the worker's reads end (every ~20 ms, more
when the machine is busy), not on the file's grid, so the file is analysed on a 50 ms grid and
each live window is compared with the offline window ending within 30 ms of it. The
probabilities must be close (mean absolute difference per emotion under 0.05), and the dominant
emotion must agree for at least 90 % of the windows where both say "speech"; a near tie counts
as agreeing (the file gives the live winner within 0.10 of its own top emotion). How many live
windows there are depends on the machine's speed, so only one per 0.2 s of speech is required.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication

from app.audio import files
from app.audio.sources import Microphone, SourceError
from app.engine import Engine
from app.offline import analyze_file
from app.ui import theme
from app.ui.driver import Driver
from app.ui.main_window import MainWindow
from tests.data import datasets
from tests.pulse import virtual_microphone

LIVE_HOP = 0.01  # a window at every read
MATCH_SECONDS = 0.03
SPARSEST = 0.2  # at least one live window per 0.2 s of speech, however busy the machine
FILE_HOP = 0.05  # the offline grid: every live window ends within half of it of an offline one
AGREEMENT = 0.9
UNDECIDED = 0.1  # the live winner this close to the file's top emotion: a tie, not a miss
MEAN_DIFFERENCE = 0.05
CLIPS = ("03-01-05-02-01-01-01", "03-01-03-02-02-01-01", "03-01-04-02-01-02-01")


def spoken_clip(folder: Path) -> Path:
    """Three sentences of one speaker as one 16 kHz WAV (about 11 s); the recordings' own quiet
    edges separate them (inserted digital silence would differ from what a sound server hands
    on, and the difference would be about silence, not speech)."""
    actor = datasets() / "ravdess" / "Actor_01"
    parts = [files.load(actor / f"{c}.flac", 16000) for c in CLIPS]
    path = folder / "spoken.wav"
    sf.write(path, np.concatenate(parts), 16000, subtype="PCM_16")
    return path


def delay(heard: np.ndarray, spoken: np.ndarray) -> int:
    """Samples by which ``spoken`` starts late in ``heard`` (FFT cross-correlation)."""
    n = 1 << int(np.ceil(np.log2(len(heard) + len(spoken))))
    xcorr = np.fft.irfft(np.fft.rfft(heard, n) * np.conj(np.fft.rfft(spoken, n)), n)
    return int(np.argmax(xcorr[: len(heard)]))


@pytest.mark.audio
def test_microphone_hears_what_the_file_analysis_finds(qtbot, tmp_path: Path, engine: Engine):
    clip = spoken_clip(tmp_path)
    wav = tmp_path / "heard.wav"
    with virtual_microphone(tmp_path) as mic:
        theme.apply(QApplication.instance())
        window = MainWindow(
            engine, None, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
        )
        driver = Driver(window)
        qtbot.addWidget(window)
        window.show()
        assert window.device_combo.count() > 1, "the virtual microphone is not listed"
        window.adapt_action.setChecked(False)  # cold, as `analyze` is without --adapt
        assert driver.start_live(), driver.last_error  # the system default input: vmic.monitor
        driver.worker.configure(hop=LIVE_HOP, smoothing=0.0)
        assert driver.start_recording(wav)
        qtbot.wait(300)
        player = mic.play(clip)
        qtbot.waitUntil(lambda: player.poll() is not None, timeout=30_000)
        assert player.returncode == 0, player.stderr.read()
        qtbot.wait(500)
        driver.stop_live()
        assert window.dropped_label.text().startswith("dropped ")  # 0 unless the CPU is starved
        window.close()
    offline = analyze_file(clip, Engine(replace(engine.bundle, hop_seconds=FILE_HOP)))
    heard = files.load(wav, 16000)
    spoken = files.load(clip, 16000)
    level = np.sqrt(np.mean(heard**2)) / np.sqrt(np.mean(spoken[: len(heard)] ** 2))
    assert 0.5 < level < 2, "the clip reached the app at the wrong level"
    start = json.loads(wav.with_suffix(".json").read_text())["audio_starts_at"]
    offset = start + delay(heard, spoken) / 16000  # stream seconds where the clip begins

    live = [r for r in driver.session if r.raw is not None and not r.provisional]
    ends = np.asarray(offline.ends)
    agree, differences = [], []
    for result in live:
        gaps = np.abs(ends - (result.time - offset))
        i = int(np.argmin(gaps))
        if gaps[i] > MATCH_SECONDS or not offline.speech[i]:
            continue
        probabilities = offline.probabilities[i]
        heard = np.argmax(result.raw)
        agree.append(probabilities[heard] >= probabilities.max() - UNDECIDED)
        differences.append(np.abs(result.raw - probabilities).mean())
    print(
        f"level {level:.2f} offset {offset:.3f} matched {len(agree)}/{offline.speech.sum()} "
        f"agree {np.mean(agree):.2f} diff {np.mean(differences):.4f}"
    )
    speech_seconds = offline.speech.sum() * FILE_HOP
    assert len(agree) >= speech_seconds / SPARSEST, "too few live windows matched in time"
    assert np.mean(agree) >= AGREEMENT, (np.mean(agree), len(agree))
    assert np.mean(differences) < MEAN_DIFFERENCE, np.mean(differences)


@pytest.mark.audio
def test_playback_from_a_moment_moves_the_cursor(qtbot, tmp_path: Path, engine: Engine):
    clip = datasets() / "ravdess" / "Actor_01" / f"{CLIPS[0]}.flac"
    with virtual_microphone(tmp_path):
        theme.apply(QApplication.instance())
        settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
        window = MainWindow(engine, None, settings)
        driver = Driver(window)
        qtbot.addWidget(window)
        window.show()
        driver.open_file(clip)
        qtbot.waitUntil(lambda: driver.job is None, timeout=20_000)
        window.inspector.select(1.0)
        qtbot.keyClick(window, Qt.Key.Key_Space)  # plays from the cursor
        assert driver.player is not None, window.statusBar().currentMessage()
        qtbot.waitUntil(lambda: window.inspector.cursor_time > 1.6, timeout=8_000)
        assert window.inspector.play_button.text() == "■ Stop"
        qtbot.waitUntil(lambda: driver.player is None, timeout=20_000)  # stops at the end
        assert window.inspector.cursor_time > 3.0
        assert window.inspector.play_button.text() == "▶ Play"
        window.close()


@pytest.mark.audio
def test_a_refused_sample_rate_is_a_clear_error(tmp_path: Path):
    with virtual_microphone(tmp_path):
        with pytest.raises(SourceError, match="refused the sample rate"):
            Microphone(sample_rate=1)
        microphone = Microphone()
        microphone.start()
        try:
            assert microphone.running and microphone.sample_rate > 8000
        finally:
            microphone.stop()
        assert not microphone.running
