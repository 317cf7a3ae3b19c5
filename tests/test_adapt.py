"""Speaker adaptation: running statistics are batch statistics, silence never adapts, a reset
forgets, profiles round-trip, and with adaptation off every result is the cold one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import adapt
from app.adapt import Adapter, Moments, Population, ProfileError, SpeechFrames
from app.analyzer import LiveAnalyzer
from app.audio import files
from app.engine import Engine
from app.features import FeatureSettings, Pipeline
from app.offline import analyze_file
from app.speaker import file_moments, speaker_moments, speaker_norm
from tests.data import datasets

RATE = 16000


@pytest.fixture(scope="module")
def engine(adaptive_engine: Engine) -> Engine:
    """Adaptation's machinery, whether or not the bundled model ships with it on."""
    return adaptive_engine


@pytest.fixture(scope="module")
def clips() -> list[Path]:
    """Two sentences of one RAVDESS actor, loud and quiet."""
    actor = datasets() / "ravdess" / "Actor_01"
    return [actor / "03-01-05-02-01-01-01.flac", actor / "03-01-04-01-02-02-01.flac"]


@given(
    data=st.lists(
        st.lists(st.floats(-120, 40, width=32), min_size=3, max_size=3), min_size=1, max_size=60
    ),
    cuts=st.lists(st.integers(0, 60), max_size=5),
)
def test_running_statistics_are_the_batch_statistics(data, cuts) -> None:
    frames = np.asarray(data, np.float32)
    parts = np.split(frames, sorted(c for c in cuts if c <= len(frames)))
    running = Moments.empty(3)
    for part in parts:
        running = running + Moments.of(part)
    assert running.count == len(frames)
    np.testing.assert_allclose(running.mean, frames.astype(np.float64).mean(axis=0), atol=1e-6)
    left_out = running - Moments.of(parts[0])
    np.testing.assert_allclose(  # a sum less a part: exact up to float64 rounding of the sum
        left_out.total, Moments.of(frames[len(parts[0]) :]).total, atol=1e-9
    )


def test_blend_shifts_from_cold_toward_the_speaker_with_evidence() -> None:
    people = Population(
        np.zeros(2, np.float32), np.full(2, 3.0, np.float32), np.ones(2, np.float32)
    )
    voice = Moments.of(np.array([[4.0, -4.0], [6.0, -6.0]] * 50, np.float32))  # 100 frames
    assert adapt.blend(people, Moments.empty(2), prior=100) == people.cold
    half = adapt.blend(people, voice, prior=100)
    assert half.weight == pytest.approx(0.5)
    np.testing.assert_allclose(half.mean, [0.5 * (5 - 1), 0.5 * (-5 - 1)])  # half the departure
    np.testing.assert_array_equal(half.std, people.std)  # the scale stays the training one
    full = adapt.blend(people, voice, prior=1e-9)
    assert full.weight > 0.99 and np.allclose(full.mean, [4.0, -6.0])


def test_reset_forgets_and_off_is_cold() -> None:
    s = FeatureSettings(kind="logmel")
    zeros = np.zeros(64, np.float32)
    a = Adapter(Population(zeros, zeros + 1, zeros), s, time_constant=1.0)
    a.add(Moments.of(np.full((500, 64), 3.0, np.float32)))
    assert a.norm().weight > 0.8 and a.speech_seconds == pytest.approx(5.0)
    assert a.norm().mean[0] > 2.4
    a.enabled = False
    assert a.norm() == a.population.cold
    a.enabled = True
    a.reset()
    assert a.speaker.count == 0 and a.norm() == a.population.cold


def test_silence_never_adapts() -> None:
    room = np.random.default_rng(0).normal(0, 1, (300, 4)).astype(np.float32)
    loud_noise = np.full(300, -20.0, np.float32)  # steady: the noise floor, not speech
    assert SpeechFrames(gate_frames=100).update(room, loud_noise, 300).count == 0
    frames = SpeechFrames(gate_frames=100)
    quiet = np.full(300, -70.0, np.float32)
    assert frames.update(room, quiet, 300).count == 0
    speech = quiet.copy()
    speech[::3] = -20.0
    voiced = frames.update(room, speech, 600)
    assert frames.speaking and voiced.count == 100  # only the loud frames, not the pauses
    np.testing.assert_allclose(voiced.total, room[::3].sum(axis=0), rtol=1e-5)


def test_the_meter_learns_nothing_from_a_quiet_room(engine: Engine, clips: list[Path]) -> None:
    live = LiveAnalyzer(engine, RATE)
    room = np.random.default_rng(2).normal(0, 3e-4, RATE * 6).astype(np.float32)
    results = [r for chunk in np.array_split(room, 60) for r in live.push(chunk).results]
    b = engine.bundle
    assert len(results) >= (6 - b.window_seconds) / b.hop_seconds  # every hop after the first
    assert not any(r.speech for r in results)
    assert live.adapter is not None and live.adapter.speaker.count == 0
    assert all(r.adaptation == 0 for r in results)
    speech = files.load(clips[0], RATE)
    after = [r for chunk in np.array_split(speech, 40) for r in live.push(chunk).results]
    assert any(r.speech for r in after)  # the last window may end in the clip's silence
    assert 0 < after[-1].speech_seconds < len(speech) / RATE


def test_only_new_frames_count_once() -> None:
    frames = SpeechFrames(gate_frames=10)
    x = np.ones((50, 2), np.float32)
    levels = np.full(50, -20.0, np.float32)
    levels[::2] = -80.0
    first = frames.update(x, levels, 50)
    again = frames.update(x, levels, 60)  # the window moved on by 10 frames
    assert first.count == 25 and again.count == 5


def test_live_adaptation_equals_the_files_statistics(engine: Engine, clips: list[Path]) -> None:
    """What the meter learns of a voice live is what analysing the file finds: the same gate,
    the same frames."""
    b = engine.bundle
    assert b.adapt_seconds
    audio = files.load(clips[0], RATE)
    live = LiveAnalyzer(engine, RATE, b.hop_seconds)
    for chunk in np.array_split(audio, len(audio) // 1600):  # 0.1 s reads
        live.push(chunk)
    offline = speaker_moments(np.array_split(audio, 7), b)
    assert live.adapter is not None and offline.count > 100
    assert live.adapter.speaker.count == offline.count
    np.testing.assert_allclose(live.adapter.speaker.total, offline.total, rtol=1e-5)


def test_adaptation_off_gives_the_cold_results(engine: Engine, clips: list[Path]) -> None:
    audio = np.concatenate([files.load(c, RATE) for c in clips])  # windows enough at any hop
    on, off = (LiveAnalyzer(engine, RATE, adapt=a) for a in (True, False))
    s, size = engine.bundle.features, engine.bundle.window_frames
    frames = Pipeline(s).features(audio)  # what the stream computes, frame for frame
    compared = 0
    for chunk in np.array_split(audio, 40):  # 0.1 s reads: at most one result each
        adapted, cold = on.push(chunk).results, off.push(chunk).results
        for a, c in zip(adapted, cold, strict=True):
            assert c.adaptation == 0 and off.voice is not None and off.voice.count == 0
            if c.speech and not c.provisional:  # the bundle's training statistics, exactly
                end = round((c.time * s.sample_rate - s.n_fft) / s.hop_length) + 1
                expected = engine.predict_features(frames[end - size : end]).probabilities
                np.testing.assert_allclose(c.raw, expected, atol=1e-6)
                compared += 1
            last = a, c
    assert compared >= 3
    adapted_last, cold_last = last
    assert adapted_last.adaptation > 0  # and adapting does change the answer
    assert not np.allclose(adapted_last.raw, cold_last.raw, atol=1e-4)


def test_file_adaptation_and_same_speaker(engine: Engine, clips: list[Path]) -> None:
    cold = analyze_file(clips[0], engine)
    assert cold.adaptation == 0 and cold.to_dict()["normalisation"]["mode"] == "cold"
    own = speaker_norm(engine, file_moments(clips[0], engine.bundle))
    adapted = analyze_file(clips[0], engine, norm=own)
    assert 0 < adapted.adaptation < 1
    assert adapted.to_dict()["normalisation"]["mode"] == "adapted"
    both = speaker_norm(engine, adapt.pooled([file_moments(c, engine.bundle) for c in clips]))
    assert both.weight > own.weight  # two files of the voice are more evidence than one


@settings(max_examples=30, deadline=None)
@given(text=st.text(max_size=200))
def test_profiles_round_trip_and_garbage_is_refused(tmp_path_factory, text: str) -> None:
    s = FeatureSettings(kind="logmel")
    folder = tmp_path_factory.mktemp("voices")
    voice = Moments.of(np.random.default_rng(1).normal(0, 1, (80, 64)).astype(np.float32))
    adapt.save_profile(folder / "anna.json", "Anna", voice, s)
    name, back = adapt.load_profile(folder / "anna.json", s)
    assert name == "Anna" and back.count == 80
    np.testing.assert_array_equal(back.total, voice.total)
    with pytest.raises(ProfileError, match="other features"):
        adapt.load_profile(folder / "anna.json", FeatureSettings(kind="mfcc"))
    (folder / "bad.json").write_text(text)
    with pytest.raises(ProfileError):
        adapt.load_profile(folder / "bad.json", s)
    damaged = json.loads((folder / "anna.json").read_text())
    damaged["moments"]["total"] = damaged["moments"]["total"][:3]
    (folder / "short.json").write_text(json.dumps(damaged))
    with pytest.raises(ProfileError):
        adapt.load_profile(folder / "short.json", s)
