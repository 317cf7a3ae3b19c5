"""*Voice → Teach it my voice…* end to end through the tests' PulseAudio virtual microphone: a
withheld RAVDESS actor acts four emotions into it (the others skipped), a silent take and a
clipping take are refused with the reason, a take is replayed and discarded, the voice is fitted
off the GUI thread, saved as a named voice and used by the live meter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from app import personal
from app.audio import files
from app.engine import Engine
from app.ui import theme
from app.ui.driver import Driver
from app.ui.main_window import MainWindow
from tests.data import datasets
from tests.pulse import virtual_microphone

ACTOR = "09"  # a withheld speaker whom the general model often hears as sad
LABELS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
TAKE_TIMEOUT = 60_000  # ms: a take's check, on a busy machine


def clips(emotion: str) -> list[Path]:
    actor = datasets() / "ravdess" / f"Actor_{ACTOR}"
    return sorted(actor.glob(f"03-01-{emotion}-??-01-??-{ACTOR}.flac"))[:3]


@pytest.mark.audio
def test_the_wizard_teaches_a_voice_through_the_microphone(
    qtbot, tmp_path: Path, engine: Engine
) -> None:
    sad = clips("04")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(32000, np.float32), 16000)
    loud = tmp_path / "loud.wav"
    speech = files.load(sad[0], 16000)
    sf.write(loud, np.clip(8 * speech / np.abs(speech).max(), -1, 1), 16000, subtype="PCM_16")
    with virtual_microphone(tmp_path) as mic:
        theme.apply(QApplication.instance())
        settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
        window = MainWindow(engine, None, settings)
        driver = Driver(window)
        driver.voices_dir = tmp_path / "voices"
        qtbot.addWidget(window)
        window.show()
        dialog = window.teach_voice()
        assert dialog is not None

        def take(clip: Path) -> str:
            dialog.record_button.click()
            assert dialog.recording, dialog.status.text()
            qtbot.wait(300)
            player = mic.play(clip)
            qtbot.waitUntil(lambda: player.poll() is not None, timeout=30_000)
            qtbot.wait(300)
            dialog.record_button.click()
            qtbot.waitUntil(lambda: dialog.pending == 0, timeout=TAKE_TIMEOUT)
            return dialog.status.text()

        for _ in range(3):  # neutral, calm, happy
            dialog.skip_button.click()
        assert dialog.label == "sad" and "sadly" in dialog.line.text()
        assert "refused" in take(silent) and "speech" in dialog.status.text()
        assert "clipped" in take(loud)
        assert not dialog.next_button.isEnabled()
        for clip in sad:
            assert "kept" in take(clip)
        assert dialog.take_list.count() == 3
        assert not dialog.record_button.isEnabled()  # three takes are enough
        dialog.take_list.setCurrentRow(0)
        dialog.play_button.click()  # replayed to the default output (the drain sink)
        assert dialog.player is not None
        dialog.discard_button.click()
        assert dialog.take_list.count() == 2
        assert "kept" in take(sad[0])
        dialog.next_button.click()
        dialog.skip_button.click()  # angry
        for code in ("06", "07", "08"):  # fearful, disgust, surprised
            assert dialog.label == LABELS[int(code) - 1]
            for clip in clips(code):
                assert "kept" in take(clip)
            if dialog.next_button.isEnabled():
                dialog.next_button.click()
        dialog.finish_button.click()
        qtbot.waitUntil(lambda: dialog.teaching is not None, timeout=TAKE_TIMEOUT)
        teaching = dialog.teaching
        assert teaching.counts == {"sad": 3, "fearful": 3, "disgust": 3, "surprised": 3}
        assert not teaching.worse and teaching.after > teaching.before, dialog.verdict.text()
        assert f"{teaching.after:.0%}" in dialog.verdict.text()
        assert dialog.after_table.rowCount() == 4 and dialog.after_table.item(0, 0) is not None
        assert dialog.save_button.isEnabled()
        dialog.name_edit.setText("Actor nine")
        dialog.save_button.click()
        path = driver.voices_dir / "Actor nine.json"
        assert json.loads(path.read_text())["name"] == "Actor nine"
        assert personal.is_personal(path)
        assert window.voices.personal is not None and window.voices.personal.name == "Actor nine"
        assert "Actor nine" in window.voice_label.text()
        qtbot.waitUntil(lambda: driver.worker.analyzer.personal is not None, timeout=5_000)
        heard = len(driver.session)
        player = mic.play(clips("08")[0])  # the live meter judges with the voice
        qtbot.waitUntil(lambda: player.poll() is not None, timeout=30_000)
        qtbot.wait(500)
        assert any(r.raw is not None for r in driver.session[heard:])
        dialog.close()
        driver.stop_live()
        window.close()
