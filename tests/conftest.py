"""Test-wide settings: Qt draws offscreen, so the window tests need no display."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


import pytest

from app import bundle
from app.engine import Engine


@pytest.fixture(scope="module")
def engine() -> Engine:
    """The bundled model (or ``$EMOTION_METER_MODEL``): it ships with the app, so it must load."""
    return Engine(bundle.load())


def adaptive_copy(folder: Path) -> Path:
    """The bundled model with speaker adaptation on (as a model trained for it ships), in
    ``folder``; the bundled one keeps it off when it did not help on validation."""
    b = bundle.load()
    copy = folder / "model"
    shutil.copytree(b.path, copy)
    meta = json.loads((copy / bundle.META_FILE).read_text())
    meta["adaptation"]["trained"] = True
    (copy / bundle.META_FILE).write_text(json.dumps(meta))
    return copy


@pytest.fixture(scope="module")
def adaptive_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """An engine whose model adapts to the speaker: what the adaptation tests exercise."""
    return Engine(bundle.load(adaptive_copy(tmp_path_factory.mktemp("adaptive"))))


@pytest.fixture
def clip() -> Path:
    """A RAVDESS sentence spoken loudly up to its end (so its last windows hold speech); test
    modules that need another clip define their own."""
    from tests.data import datasets

    return datasets() / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac"


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
