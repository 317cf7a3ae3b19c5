"""Audio sources and the live worker: a file played in real time, the sound system's failures."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.analyzer import LiveAnalyzer
from app.audio import files, sources
from app.audio.sources import FileSource, SourceError
from app.engine import Engine
from app.worker import AnalysisJob, Done, Failed, LiveWorker, Progress, Saved, Tick
from tests.data import datasets

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "samples" / "sample.flac"


def drain(out: queue.Queue[object]) -> list[object]:
    items = []
    while True:
        try:
            items.append(out.get_nowait())
        except queue.Empty:
            return items


def test_file_source_writes_the_file_in_real_time() -> None:
    source = FileSource(SAMPLE, speed=4.0)
    reader = source.ring.reader()
    begun = time.monotonic()
    source.start()
    assert source.finished.wait(10)
    took = time.monotonic() - begun
    source.stop()
    expected = files.load(SAMPLE, source.sample_rate)
    np.testing.assert_array_equal(reader.read(), expected)
    duration = len(expected) / source.sample_rate
    assert duration / 4 * 0.9 < took < duration / 4 + 1.0
    assert not source.running


def test_file_source_stops_midway_and_restarts() -> None:
    source = FileSource(SAMPLE)
    source.start()
    time.sleep(0.1)
    source.stop()
    assert not source.finished.is_set()
    assert 0 < source.ring.written < source.info.frames
    source.start()
    time.sleep(0.05)
    source.stop()
    assert not any(t.name == "file-source" for t in threading.enumerate())


def test_file_source_refuses_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    with pytest.raises(files.AudioFileError, match="not an audio file"):
        FileSource(bad)


def test_missing_input_device_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="not available"):
        sources.Microphone(device=10_000)


def test_no_microphone_at_all_is_a_clear_error() -> None:
    if sources.input_devices():
        pytest.skip("this machine has an input device")
    with pytest.raises(SourceError, match="No microphone found"):
        sources.Microphone()


def test_no_output_device_is_a_clear_error(no_output_device: None) -> None:
    with pytest.raises(SourceError, match="No audio output device"):
        sources.Player(SAMPLE)


def test_missing_portaudio_library_is_a_clear_error() -> None:
    """sounddevice raises OSError when libportaudio cannot be found; we say what to install."""
    code = (
        "import ctypes.util\n"
        "ctypes.util.find_library = lambda name: None\n"
        "from app.audio import sources\n"
        "try:\n"
        "    sources.input_devices()\n"
        "except sources.SourceError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert "PortAudio" in done.stdout and "libportaudio2" in done.stdout, done.stderr


def test_live_worker_analyses_a_file_source_and_records_it(engine: Engine, tmp_path: Path) -> None:
    clip = datasets() / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac"  # loud to the end
    source = FileSource(clip, speed=4.0)
    out: queue.Queue[object] = queue.Queue()
    worker = LiveWorker(source, LiveAnalyzer(engine, source.sample_rate), out)
    wav = tmp_path / "session.wav"
    worker.start()
    worker.record(wav)
    assert source.finished.wait(10)
    time.sleep(3 * worker.interval)
    worker.record(None)
    time.sleep(3 * worker.interval)
    worker.stop()
    items = drain(out)
    ticks = [i for i in items if isinstance(i, Tick)]
    results = [r for t in ticks for r in t.update.results]
    columns = sum(len(t.update.log_mel) for t in ticks)
    n = engine.bundle.features.n_frames(int(source.info.duration * 16000))
    assert abs(columns - n) <= 2
    assert results and any(r.speech for r in results)
    assert all(0 <= r.latency < 1 for r in results)
    assert ticks[-1].dropped == 0
    saved = [i for i in items if isinstance(i, Saved)]
    assert [s.path for s in saved] == [wav] and 0 <= saved[0].start < 0.5
    recorded, rate = sf.read(wav, dtype="float32")
    assert rate == source.sample_rate
    expected = files.load(clip, rate)[round(saved[0].start * rate) :]
    np.testing.assert_allclose(recorded, expected, atol=1 / 2**15)  # 16-bit WAV
    assert not worker.is_alive() and not source.running


def test_live_worker_applies_hop_changes_on_its_own_thread(engine: Engine, tmp_path: Path) -> None:
    # the sample three times (12 s): whole windows every hop from 3 s on, however busy the
    # machine (a 4 s file at 8x gave one whole window when the worker fell behind)
    audio, rate = sf.read(SAMPLE, dtype="float32")
    longer = tmp_path / "longer.wav"
    sf.write(longer, np.concatenate([audio] * 3), rate)
    source = FileSource(longer, speed=4.0)
    out: queue.Queue[object] = queue.Queue()
    analyzer = LiveAnalyzer(engine, source.sample_rate)
    worker = LiveWorker(source, analyzer, out)
    worker.configure(hop=0.5, smoothing=0.0)
    worker.start()
    assert source.finished.wait(10)
    time.sleep(3 * worker.interval)
    worker.stop()
    results = [r for i in drain(out) if isinstance(i, Tick) for r in i.update.results]
    times = [r.time for r in results if not r.provisional]
    assert analyzer.hop_seconds == 0.5 and analyzer.smoothing == 0.0
    # a whole window runs at the first read after a hop has passed: gaps are a hop or a little
    # more (the provisional ones of the first seconds come sooner)
    assert len(times) >= 2 and min(np.diff(times)) >= 0.49


def test_analysis_job_reports_progress_and_result(engine: Engine) -> None:
    out: queue.Queue[object] = queue.Queue()
    job = AnalysisJob(SAMPLE, engine, out)
    job.start()
    job.join(30)
    items = drain(out)
    assert any(isinstance(i, Progress) for i in items)
    done = items[-1]
    assert isinstance(done, Done) and len(done.analysis.ends) > 0


def test_analysis_job_without_a_model_still_gives_the_spectrogram() -> None:
    out: queue.Queue[object] = queue.Queue()
    job = AnalysisJob(SAMPLE, None, out)
    job.start()
    job.join(30)
    done = drain(out)[-1]
    assert isinstance(done, Done)
    a = done.analysis
    assert a.labels == () and len(a.ends) == 0
    assert a.spectrogram.shape[0] == pytest.approx(a.duration * a.spectrogram_rate, abs=5)
    assert a.spectrogram.max() > -60


def test_analysis_job_reports_a_bad_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    out: queue.Queue[object] = queue.Queue()
    job = AnalysisJob(empty, None, out)
    job.start()
    job.join(10)
    failed = drain(out)[-1]
    assert isinstance(failed, Failed) and "empty" in failed.message


def test_recording_to_an_unwritable_place_is_reported(engine: Engine, tmp_path: Path) -> None:
    source = FileSource(SAMPLE, speed=8.0)
    out: queue.Queue[object] = queue.Queue()
    worker = LiveWorker(source, LiveAnalyzer(engine, source.sample_rate), out)
    worker.start()
    worker.record(tmp_path / "no such folder" / "x.wav")
    time.sleep(5 * worker.interval)
    worker.stop()
    failed = [i for i in drain(out) if isinstance(i, Failed)]
    assert failed and "Could not record" in failed[0].message
