"""The voice's pitch and loudness tracks and the valence–arousal view, live and in the inspector
(offscreen, real parts), and a screenshot that shows them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from app import affect
from app.engine import Engine
from app.prosody import FMAX_HZ, FMIN_HZ
from app.ui.driver import Driver
from tests.test_ui import inspecting, make_window, variance


def test_live_tracks_and_valence_arousal_update(qtbot, tmp_path: Path, engine: Engine, clip: Path):
    window = make_window(qtbot, tmp_path / "s.ini", engine)
    driver = Driver(window)
    window.hop_spin.setValue(0.25)
    assert driver.start_file_input(clip, speed=2.0)
    live = window.live
    qtbot.waitUntil(lambda: live.latest is not None and live.latest.prosody is not None
                    and not live.latest.provisional and live.affect.current is not None,
                    timeout=15_000)  # fmt: skip
    driver.stop_live()
    strips = live.strips
    f0, loudness = strips.f0, strips.loudness
    assert np.isfinite(f0).sum() > 20
    assert np.nanmin(f0) >= FMIN_HZ and np.nanmax(f0) <= FMAX_HZ
    assert len(loudness) == len(f0) and np.nanmax(loudness) > -40
    assert "Hz" in strips.caption
    point = live.affect.current
    assert point is not None and np.all(np.abs(point) <= 1)
    np.testing.assert_allclose(
        point, affect.position(live.latest.probabilities, window.labels)[0], atol=1e-9
    )
    assert variance(strips, strips.voice_rect.toAlignedRect()) > 0 and variance(live.affect) > 0
    png = driver.save_screenshot(tmp_path / "voice.png")
    assert png is not None and not QImage(str(png)).isNull()
    if os.environ.get("EMOTION_METER_SCREENSHOTS"):
        shutil.copy(png, Path(os.environ["EMOTION_METER_SCREENSHOTS"]) / "voice-live.png")
    window.close()


def test_live_voice_lines_are_the_lines_through_the_shown_frames(qtbot) -> None:
    """The pitch and loudness lines are kept as half-second paths placed by a transform (not
    rebuilt from every frame each paint); drawn, they are the lines through the frames on
    show, broken where a frame is unvoiced, and what scrolled away is forgotten."""
    import pyqtgraph as pg
    from PySide6.QtGui import QPainter, QPainterPath
    from PySide6.QtWidgets import QApplication

    from app.features import FeatureSettings
    from app.ui.views.prosody import LOUDNESS_DB
    from app.ui.views.strips import LiveStrips

    strips = LiveStrips(FeatureSettings(kind="logmel"))
    qtbot.addWidget(strips)
    strips.resize(800, 300)
    strips.show()
    for k in range(600):  # 18 s of 10 ms frames, 3 at a time, from stream second 1000
        t = 1000 + (np.arange(3) + 3 * k) * 0.01
        f0 = np.where((t * 2) % 1 < 0.2, np.nan, 150 + 50 * np.sin(3 * t))
        loudness = -30 + 10 * np.cos(2 * t)
        strips.append_voice(t, f0.astype(np.float32), loudness.astype(np.float32), float(t[-1]))
    QApplication.processEvents()
    assert len(strips.pitch_trace._closed) <= strips.seconds / 0.5 + 2  # the rest forgotten
    drawn = strips.grab().toImage()
    for trace in (strips.pitch_trace, strips.loudness_trace):
        trace.joined = trace.open = QPainterPath()
    reference = strips.grab().toImage()  # without the lines: now draw them the plain way
    p = QPainter(reference)
    p.setClipRect(strips.voice_rect)
    x = strips.x_at(strips.times - strips.origin)
    for values, pen, (lo, hi) in ((strips.f0, strips.pitch_pen, (FMIN_HZ, FMAX_HZ)),
                                  (strips.loudness, strips.loudness_pen, LOUDNESS_DB)):  # fmt: skip
        p.setPen(pen)
        p.drawPath(pg.arrayToQPath(x, strips._y(values, lo, hi), connect="finite"))
    p.end()
    r = strips.voice_rect.toAlignedRect()
    a, b = (pixels(i)[r.top() : r.bottom(), r.left() : r.right()] for i in (drawn, reference))
    lines = b != pixels(strips.grab().toImage())[r.top() : r.bottom(), r.left() : r.right()]
    assert lines.sum() > 1000  # the reference has lines to compare with
    assert (a != b).sum() <= 0.01 * lines.sum()  # the same to a pixel's rounding here and there


def pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    raw = np.frombuffer(image.constBits(), np.uint32, image.width() * image.height())
    return raw.reshape(image.height(), image.width()).copy()


def test_valence_arousal_trail_reuses_its_rendered_symbols(qtbot) -> None:
    """A minute of results draws the trail from the same few symbols: each new result used to
    render every point afresh (a third of the live GUI's time) and grow pyqtgraph's cache."""
    from app.ui.views.affect import TRAIL, AffectView

    view = AffectView()
    qtbot.addWidget(view)
    labels = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
    view.set_labels(labels)
    rng = np.random.default_rng(0)
    for p in rng.dirichlet(np.ones(len(labels)), 120):
        view.append(p)
    assert len(view.trail.data) == TRAIL
    assert len(view.trail.fragmentAtlas) <= TRAIL and len(view.point.fragmentAtlas) == 1


def test_inspector_tracks_follow_the_file_and_the_cursor(
    qtbot, tmp_path: Path, engine: Engine, clip: Path
):
    window, a = inspecting(qtbot, tmp_path, engine, clip)
    inspector = window.inspector
    times = inspector.voice.pitch.xData
    assert times is not None and len(times) == len(a.pitch)
    assert times[-1] == pytest.approx(a.duration, abs=0.05)
    spoken = np.flatnonzero(a.speech)
    first, last = spoken[0], spoken[-1]
    for k in (first, last):
        inspector.select(float(a.ends[k] - a.window_seconds / 2))
        np.testing.assert_allclose(
            inspector.affect.current, affect.position(a.probabilities[k], a.labels)[0]
        )
        assert f"{a.prosody[k].pitch_hz:.0f} Hz" in inspector.voice.text.toPlainText()
    if os.environ.get("EMOTION_METER_SCREENSHOTS"):
        png = Driver(window).save_screenshot(tmp_path / "inspector.png")
        assert png is not None
        shutil.copy(png, Path(os.environ["EMOTION_METER_SCREENSHOTS"]) / "voice-inspector.png")
    window.close()
