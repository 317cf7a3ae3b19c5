"""Spoken changes for screen-reader users: when the leading emotion changes (and holds for two
results, so a flicker is not read out), the change is announced through Qt accessibility.
Optional (Live ▸ Announce the leading emotion), remembered between sessions."""

from __future__ import annotations

from PySide6.QtGui import QAccessible, QAccessibleAnnouncementEvent
from PySide6.QtWidgets import QWidget

HOLD = 2  # results in a row a new leader must keep before it is announced


class Announcer:
    def __init__(self, widget: QWidget) -> None:
        self.widget = widget  # what the announcement comes from
        self.enabled = False
        self.spoken: list[str] = []  # what was announced, newest last
        self._last: str | None = None
        self._candidate: str | None = None
        self._count = 0

    def update(self, leader: str) -> None:
        """The newest result's leading emotion in words ("Angry", "Silence", "Uncertain")."""
        self._count = self._count + 1 if leader == self._candidate else 1
        self._candidate = leader
        if self._count >= HOLD and leader != self._last:
            self._last = leader
            if self.enabled:
                self.spoken.append(leader)
                QAccessible.updateAccessibility(QAccessibleAnnouncementEvent(self.widget, leader))

    def reset(self) -> None:
        self._last = self._candidate = None
        self._count = 0
