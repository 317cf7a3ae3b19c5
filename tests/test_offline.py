"""Whole-file analysis with the bundled model: formats, rates, channels, silence, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from app import bundle as bundles
from app.analysis import NO_SPEECH
from app.audio import files
from app.engine import Engine
from app.features import FeatureSettings
from app.offline import Columns, Track, analyze_audio, analyze_blocks, analyze_file
from tests.data import some_clips

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clip() -> Path:
    return some_clips("ravdess", 40)[-1]


def test_blocks_give_the_same_windows_as_one_array(engine: Engine, clip: Path) -> None:
    audio = files.load(clip, engine.bundle.features.sample_rate)
    whole = analyze_audio(audio, engine)
    cuts = np.array_split(audio, [1000, 1003, 20000, 20001, 33333])
    blocked = analyze_blocks(cuts, engine, len(audio) / engine.bundle.features.sample_rate)
    np.testing.assert_allclose(blocked.ends, whole.ends)
    np.testing.assert_array_equal(blocked.speech, whole.speech)
    np.testing.assert_allclose(blocked.probabilities, whole.probabilities, atol=1e-4)
    assert whole.speech.any()
    assert whole.ends[1] - whole.ends[0] == pytest.approx(engine.bundle.hop_seconds, abs=0.011)


@pytest.mark.parametrize("stated", [0.5, 1.0, 2.0])  # the duration a file's header gives
def test_display_columns_pool_every_frame_once(monkeypatch, stated: float) -> None:
    """However the frames arrive and however wrong the stated duration, each column is the mean
    of ``pool`` frames (the last of what is left), held in one array, not copied at the end."""
    monkeypatch.setattr("app.offline.MAX_SPECTROGRAM_COLUMNS", 100)
    s = FeatureSettings()
    frames = np.random.default_rng(1).normal(size=(1234, s.n_mels)).astype(np.float32)
    columns = Columns(s, stated * len(frames) * s.hop_length / s.sample_rate)
    for part in np.array_split(frames, [5, 6, 300, 301, 999]):
        columns.add(part)
    pool = columns.pool
    expected = [frames[i : i + pool].mean(axis=0) for i in range(0, len(frames), pool)]
    shown = columns.spectrogram()
    np.testing.assert_allclose(shown.astype(np.float32), expected, rtol=1e-3, atol=1e-3)
    assert shown.base is not None, "the columns were copied"


def test_silence_is_silence(engine: Engine) -> None:
    quiet = np.random.default_rng(0).normal(0, 1e-4, 16000 * 5).astype(np.float32)
    analysis = analyze_audio(quiet, engine)
    assert not analysis.speech.any()
    assert analysis.overall[0] is None
    assert np.isnan(analysis.probabilities).all()
    assert analysis.to_dict()["quality"]["note"].startswith("No speech found, and the input is")


def test_a_file_without_speech_says_so(engine: Engine) -> None:
    """A steady tone as loud as speech: no emotion, and a line saying why, never nothing."""
    t = np.arange(16000 * 3) / 16000
    tone = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    found = analyze_audio(tone, engine).to_dict()
    assert found["emotion"] is None and found["quality"]["note"] == NO_SPEECH


@pytest.mark.parametrize(
    ("rate", "channels", "subtype"),
    [(16000, 1, "PCM_U8"), (8000, 1, "PCM_16"), (44100, 2, "PCM_24"), (96000, 6, "FLOAT")],
)
def test_odd_files_give_the_same_emotion(
    engine: Engine, clip: Path, tmp_path: Path, rate: int, channels: int, subtype: str
) -> None:
    import soxr

    audio = files.load(clip, 16000)
    odd = np.repeat(soxr.resample(audio, 16000, rate)[:, None], channels, axis=1)
    path = tmp_path / f"odd-{rate}-{channels}.wav"
    sf.write(path, odd * 0.9, rate, subtype=subtype)
    reference = analyze_file(clip, engine).overall
    got = analyze_file(path, engine).overall
    assert got[0] is not None
    if rate >= 16000 and subtype != "PCM_U8":
        assert got[0] == reference[0]
        np.testing.assert_allclose(got[1], reference[1], atol=0.05)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)  # fmt: skip


def test_analyze_cli_json_and_csv(clip: Path, tmp_path: Path) -> None:
    done = run_cli("analyze", str(clip), str(some_clips("emodb", 1)[0]), "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no runtime banners: stderr is for real warnings
    results = json.loads(done.stdout)
    assert next(Path(r["file"]).name for r in results) == clip.name
    labels = results[0]["labels"]
    for r in results:
        assert r["emotion"] in labels
        assert abs(sum(r["probabilities"]) - 1) < 1e-3
        assert all(w["probabilities"] is None for w in r["windows"] if not w["speech"])
    csv = run_cli("analyze", str(clip), "--csv")
    rows = csv.stdout.strip().splitlines()
    assert rows[0].split(",")[:5] == ["file", "start", "end", "speech", "emotion"]
    assert len(rows) == 1 + len(results[0]["windows"])


def test_gain_leaves_analyze_unchanged(tmp_path: Path) -> None:
    """A speaker 20 dB quieter or louder (short of clipping) gets the same emotion: the model
    normalises each window's level and the speech gate reads contrast, not level."""
    clip = some_clips("ravdess", 60)[37]  # a fearful sentence
    audio = files.load(clip, 16000)
    audio *= 10 ** (-22 / 20) / np.abs(audio).max()  # peak at -22 dBFS: +20 dB cannot clip
    paths = []
    for db in (-20, 0, 20):
        paths.append(tmp_path / f"gain{db:+d}.wav")
        sf.write(paths[-1], audio * 10 ** (db / 20), 16000, subtype="FLOAT")
    done = run_cli("analyze", *map(str, paths), "--json")
    assert done.returncode == 0, done.stderr
    plain, quiet, loud = (json.loads(done.stdout)[i] for i in (1, 0, 2))
    # 20 dB down, the quietest bands of a noiseless file reach the features' -100 dB floor:
    # a small change in shape a real microphone's own noise would hide. 20 dB up, what is left
    # is the int8 encoder's rounding (each window's activations quantised on their own range):
    # over 20 RAVDESS sentences a probability moved by 0.014 median, 0.053 at most
    for other, within in ((quiet, 0.06), (loud, 0.04)):
        assert other["emotion"] == plain["emotion"]
        np.testing.assert_allclose(other["probabilities"], plain["probabilities"], atol=within)
        assert [w["speech"] for w in other["windows"]] == [w["speech"] for w in plain["windows"]]


def test_analyze_cli_cold_adapted_and_same_speaker(adaptive_engine: Engine) -> None:
    actor = some_clips("ravdess", 60)[:60:15]  # four sentences of one actor
    names = [str(p) for p in actor]
    model = ["--model", str(adaptive_engine.bundle.path)]
    runs = {
        mode: json.loads(run_cli("analyze", *names, "--json", *model, *flags).stdout)
        for mode, flags in (("cold", []), ("own", ["--adapt"]), ("same", ["--same-speaker"]))
    }
    assert all(r["normalisation"] == {"mode": "cold", "adaptation": 0, "speaker": None}
               for r in runs["cold"])  # fmt: skip
    own = [r["normalisation"] for r in runs["own"]]
    same = [r["normalisation"] for r in runs["same"]]
    assert all(n["mode"] == "adapted" and n["speaker"] == "this file" for n in own)
    assert all(n["speaker"] == "same speaker: 4 files" for n in same)
    assert len({n["adaptation"] for n in same}) == 1  # one voice, pooled over the files
    assert same[0]["adaptation"] > max(n["adaptation"] for n in own)
    changed = [
        a["probabilities"] != c["probabilities"]
        for a, c in zip(runs["same"], runs["cold"], strict=True)
    ]
    assert any(changed)


def test_analyze_cli_bad_file_says_why(tmp_path: Path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    done = run_cli("analyze", str(bad), "--json")
    assert done.returncode == 1
    assert "not an audio file" in done.stderr
    assert "error" in json.loads(done.stdout)[0]


def test_self_test_prints_the_sample_emotion() -> None:
    done = run_cli("--self-test")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("self-test: sample.flac: ")
    label = done.stdout.split(": ")[2].split(" ")[0]
    assert label in bundles.load().labels


def test_missing_model_is_a_message(tmp_path: Path) -> None:
    done = run_cli("--self-test", "--model", str(tmp_path))
    assert done.returncode == 2
    assert "No emotion model found" in done.stderr


def test_first_result_within_a_second_then_whole_windows(engine: Engine, clip: Path) -> None:
    """A session's first emotion comes from the first half second of speech, marked provisional
    and judged exactly as a file that short is; whole windows follow, as the file's are."""
    from app.analyzer import LiveAnalyzer

    rate = engine.bundle.features.sample_rate
    audio = files.load(clip, rate)
    loud = np.abs(audio) > 0.1 * np.abs(audio).max()
    audio = audio[int(np.argmax(loud)) :]  # the session starts as the speaker does
    live = LiveAnalyzer(engine, rate, smoothing=0.0)
    results = [r for c in np.array_split(audio, len(audio) // 1600) for r in live.push(c).results]
    first = next(r for r in results if r.speech)
    assert first.provisional and first.time <= 1.0
    provisional = [r for r in results if r.provisional]
    assert all(r.time < engine.bundle.window_seconds for r in provisional)
    assert not any(r.provisional for r in results[len(provisional) :])  # then only whole ones
    for r in provisional:
        short = analyze_audio(audio[: round(r.time * rate)], engine)
        assert len(short.ends) == 1 and short.speech[0] == r.speech
        if r.speech:
            np.testing.assert_allclose(r.raw, short.probabilities[0], atol=1e-5)


def test_live_windows_in_any_chunks_equal_the_files(engine: Engine, clip: Path) -> None:
    """Audio arriving in chunks of any size gives the live meter the windows a file's analysis
    has, a hop apart (so the encoder's blocks are shared), with the same probabilities."""
    from app.analyzer import LiveAnalyzer

    audio = np.tile(files.load(clip, 16000), 2)
    live = LiveAnalyzer(engine, 16000, smoothing=0.0)
    assert_live_is_the_file(live, audio, analyze_audio(audio, engine), (50, 2000), atol=1e-6)


def assert_live_is_the_file(
    live: Any, audio: np.ndarray, offline: Any, chunks: tuple[int, int], atol: float
) -> None:
    """``audio`` pushed to ``live`` in random chunks gives ``offline``'s whole windows."""
    sizes = np.random.default_rng(3).integers(*chunks, len(audio) // chunks[0])
    cuts = np.cumsum(sizes)[np.cumsum(sizes) < len(audio)]
    results = [r for c in np.split(audio, cuts) for r in live.push(c).results]
    whole = [r for r in results if not r.provisional]
    assert [round(r.time, 4) for r in whole] == [round(float(e), 4) for e in offline.ends]
    assert [r.speech for r in whole] == offline.speech.tolist()
    for r, p in zip(whole, offline.probabilities, strict=True):
        if r.raw is not None:
            np.testing.assert_allclose(r.raw, p, atol=atol)


@pytest.mark.parametrize("rate", [16000, 48000, 44100])
def test_due_says_when_the_next_result_comes(engine: Engine, clip: Path, rate: int) -> None:
    """The live worker sleeps until ``due`` more samples are in: at the model's rate and its
    multiples (a 48 kHz microphone) the next result, provisional or whole, comes with exactly
    the last of them; at 44.1 kHz (soxr, which hands on its output in bursts) within 0.1 s."""
    from app.analyzer import LiveAnalyzer

    audio = np.tile(files.load(clip, rate), 2)
    live = LiveAnalyzer(engine, rate, smoothing=0.0)
    start, kinds = 0, set()
    for _ in range(10):
        due = first = live.due()
        begun = start
        if rate % engine.bundle.features.sample_rate == 0:
            assert not live.push(audio[start : start + due - 1]).results
            results = live.push(audio[start + due - 1 : start + due]).results
            start += due
        else:
            while not (results := live.push(audio[start : start + due]).results):
                start, due = start + due, live.due()
            start += due
            assert start - begun <= first + 0.1 * rate  # not a hop later
        assert len(results) == 1
        kinds.add(results[0].provisional)
    assert kinds == {True, False}


def test_a_microphone_rate_live_is_judged_as_the_file(engine: Engine, clip: Path, tmp_path: Path):
    """At 48 kHz too, audio arriving in chunks gives the live meter the windows, speech and
    probabilities the file's analysis gives: both resample it the same way, as it streams."""
    from app.analyzer import LiveAnalyzer

    audio = np.tile(files.load(clip, 48000), 2)
    path = tmp_path / "mic.wav"
    sf.write(path, audio, 48000, subtype="FLOAT")
    live = LiveAnalyzer(engine, 48000, smoothing=0.0)
    assert_live_is_the_file(live, audio, analyze_file(path, engine), (100, 6000), atol=1e-5)


def test_a_file_on_two_lanes_is_judged_as_on_one(engine: Engine, clip: Path) -> None:
    """Two copies of the model judge a file's windows side by side, each window as one would."""
    audio = np.tile(files.load(clip, 16000), 3)
    two = Engine(engine.bundle, lanes=2)
    assert two.lanes == 2
    one, both = analyze_audio(audio, engine), analyze_audio(audio, two)
    np.testing.assert_array_equal(both.ends, one.ends)
    np.testing.assert_array_equal(both.probabilities, one.probabilities)
    np.testing.assert_array_equal(both.attention, one.attention)


def test_a_track_of_rows_grows_past_the_duration_it_was_sized_for() -> None:
    """Attention rows are kept in a buffer sized from the file's duration; a stream longer than
    its stated duration grows it, and nothing added is lost or reordered."""
    rows = Track(2, width=3)
    for i in range(40):
        rows.extend(np.full((1, 3), i, np.float32))
    got = rows.array()
    assert got.shape == (40, 3) and (got == np.arange(40)[:, None]).all()
    series = Track(3)
    series.extend(np.arange(50, dtype=np.float32))
    assert (series.array() == np.arange(50)).all()
    assert series.slice(45, 99).tolist() == list(range(45, 50))
    half = Track(1, width=2, dtype=np.float16)  # attention, kept for display
    half.extend(np.full((3, 2), 0.5, np.float32))
    assert half.array().dtype == np.float16 and half.array().shape == (3, 2)


def test_a_shift_of_the_encoder_frames_moves_the_judgement_not_the_embedding(
    engine: Engine, clip: Path
) -> None:
    """The embedding is the encoder's, whatever offset the head is given; a zero offset is no
    offset, a large one another judgement."""
    from app.features import Pipeline

    audio = files.load(clip, engine.bundle.features.sample_rate)
    window = Pipeline(engine.bundle.features).features(audio)[: engine.bundle.window_frames]
    plain = engine.predict_features(window)
    width = engine.bundle.model_input_shape[2]
    assert plain.embedding is not None and plain.embedding.shape == (2 * width,)
    zero = engine.predict(normalised(engine, window), np.zeros(width, np.float32))
    np.testing.assert_allclose(zero.probabilities, plain.probabilities, atol=1e-6)
    offset = np.random.default_rng(0).normal(0, 1, width).astype(np.float32)  # not uniform:
    moved = engine.predict(normalised(engine, window), offset)  # the head's layer norm would undo
    np.testing.assert_array_equal(moved.embedding, plain.embedding)
    assert np.abs(moved.probabilities - plain.probabilities).max() > 0.01


def normalised(engine: Engine, window: np.ndarray) -> np.ndarray:
    from app.features import normalise

    return normalise(window, engine.bundle.mean, engine.bundle.std)
