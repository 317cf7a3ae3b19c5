"""Test-wide settings: Qt draws offscreen, so the window tests need no display."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


import pytest

from app import bundle
from app.engine import Engine


@pytest.fixture(scope="module")
def engine() -> Engine:
    """The bundled model (or ``$EMOTION_METER_MODEL``): it ships with the app, so it must load."""
    return Engine(bundle.load())
