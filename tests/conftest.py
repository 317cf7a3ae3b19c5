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


@pytest.fixture
def no_output_device() -> None:
    """For tests of what happens without speakers: skip where this machine has some."""
    from app.audio import sources

    sd = sources.sounddevice()
    try:
        sd.query_devices(kind="output")
    except sd.PortAudioError:
        return
    pytest.skip("this machine has an output device")
