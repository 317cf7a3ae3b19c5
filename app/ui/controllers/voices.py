"""Adapting to the speaker: whether and how fast the live meter learns the voice it hears, what
it has learnt so far, and voices kept as named profiles to start from another day."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QInputDialog, QLabel, QMenu, QMessageBox

from app import adapt, atomic, personal
from app.adapt import TIME_CONSTANT, Moments
from app.analyzer import LiveAnalyzer, LiveResult
from app.engine import Engine
from app.ui.controllers.prompts import Prompts
from app.worker import LiveWorker


class Voices:
    def __init__(
        self,
        engine: Engine | None,
        settings: QSettings,
        label: QLabel,
        menu: QMenu,
        prompts: Prompts,
        worker: Callable[[], LiveWorker | None],
        *,
        adapt: QAction,
        new_speaker: QAction,
        save: QAction,
        adapt_time: QAction,
    ) -> None:
        """``label`` says how far the meter adapted, ``menu`` lists the saved voices, ``adapt``
        switches adaptation on and off; ``worker`` is the running live analysis, if any."""
        self.engine = engine
        self.settings = settings
        self.switch = adapt
        self.label = label
        self.menu = menu
        self.prompts = prompts
        self.worker = worker
        self.voice: Moments | None = None  # the live speaker's statistics, as last reported
        self.start_voice: tuple[str, Moments] | None = None  # a saved voice to start from
        self.personal: personal.Voice | None = None  # a voice taught by its owner, in use
        self.personal_path: Path | None = None  # its file
        self.folder = (
            Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
            / "voices"
        )
        menu.aboutToShow.connect(self._list_saved)
        for action, slot in (
            (adapt, self.adapt_changed),
            (new_speaker, self.new_speaker),
            (save, lambda: self.save()),  # bare: ``checked`` must not become the name
            (adapt_time, self.choose_adapt_seconds),
        ):
            action.triggered.connect(slot)
            action.setEnabled(self.adaptive)
        menu.setEnabled(self.adaptive or self.teachable)

    @property
    def adaptive(self) -> bool:
        """The model was trained to adapt to a speaker (older ones only run cold)."""
        return self.engine is not None and self.engine.bundle.adapt_seconds is not None

    @property
    def teachable(self) -> bool:
        """The model can be taught a personal voice (an encoder model)."""
        return self.engine is not None and self.engine.bundle.encoder is not None

    @property
    def adapting(self) -> bool:
        return self.switch.isChecked()

    @property
    def adapt_seconds(self) -> float:
        """The adaptation time constant: the user's choice, else the model's."""
        default = (self.engine.bundle.adapt_seconds if self.engine else None) or TIME_CONSTANT
        return cast(float, self.settings.value("adapt_seconds", default, type=float))

    def restore(self) -> None:
        self.switch.setChecked(
            self.adaptive and bool(self.settings.value("adapt", True, type=bool))
        )
        self.show(None)

    def prepare(self, analyzer: LiveAnalyzer) -> None:
        """Set a new live analysis up: this adaptation time, from the saved voice if one."""
        analyzer.set_adapt_seconds(self.adapt_seconds)
        analyzer.personal = self.personal
        if self.start_voice is not None:
            analyzer.new_speaker(self.start_voice[1])

    def heard(self, voice: Moments | None, latest: LiveResult) -> None:
        """The live analysis reported the voice as it now knows it."""
        self.voice = voice
        self.show(latest)

    def adapt_changed(self) -> None:
        on = self.adapting
        self.settings.setValue("adapt", on)
        if (worker := self.worker()) is not None:
            worker.configure(adapting=on)
        self.show(None)

    def set_adapt_seconds(self, seconds: float) -> None:
        self.settings.setValue("adapt_seconds", seconds)
        if (worker := self.worker()) is not None:
            worker.configure(adapt_seconds=seconds)
        self.prompts.say(f"The voice learnt counts half after {seconds:g} s of speech")

    def choose_adapt_seconds(self) -> None:
        seconds, ok = QInputDialog.getDouble(
            self.prompts.window,
            "Adaptation time",
            "Seconds of speech after which the voice learnt counts half\n"
            "(shorter adapts faster, longer is steadier):",
            self.adapt_seconds,
            1.0,
            600.0,
            1,
        )
        if ok:
            self.set_adapt_seconds(seconds)

    def new_speaker(self) -> None:
        """Forget the voice learnt so far: the next speaker starts cold."""
        self.start_voice = None
        self.voice = None
        if (worker := self.worker()) is not None:
            worker.new_speaker(None)
        self.show(None)
        self.prompts.say("New speaker: adapting from the start")

    def show(self, latest: LiveResult | None) -> None:
        if self.personal is not None:
            self.label.setText(f"voice: {self.personal.name} (taught)")
        elif not self.adaptive:
            self.label.setText("voice: not adaptive (model)")
        elif not self.adapting:
            self.label.setText("voice: adaptation off")
        elif latest is None or latest.speech_seconds == 0:
            start = self.start_voice[0] if self.start_voice else "new speaker"
            self.label.setText(f"voice: {start}, speak to adapt")
        else:
            self.label.setText(
                f"adapted to your voice: {latest.adaptation:.0%} "
                f"({latest.speech_seconds:.0f} s of speech)"
            )

    def save(self, name: str | None = None) -> Path | None:
        """Keep the voice learnt so far as a named profile, to start from another day."""
        if self.engine is None or self.voice is None or self.voice.count == 0:
            self.prompts.say("No voice to save yet: listen to someone speak first")
            return None
        if name is None:
            name, ok = QInputDialog.getText(
                self.prompts.window, "Save voice", "Name of this voice:"
            )
            if not ok or not name.strip():
                return None
        voice, features = self.voice, self.engine.bundle.features
        return self._write(name, lambda path: adapt.save_profile(path, name, voice, features))

    def keep_taught(self, name: str, teaching: personal.Teaching) -> Path | None:
        """Save a voice taught in the wizard by name, and judge with it from now on."""
        if self.engine is None:
            return None
        model = personal.model_id(self.engine.bundle)
        path = self._write(name, lambda path: personal.save(path, name, teaching, model))
        if path is not None:
            self.use_personal(path)
        return path

    def _write(self, name: str, write: Callable[[Path], None]) -> Path | None:
        """A named voice's file in the voices folder, written by ``write`` (asking first
        before replacing one of the same name)."""
        name = name.strip()
        safe = "".join(c if c.isalnum() or c in " -_" else "_" for c in name)
        path = self.folder / f"{safe or 'voice'}.json"
        if not self.prompts.may_replace(path):
            return None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write(path)
        except OSError as e:
            self.prompts.error("Could not save the voice", f"{path}: {e.strerror or e}")
            return None
        self.prompts.say(f"Saved the voice {name!r}")
        return path

    def use(self, path: Path) -> bool:
        """Start adapting from a saved voice, or judge with a taught one (now if listening,
        else at the next start; files opened from now on too)."""
        if self.engine is None:
            return False
        if personal.is_personal(path):
            return self.use_personal(path)
        try:
            name, voice = adapt.load_profile(path, self.engine.bundle.features)
        except adapt.ProfileError as e:
            self.prompts.error("Cannot use this voice", str(e))
            return False
        self.start_voice, self.voice = (name, voice), voice
        if (worker := self.worker()) is not None:
            worker.new_speaker(voice)
        self.switch.setChecked(True)
        self.adapt_changed()
        self.prompts.say(f"Using the saved voice {name!r}")
        return True

    def use_personal(self, path: Path | None) -> bool:
        """Judge with a taught voice from now on (None: the general model again)."""
        if self.engine is None:
            return False
        voice = None
        if path is not None:
            try:
                voice = personal.load_for(path, self.engine.bundle)
            except personal.ProfileError as e:
                self.prompts.error("Cannot use this voice", str(e))
                return False
        self.personal, self.personal_path = voice, path if voice else None
        if (worker := self.worker()) is not None:
            worker.use_personal(voice)
        self.show(None)
        self.prompts.say(
            f"Using the voice {voice.name!r}" if voice else "Using the general model, for any voice"
        )
        return True

    def rename(self, path: Path, name: str | None = None) -> Path | None:
        """Give a saved voice another name; its file follows the name."""
        if self.engine is None:
            return None
        if name is None:
            name, ok = QInputDialog.getText(
                self.prompts.window, "Rename voice", "New name of this voice:", text=path.stem
            )
            if not ok or not name.strip():
                return None
        features = self.engine.bundle.features
        try:
            if personal.is_personal(path):
                text = personal.renamed(path, name.strip())
                write: Callable[[Path], None] = lambda target: atomic.write(target, text, sync=True)  # noqa: E731
            else:
                moments = adapt.load_profile(path, features)[1]
                write = lambda target: adapt.save_profile(target, name, moments, features)  # noqa: E731
        except (personal.ProfileError, adapt.ProfileError) as e:
            self.prompts.error("Cannot rename this voice", str(e))
            return None
        target = self._write(name, write)
        if target is not None and target != path:
            path.unlink(missing_ok=True)
        if target is not None and path == self.personal_path:
            self.use_personal(target)
        return target

    def delete(self, path: Path, ask: bool = True) -> bool:
        """Remove a saved voice (after asking); one in use is left off first."""
        if ask:
            answer = QMessageBox.question(
                self.prompts.window,
                "Delete voice?",
                f"Delete the voice {path.stem!r}? This cannot be undone.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        if path == self.personal_path:
            self.use_personal(None)
        try:
            path.unlink()
        except OSError as e:
            self.prompts.error("Could not delete the voice", f"{path}: {e.strerror or e}")
            return False
        self.prompts.say(f"Deleted the voice {path.stem!r}")
        return True

    def _list_saved(self) -> None:
        self.menu.clear()
        saved = sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []
        for path in saved:
            voice = self.menu.addMenu(path.stem)
            for text, act in (
                ("Use", self.use),
                ("Rename…", lambda p: self.rename(p)),
                ("Delete…", lambda p: self.delete(p)),
            ):
                action = voice.addAction(text)
                action.triggered.connect(lambda checked=False, p=path, act=act: act(p))
        if not saved:
            self.menu.addAction("(no saved voices)").setEnabled(False)
        if self.personal is not None:
            self.menu.addSeparator()
            general = self.menu.addAction("General model (no taught voice)")
            general.triggered.connect(lambda: self.use_personal(None))
