"""Exports (timeline CSV/JSON, PNG, recordings) to places that cannot take them: a clear
message, nothing half-written, nothing overwritten without asking, and the results kept for
another try. Root ignores permissions, so a read-only place is a path under a regular file, and
a full disk is /dev/full behind the temporary file's name."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QMessageBox

from app import export
from app.atomic import part_path as partial_path
from app.engine import Engine
from app.ui import theme
from app.ui.driver import Driver
from app.ui.main_window import INSPECTOR_TAB, LIVE_TAB, MainWindow
from tests.data import datasets
from tests.robustness import Report, report_fixture  # noqa: F401  (the fixture)

CLIP = ("ravdess", "Actor_01", "03-01-05-02-01-01-01.flac")
DOCUMENT = {
    "labels": ["calm", "angry"],
    "windows": [
        {"start": 0.0, "end": 3.0, "speech": True, "emotion": "calm", "probabilities": [0.7, 0.3]}
    ],
}


def full_disk(target: Path) -> Path:
    """Make writing ``target`` hit a full disk: its temporary file is a link to /dev/full."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    partial_path(target).symlink_to("/dev/full")
    return target


PLACES = {  # case: (make the target, words of the message)
    "target folder missing": (lambda t: t / "no such folder" / "out", "does not exist"),
    "target folder read-only (a path under a regular file)": (
        lambda t: (t / "file.txt").write_text("x") and t / "file.txt" / "out",
        "is a file, not a folder",
    ),
    "disk full (/dev/full)": (lambda t: full_disk(t / "out"), "No space left"),
}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".part") or "out" in p.name)


@pytest.mark.parametrize("case", list(PLACES))
@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_core_export_to_a_bad_place_leaves_nothing(
    case: str, suffix: str, tmp_path: Path, report: Report
) -> None:
    make, words = PLACES[case]
    target = make(tmp_path).with_suffix(suffix)
    if case.startswith("disk"):
        partial_path(tmp_path / "out").rename(partial_path(target))
    with pytest.raises(export.ExportError, match=words) as caught:
        export.save_timeline(target, DOCUMENT)
    assert not target.exists() and not os.path.lexists(partial_path(target))
    report("Exports", f"timeline {suffix[1:].upper()}: {case}", f"message: “{caught.value}”")


def test_core_export_refuses_to_overwrite_unless_told(tmp_path: Path, report: Report) -> None:
    target = tmp_path / "timeline.csv"
    target.write_text("the user's own file\n")
    with pytest.raises(export.ExportError, match="already exists") as caught:
        export.save_timeline(target, DOCUMENT)
    assert target.read_text() == "the user's own file\n"
    export.save_timeline(target, DOCUMENT, overwrite=True)
    assert target.read_text().startswith("start,end,speech,emotion,uncertain,calm,angry")
    assert [p.name for p in tmp_path.iterdir()] == ["timeline.csv"]
    report(
        "Exports",
        "timeline: file exists (core)",
        f"refused unless overwrite=True: “{caught.value}”; with it, replaced atomically",
    )


@pytest.fixture(scope="module")
def window(engine: Engine, tmp_path_factory) -> Iterator[MainWindow]:
    """A window with a finished live session (the clip played 4x fast) and an analysed file."""
    theme.apply(cast(QApplication, QApplication.instance() or QApplication([])))
    folder = tmp_path_factory.mktemp("window")
    w = MainWindow(engine, None, QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat))
    w.show()
    yield w
    w.close()


@pytest.fixture
def session(qtbot, window: MainWindow) -> MainWindow:
    driver = Driver(window)
    if not driver.session:
        assert driver.start_file_input(datasets().joinpath(*CLIP), speed=4.0)
        qtbot.waitUntil(lambda: driver.worker is None, timeout=20_000)
        driver.open_file(datasets().joinpath(*CLIP))
        qtbot.waitUntil(lambda: driver.job is None, timeout=20_000)
    assert driver.session and window.inspector.analysis is not None
    driver.last_error = ""
    return window


def answer(button: QMessageBox.StandardButton, asked: list[str]) -> None:
    """Click ``button`` in the question box the window is about to show."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            asked.append(box.text())
            box.button(button).click()
        else:
            QTimer.singleShot(20, click)

    QTimer.singleShot(20, click)


SAVES = {
    "timeline CSV": lambda w, p: Driver(w).export_timeline(p.with_suffix(".csv")),
    "timeline JSON": lambda w, p: Driver(w).export_timeline(p.with_suffix(".json")),
    "PNG screenshot": lambda w, p: Driver(w).save_screenshot(p.with_suffix(".png")),
}


@pytest.mark.parametrize("case", list(PLACES))
@pytest.mark.parametrize("what", list(SAVES))
def test_window_export_to_a_bad_place_says_why_and_keeps_the_results(
    case: str, what: str, session: MainWindow, tmp_path: Path, report: Report
) -> None:
    driver = Driver(session)
    make, words = PLACES[case]
    session.tabs.setCurrentIndex(LIVE_TAB)
    target = make(tmp_path)
    suffix = {"timeline CSV": ".csv", "timeline JSON": ".json"}.get(what, ".png")
    if case.startswith("disk"):
        partial_path(target).rename(partial_path(target.with_suffix(suffix)))
    results = len(driver.session)
    assert SAVES[what](session, target) is None
    assert words in driver.last_error
    assert not target.with_suffix(suffix).exists()
    assert not os.path.lexists(partial_path(target.with_suffix(suffix)))
    assert len(driver.session) == results  # kept: a second try to a good place works
    assert SAVES[what](session, tmp_path / "good") is not None
    report("Exports", f"{what} from the window: {case}", f"message: “{driver.last_error}”; "
           "nothing written, the results kept and a second try to a good place works")  # fmt: skip


@pytest.mark.parametrize("what", list(SAVES))
def test_window_asks_before_replacing(
    what: str, session: MainWindow, tmp_path: Path, report: Report
) -> None:
    session.tabs.setCurrentIndex(INSPECTOR_TAB)
    suffix = {"timeline CSV": ".csv", "timeline JSON": ".json"}.get(what, ".png")
    target = (tmp_path / "mine").with_suffix(suffix)
    target.write_bytes(b"the user's own file")
    asked: list[str] = []
    answer(QMessageBox.StandardButton.No, asked)
    assert SAVES[what](session, tmp_path / "mine") is None
    assert target.read_bytes() == b"the user's own file" and asked
    answer(QMessageBox.StandardButton.Yes, asked)
    assert SAVES[what](session, tmp_path / "mine") == target
    if suffix == ".png":
        assert QImage(str(target)).width() == session.width()
    elif suffix == ".json":
        assert json.loads(target.read_text())["windows"]
    report("Exports", f"{what}: file exists (window)",
           f"asks “{asked[0].replace(tmp_path.name, 'FOLDER')}”; No keeps the file, "
           "Yes replaces it")  # fmt: skip


@pytest.mark.parametrize("case", ["target folder missing", "disk full (/dev/full)"])
def test_recording_to_a_bad_place_keeps_the_session(
    case: str, qtbot, window: MainWindow, tmp_path: Path, report: Report
) -> None:
    driver = Driver(window)
    wav = PLACES[case][0](tmp_path).with_suffix(".wav")
    if case.startswith("disk"):
        partial_path(tmp_path / "out").rename(partial_path(wav))
    driver.last_error = ""
    assert driver.start_file_input(datasets().joinpath(*CLIP), speed=4.0)
    assert driver.start_recording(wav)
    qtbot.waitUntil(lambda: driver.worker is None, timeout=20_000)
    assert "record" in driver.last_error.lower(), driver.last_error
    assert driver.recording is None and not window.record_action.isChecked()
    assert not wav.exists() and not os.path.lexists(partial_path(wav))
    assert driver.session and driver.export_timeline(tmp_path / "results.csv") is not None
    report("Exports", f"recording (WAV): {case}", f"message: “{driver.last_error}”; the live "
           "analysis went on to the end and its results export")  # fmt: skip
