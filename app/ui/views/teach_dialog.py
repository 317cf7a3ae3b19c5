"""*Voice → Teach it my voice…*: the user acts each emotion (any may be skipped) in two or three
takes of a plain line, through the live microphone; each take is checked (speech, level,
clipping, length) and refused with the reason; then the general model's and the personal
voice's hits on the takes (leave-one-take-out) are shown, in words and as small matrices, and
the voice is saved as a named voice of the Voice menu. Checking and fitting run on worker
threads; this file only shows and hands over (app.personal computes)."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import personal
from app.audio.ringbuffer import Reader
from app.audio.sources import Player, Source, SourceError
from app.engine import Engine
from app.offline import analyze_file

TAKES = 3  # asked for per emotion; two are enough to go on
READ_MS = 50  # how often a take's samples are copied from the microphone's ring buffer
# plain lines, the same for every emotion, so what is said carries none of it
LINES = (
    "The parcel came on Tuesday and it is on the table by the door.",
    "We take the number nine bus and get off after the bridge.",
    "The shop on the corner opens at eight and closes at six.",
)
ACTING = {
    "neutral": "plainly, with no feeling in it",
    "calm": "calmly, relaxed and at ease",
    "happy": "happily, as if it were good news",
    "sad": "sadly, as if it were a loss",
    "angry": "angrily, as if it were the last straw",
    "fearful": "fearfully, as if something were wrong",
    "disgust": "with disgust, as if it repelled you",
    "surprised": "surprised, as if you had just found out",
}


@dataclass(frozen=True)
class Checked:
    """A take after its check: the take, or why it was refused."""

    label: str
    path: Path
    take: personal.Take | None
    reason: str | None


class TeachDialog(QDialog):
    checked = Signal(object)  # Checked, from the checking thread
    fitted = Signal(object)  # personal.Teaching, from the fitting thread

    def __init__(
        self,
        engine: Engine,
        listen: Callable[[], Source | None],
        save: Callable[[str, personal.Teaching], Path | None],
        parent: QWidget | None = None,
    ) -> None:
        """``listen`` starts the live input if needed and gives its source (None: it could
        not); ``save`` keeps a voice by name and gives its file (None: it could not)."""
        super().__init__(parent)
        self.setWindowTitle("Teach it my voice")
        self.engine, self.listen, self.keep = engine, listen, save
        self.labels = list(engine.bundle.labels)
        self.step = 0
        self.takes: dict[str, list[Checked]] = {label: [] for label in self.labels}
        self.folder = tempfile.TemporaryDirectory(prefix="emotion-meter-takes-")
        self.reader: Reader | None = None
        self.rate = 0
        self.chunks: list[np.ndarray] = []
        self.player: Player | None = None
        self.teaching: personal.Teaching | None = None
        self.threads: list[threading.Thread] = []
        self.pending = 0  # takes being checked
        self.timer = QTimer(self)
        self.timer.setInterval(READ_MS)
        self.timer.timeout.connect(self._read)
        self.checked.connect(self._checked)
        self.fitted.connect(self._fitted)
        self.pages = QStackedWidget()
        self.pages.addWidget(self._record_page())
        self.pages.addWidget(self._result_page())
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        self._show_step()

    def _button(self, text: str, name: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.clicked.connect(slot)
        return button

    def _record_page(self) -> QWidget:
        page = QWidget()
        self.heading = QLabel()
        self.heading.setAccessibleName("Emotion to act")
        self.line = QLabel()
        self.line.setWordWrap(True)
        self.line.setAccessibleName("Line to say")
        self.record_button = self._button("&Record take", "Record a take", self.toggle_record)
        self.take_list = QListWidget()
        self.take_list.setAccessibleName("Takes of this emotion")
        self.play_button = self._button("&Play take", "Play the chosen take", self.play)
        self.discard_button = self._button("&Discard take", "Discard the chosen take", self.discard)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setAccessibleName("What happened to the last take")
        self.skip_button = self._button("&Skip emotion", "Skip this emotion", self.skip)
        self.next_button = self._button("&Next emotion", "Next emotion", self.next_emotion)
        self.finish_button = self._button(
            "&Finish", "Finish and see how well it learnt", self.finish
        )
        takes = QHBoxLayout()
        takes.addWidget(self.play_button)
        takes.addWidget(self.discard_button)
        steps = QHBoxLayout()
        for button in (self.skip_button, self.next_button, self.finish_button):
            steps.addWidget(button)
        layout = QVBoxLayout(page)
        for widget in (self.heading, self.line, self.record_button, self.take_list):
            layout.addWidget(widget)
        layout.addLayout(takes)
        layout.addWidget(self.status)
        layout.addLayout(steps)
        return page

    def _result_page(self) -> QWidget:
        page = QWidget()
        self.verdict = QLabel("Fitting your voice…")
        self.verdict.setWordWrap(True)
        self.verdict.setAccessibleName("How well it learnt your voice")
        self.before_table, self.after_table = QTableWidget(), QTableWidget()
        self.before_table.setAccessibleName(
            "General model on your takes: rows acted, columns heard"
        )
        self.after_table.setAccessibleName("Your voice on your takes: rows acted, columns heard")
        tables = QHBoxLayout()
        for title, table in (
            ("General model", self.before_table),
            ("Your voice", self.after_table),
        ):
            column = QVBoxLayout()
            column.addWidget(QLabel(title))
            column.addWidget(table)
            tables.addLayout(column)
        self.name_edit = QLineEdit("My voice")
        self.name_edit.setAccessibleName("Name of this voice")
        name = QLabel("&Name:")
        name.setBuddy(self.name_edit)
        self.save_button = self._button("&Save voice", "Save this voice", self.save)
        self.save_button.setEnabled(False)
        self.back_button = self._button("&Back to the takes", "Back to the takes", self.back)
        row = QHBoxLayout()
        for widget in (name, self.name_edit, self.save_button, self.back_button):
            row.addWidget(widget)
        layout = QVBoxLayout(page)
        layout.addWidget(self.verdict)
        layout.addLayout(tables)
        layout.addLayout(row)
        return page

    @property
    def label(self) -> str:
        return self.labels[self.step]

    @property
    def recording(self) -> bool:
        return self.reader is not None

    @property
    def counts(self) -> dict[str, int]:
        """Accepted takes per emotion that has any."""
        return {k: len(v) for k, v in self.takes.items() if v}

    def _show_step(self) -> None:
        label = self.label
        taken = self.takes[label]
        self.heading.setText(f"Emotion {self.step + 1} of {len(self.labels)}: {label}")
        acting = ACTING.get(label, f"sounding {label}")
        self.line.setText(f"Say {acting}:\n“{LINES[len(taken) % len(LINES)]}”")
        self.take_list.clear()
        for i, c in enumerate(taken, 1):
            self.take_list.addItem(f"Take {i} ({sf.info(str(c.path)).duration:.1f} s)")
        if taken:
            self.take_list.setCurrentRow(len(taken) - 1)
        self.play_button.setEnabled(bool(taken))
        self.discard_button.setEnabled(bool(taken))
        last = self.step == len(self.labels) - 1
        self.next_button.setEnabled(len(taken) >= personal.MIN_TAKES and not last)
        self.skip_button.setEnabled(not last)
        self.finish_button.setEnabled(personal.check_takes(self.counts) is None)
        self.record_button.setEnabled(len(taken) < TAKES)

    def toggle_record(self) -> None:
        if self.recording:
            self._stop_record()
            return
        source = self.listen()
        if source is None:
            self.status.setText("The microphone could not be started: see the status bar.")
            return
        self._stop_playing()
        self.reader, self.rate, self.chunks = source.ring.reader(), source.sample_rate, []
        self.timer.start()
        self.record_button.setText("■ &Stop take")
        self.record_button.setAccessibleName("Stop the take")
        self.status.setText("Recording… say the line, then stop the take.")

    def _read(self) -> None:
        if self.reader is not None:
            self.chunks.append(self.reader.read())

    def _stop_record(self) -> None:
        self._read()
        self.timer.stop()
        self.reader = None
        self.record_button.setText("&Record take")
        self.record_button.setAccessibleName("Record a take")
        audio = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)
        path = (
            Path(self.folder.name)
            / f"{self.label}-{len(list(Path(self.folder.name).iterdir()))}.wav"
        )
        sf.write(path, audio, self.rate, subtype="FLOAT")
        self.record_button.setEnabled(False)  # until this take is checked
        self.status.setText("Checking the take…")
        self.pending += 1
        self._start(self._check, self.label, path)

    def _start(self, work: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=work, args=args, name="teach", daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()

    def _check(self, label: str, path: Path) -> None:
        """On a worker thread: the take's cold analysis and whether it can be used."""
        try:
            analysis = analyze_file(path, self.engine, embeddings=True)
            reason = personal.refusal(analysis)
            take = None if reason else personal.Take.heard(label, analysis)
        except Exception as e:  # a take that cannot be analysed is refused, never a crash
            take, reason = None, f"The take could not be analysed: {e}"
        self.checked.emit(Checked(label, path, take, reason))

    def _checked(self, c: Checked) -> None:
        self.pending -= 1
        if c.reason is not None:
            self.status.setText(f"Take refused: {c.reason} Please record it again.")
            c.path.unlink(missing_ok=True)
        else:
            self.takes[c.label].append(c)
            self.status.setText(f"Take {len(self.takes[c.label])} of {c.label} kept.")
        if c.label == self.label:
            self._show_step()

    def play(self) -> None:
        row = self.take_list.currentRow()
        if row < 0:
            return
        self._stop_playing()
        try:
            self.player = Player(self.takes[self.label][row].path)
            self.player.start()
        except SourceError as e:
            self.status.setText(f"Cannot play: {e}")
            self.player = None

    def _stop_playing(self) -> None:
        player, self.player = self.player, None
        if player is not None:
            player.stop()

    def discard(self) -> None:
        row = self.take_list.currentRow()
        if row >= 0:
            self._stop_playing()
            self.takes[self.label].pop(row).path.unlink(missing_ok=True)
            self.status.setText("Take discarded.")
            self._show_step()

    def skip(self) -> None:
        for c in self.takes[self.label]:
            c.path.unlink(missing_ok=True)
        self.takes[self.label] = []
        self.next_emotion()

    def next_emotion(self) -> None:
        if self.recording:
            self._stop_record()
        self.step = min(self.step + 1, len(self.labels) - 1)
        self.status.setText("")
        self._show_step()

    def finish(self) -> None:
        """Fit the voice on a worker thread; the result page waits for it."""
        if self.recording:
            self._stop_record()
        takes = [c.take for cs in self.takes.values() for c in cs if c.take is not None]
        self.teaching = None
        self.verdict.setText("Fitting your voice…")
        self.save_button.setEnabled(False)
        self.pages.setCurrentIndex(1)
        self._start(lambda: self.fitted.emit(personal.teach(takes, self.labels)))

    def _fitted(self, teaching: personal.Teaching) -> None:
        self.teaching = teaching
        self.verdict.setText(
            f"{teaching.verdict()}\nThe general model recognised {teaching.before:.0%} of your "
            f"takes; your voice, each take judged as if it had not heard it, {teaching.after:.0%}."
        )
        names = list(teaching.counts)
        for table, counts in (
            (self.before_table, teaching.confusion_before),
            (self.after_table, teaching.confusion_after),
        ):
            table.setRowCount(len(names))
            table.setColumnCount(len(names))
            table.setVerticalHeaderLabels(names)
            table.setHorizontalHeaderLabels(names)
            for i, row in enumerate(counts):
                for j, n in enumerate(row):
                    table.setItem(i, j, QTableWidgetItem(str(int(n))))
        self.save_button.setEnabled(not teaching.worse)
        (self.back_button if teaching.worse else self.name_edit).setFocus()

    def save(self) -> Path | None:
        name = self.name_edit.text().strip()
        if self.teaching is None or self.teaching.worse or not name:
            return None
        path = self.keep(name, self.teaching)
        if path is not None:
            self.verdict.setText(f"Saved the voice {name!r}; the meter now judges with it.")
            self.save_button.setEnabled(False)
        return path

    def back(self) -> None:
        self.pages.setCurrentIndex(0)
        self._show_step()

    def done(self, result: int) -> None:
        """Closing: stop recording and playing, wait for the workers, forget the takes."""
        self.timer.stop()
        self.reader = None
        self._stop_playing()
        for thread in self.threads:
            thread.join()
        self.folder.cleanup()
        super().done(result)
