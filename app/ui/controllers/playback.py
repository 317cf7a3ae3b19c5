"""Playing the inspected recording from its cursor, the cursor following the sound; picking
another moment while it plays goes on from there."""

from __future__ import annotations

from app.audio.files import AudioFileError
from app.audio.sources import Player, SourceError
from app.ui.controllers.prompts import Prompts
from app.ui.views.inspector_panel import InspectorPanel


class Playback:
    def __init__(self, panel: InspectorPanel, prompts: Prompts) -> None:
        self.panel = panel
        self.prompts = prompts
        self.player: Player | None = None
        panel.play_button.clicked.connect(self.toggle)
        panel.selected.connect(self._moved)

    def toggle(self) -> None:
        if self.player is not None:
            self.stop()
        else:
            self.play_from(self.panel.cursor_time)

    def play_from(self, seconds: float) -> bool:
        a = self.panel.analysis
        if a is None or a.path is None:
            return False
        self.stop()
        try:
            player = Player(a.path, seconds)
            player.start()
        except (SourceError, AudioFileError) as e:
            self.prompts.say(f"Cannot play: {e}")
            self.prompts.last_error = str(e)
            return False
        self.player = player
        self.panel.play_button.setText("■ Stop")
        return True

    def stop(self) -> None:
        player, self.player = self.player, None
        if player is not None:
            player.stop()
        self.panel.play_button.setText("▶ Play")

    def follow(self) -> None:
        """Each frame: move the cursor to where the sound is, or stop at the end."""
        if self.player is None:
            return
        if self.player.playing:
            self.panel.select(self.player.position)
        else:
            self.stop()

    def _moved(self, seconds: float) -> None:
        if self.player is not None:
            self.play_from(seconds)
