"""Pitch, loudness and tempo against references, on tones with known values and on real speech;
the valence–arousal mapping; the same values live and on files, and in analyze's output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest

from app import affect, prosody
from app.analyzer import LiveAnalyzer
from app.audio import files
from app.engine import Engine
from app.features import FeatureSettings, Pipeline
from app.offline import analyze_audio
from tests.data import some_clips

ROOT = Path(__file__).resolve().parents[1]
S = FeatureSettings(kind="whisper", n_fft=400, n_mels=80)
RATE = S.sample_rate
LABELS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")


def voice(f0: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    """A vowel-like tone: ten harmonics falling 6 dB per octave."""
    t = np.arange(int(seconds * RATE)) / RATE
    y = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 11))
    return (amplitude * y / np.abs(y).max()).astype(np.float32)


def track(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    levels = Pipeline(S).level_db(y)
    return prosody.pitch(y, S, levels), levels


@pytest.mark.parametrize("f0", [80.0, 110.0, 196.0, 330.0, 480.0])
def test_pitch_of_tones(f0: float) -> None:
    got, _ = track(voice(f0, 1.0))
    assert np.isfinite(got).mean() > 0.95
    cents = 1200 * np.log2(got[np.isfinite(got)] / f0)
    assert np.abs(np.median(cents)) < 5 and np.abs(cents).max() < 30


def test_noise_and_silence_carry_no_pitch() -> None:
    noise = np.random.default_rng(0).normal(0, 0.1, RATE).astype(np.float32)
    assert np.isfinite(track(noise)[0]).mean() < 0.05
    assert not np.isfinite(track(np.zeros(RATE, np.float32))[0]).any()
    quiet = voice(150.0, 1.0, amplitude=1e-4)  # -80 dBFS: under the floor
    assert not np.isfinite(track(quiet)[0]).any()


def test_pitch_matches_pyin_on_real_speech() -> None:
    """Against librosa's pYIN on real clips (our frame i+1 is centred 3 ms from its
    frame i): median error in cents, octave-or-worse errors, and voicing agreement."""
    clips = some_clips("ravdess", 200)[::25] + some_clips("emodb", 200)[::50]
    errors, gross, agree = [], [], []
    for path in clips:
        y = files.load(path, RATE)
        ours, _ = track(y)
        ref, _, _ = librosa.pyin(y, fmin=prosody.FMIN_HZ, fmax=prosody.FMAX_HZ, sr=RATE,
                                 frame_length=512, hop_length=160, center=False)  # fmt: skip
        n = min(len(ref) + 1, len(ours))
        a, b = ours[1:n], ref[: n - 1]
        both = np.isfinite(a) & np.isfinite(b)
        if np.isfinite(b).sum() < 20:  # pYIN finds no voice in some EmoDB clips (10a01Ac)
            continue
        assert both.sum() > 20, path.name
        cents = np.abs(1200 * np.log2(a[both] / b[both]))
        errors.append(np.median(cents))
        gross.append(np.mean(cents > 50))
        agree.append(np.mean(np.isfinite(a) == np.isfinite(b)))
    assert len(errors) >= 9 and np.median(errors) < 10 and max(errors) < 20, errors
    assert np.median(gross) < 0.1, gross
    assert np.median(agree) > 0.8 and min(agree) > 0.7, agree


@pytest.mark.parametrize("size", [1, 2, 7, 300])
def test_quantiles_are_numpys(size: int) -> None:
    values = np.random.default_rng(size).normal(150, 40, size).astype(np.float32)
    q = (0.1, 0.5, 0.9)
    assert np.allclose(prosody.quantiles(values, q), np.percentile(values, [10, 50, 90]), rtol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_pitch_stream_equals_offline(seed: int) -> None:
    y = files.load(some_clips("ravdess", 3)[seed], RATE)
    whole, levels = track(y)
    stream = prosody.PitchStream(S)
    frames = Pipeline(S)
    cuts = np.sort(np.random.default_rng(seed).integers(0, len(y), 12))
    pending = np.zeros(0, np.float32)
    parts = []
    for chunk in np.split(y, cuts):  # levels for exactly the frames each chunk completes
        pending = np.concatenate([pending, chunk])
        count = S.n_frames(len(pending))
        lv = frames.level_db(pending[: (count - 1) * S.hop_length + S.n_fft] if count else [])
        parts.append(stream.push(chunk, lv))
        pending = pending[count * S.hop_length :]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert len(whole) == len(levels)


def test_loudness_matches_librosa_rms() -> None:
    y = files.load(some_clips("emodb", 1)[0], RATE)
    _, ours = track(y)
    rms = librosa.feature.rms(y=y, frame_length=S.n_fft, hop_length=S.hop_length, center=False)
    ref = 20 * np.log10(np.maximum(rms[0], 1e-5))
    loud = ref > -60
    np.testing.assert_allclose(ours[loud], ref[loud], atol=0.01)
    sine = 0.5 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE).astype(np.float32)
    assert np.median(track(sine)[1]) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.05)


def syllables(count: int, rate: float) -> np.ndarray:
    """``count`` voiced syllables at ``rate`` per second: 110–160 Hz tones under a raised-cosine
    envelope, 60 % of each period voiced, over a quiet noise floor."""
    period = 1.0 / rate
    parts = []
    rng = np.random.default_rng(count)
    for _ in range(count):
        on = voice(110 + 50 * rng.random(), 0.6 * period)
        on *= np.hanning(len(on)).astype(np.float32)
        parts += [on, np.zeros(int(0.4 * period * RATE), np.float32)]
    y = np.concatenate([np.zeros(RATE // 5, np.float32), *parts])
    return y + rng.normal(0, 1e-3, len(y)).astype(np.float32)


@pytest.mark.parametrize(("count", "rate"), [(4, 3.0), (7, 4.0), (10, 6.0)])
def test_tempo_counts_syllables(count: int, rate: float) -> None:
    y = syllables(count, rate)
    f0, levels = track(y)
    speech = levels > -50
    assert len(prosody.nuclei(levels, speech & np.isfinite(f0))) == count
    p = prosody.summarise(f0, levels, speech, S.hop_length / RATE)
    assert p.tempo == pytest.approx(count / (speech.sum() * 0.01), rel=1e-6)
    assert 100 < p.pitch_hz < 170


def test_tempo_on_real_sentences() -> None:
    """RAVDESS actors say "Kids are talking by the door" or "Dogs are sitting by the door":
    seven syllables each."""
    counts = []
    for path in some_clips("ravdess", 240)[::20]:
        y = files.load(path, RATE)
        f0, levels = track(y)
        speech = levels > levels.max() - 35
        counts.append(len(prosody.nuclei(levels, speech & np.isfinite(f0))))
    assert 5.5 <= np.median(counts) <= 8.5 and min(counts) >= 4 and max(counts) <= 10, counts


def test_speaker_range() -> None:
    r = prosody.PitchRange()
    r.add(np.full(50, 100.0, np.float32))
    assert r.range() is None  # not enough voice yet
    r.add(np.concatenate([np.full(30, 100.0), np.full(120, 200.0), [np.nan] * 9]).astype("f4"))
    lo, mid, hi = r.range() or (0, 0, 0)
    assert lo == pytest.approx(100, rel=0.02) and mid == pytest.approx(200, rel=0.02)
    assert hi == pytest.approx(200, rel=0.02)
    r.reset()
    assert r.range() is None


def test_valence_arousal_of_fixed_probabilities() -> None:
    eye = np.eye(len(LABELS))
    xy = affect.position(eye, LABELS)
    by = dict(zip(LABELS, xy, strict=True))
    assert by["happy"][0] > 0.5 and by["angry"][0] < -0.5 and by["sad"][0] < -0.5
    assert by["angry"][1] > by["neutral"][1] > by["calm"][1]  # excited .. calm
    np.testing.assert_allclose(by["angry"], [(2.53 - 5) / 4, (6.2 - 5) / 4])  # the published
    half = affect.position(0.5 * (eye[2] + eye[4]), LABELS)[0]
    np.testing.assert_allclose(half, (by["happy"] + by["angry"]) / 2)
    assert np.isnan(affect.position(np.full(len(LABELS), np.nan), LABELS)).all()  # silence
    other = affect.position([0.5, 0.5], ("angry", "boredom"))[0]  # unrated labels drop out
    np.testing.assert_allclose(other, by["angry"])


def test_live_and_file_give_the_same_prosody(engine: Engine) -> None:
    b = engine.bundle
    rate = b.features.sample_rate
    audio = np.concatenate([files.load(c, rate) for c in some_clips("ravdess", 40)[-3:]])
    whole = analyze_audio(audio, engine)
    live = LiveAnalyzer(engine, b.features.sample_rate, b.hop_seconds, smoothing=0.0)
    s = b.features
    frames = round(b.hop_seconds * s.sample_rate / s.hop_length)
    hop = frames * s.hop_length  # reads of one hop, the first one short of a window by a hop
    first = (b.window_frames - frames - 1) * s.hop_length + s.n_fft  # (live ends = file ends)
    chunks = [audio[:first], *np.split(audio[first:], range(hop, len(audio) - first, hop))]
    results = [r for c in chunks for r in live.push(c).results if not r.provisional]
    by_end = dict(zip(np.round(whole.ends, 3), zip(whole.speech, whole.prosody, strict=True),
                      strict=True))  # fmt: skip
    assert [round(r.time, 3) for r in results] == list(by_end)  # the same windows
    matched = [(r.prosody, by_end[round(r.time, 3)][1]) for r in results if r.speech]
    assert [r.speech for r in results] == [s for s, _ in by_end.values()]
    assert len(matched) >= 3
    for got, want in matched:
        assert got is not None
        np.testing.assert_allclose(
            [got.pitch_hz, got.loudness_db, got.tempo],
            [want.pitch_hz, want.loudness_db, want.tempo],
        )
    assert 60 < np.nanmedian([w.pitch_hz for w in whole.prosody]) < 400
    assert len(whole.pitch) == len(whole.loudness) == pytest.approx(whole.duration * 100, abs=3)


def test_analyze_json_and_csv_carry_prosody_and_affect() -> None:
    clip = str(some_clips("ravdess", 40)[-1])
    cmd = [sys.executable, "-m", "app", "analyze", clip]
    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)[0]
    spoken = [w for w in result["windows"] if w["speech"]]
    assert spoken and all(set(w["prosody"]) == set(prosody.PROSODY_FIELDS) for w in spoken)
    assert all(-1 <= w["valence"] <= 1 and -1 <= w["arousal"] <= 1 for w in spoken)
    assert -1 <= result["valence"] <= 1 and "Warriner" in result["affect_source"]
    assert all(w["valence"] is None for w in result["windows"] if not w["speech"])
    table = subprocess.run([*cmd, "--csv"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    header, *rows = table.stdout.strip().splitlines()
    assert header.endswith("pitch_hz,pitch_range_st,loudness_db,tempo,valence,arousal")
    assert len(rows) == len(result["windows"])
