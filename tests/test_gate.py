"""The speech gate: silence shows as silence, with hysteresis so pauses do not flicker."""

from __future__ import annotations

import numpy as np

from app.gate import SpeechGate


def test_quiet_room_is_silence_and_speech_opens() -> None:
    gate = SpeechGate()
    room = np.full(100, -70.0, np.float32)
    assert not gate.update(room)
    speech = room.copy()
    speech[::2] = -25.0
    assert gate.update(speech)


def test_hysteresis_keeps_open_through_a_short_pause() -> None:
    gate = SpeechGate()
    levels = np.full(100, -70.0, np.float32)
    levels[:40] = -25.0
    assert gate.update(levels)
    levels[:] = -70.0
    levels[:12] = -25.0  # 12 % voiced: below the opening fraction, above the closing one
    assert gate.update(levels)
    assert not SpeechGate().update(levels)


def test_loud_steady_noise_floor_is_not_speech() -> None:
    gate = SpeechGate()
    noise = np.random.default_rng(0).normal(-30.0, 1.0, 100).astype(np.float32)
    assert not gate.update(noise)
    assert not gate.update(noise)


def test_reset_forgets() -> None:
    gate = SpeechGate()
    gate.update(np.full(50, -20.0, np.float32))
    gate.reset()
    assert gate.noise_db is None and not gate.is_open


def test_quiet_speech_over_a_quiet_floor_opens() -> None:
    """Contrast, not level: speech at -60 dBFS over a -85 dBFS floor is speech."""
    gate = SpeechGate()
    room = np.random.default_rng(1).normal(-85.0, 1.0, 100).astype(np.float32)
    assert not gate.update(room)
    speech = room.copy()
    speech[::2] = -60.0
    assert gate.update(speech)


def test_digital_silence_never_opens() -> None:
    assert not SpeechGate().update(np.full(100, -100.0, np.float32))
