"""The ring buffer: what the reader gets is exactly the stream, or its newest part plus a count."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audio.ringbuffer import RingBuffer

# a script of steps: a positive number writes that many samples, 0 reads everything available
steps = st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=60)


def counting(start: int, n: int) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.float32)


@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(min_value=1, max_value=32), script=steps)
def test_reader_sees_the_stream_or_its_newest_part(capacity: int, script: list[int]) -> None:
    ring = RingBuffer(capacity)
    reader = ring.reader()
    written, seen = 0, []
    pending = 0  # written since the last read
    for step in [*script, 0]:
        if step:
            ring.write(counting(written, step))
            written += step
            pending += step
            continue
        got = reader.read()
        expected = counting(written - min(pending, capacity), min(pending, capacity))
        np.testing.assert_array_equal(got, expected)
        seen.append(got)
        pending = 0
    received = sum(len(s) for s in seen)
    assert reader.lost + received == written
    assert reader.position == ring.written == written
    assert (reader.lost > 0) == (reader.overflows > 0)


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(min_value=1, max_value=16), sizes=st.lists(st.integers(0, 50)))
def test_limited_reads_return_oldest_first(capacity: int, sizes: list[int]) -> None:
    ring = RingBuffer(capacity)
    reader = ring.reader()
    total = 0
    for n in sizes:
        ring.write(counting(total, n))
        total += n
        got = reader.read(limit=3)
        if len(got):
            np.testing.assert_array_equal(got, counting(got[0], len(got)))
            assert got[-1] < total
    assert reader.position <= total


@given(frames=st.integers(1, 50), channels=st.integers(1, 6))
def test_multichannel_blocks_are_averaged_to_mono(frames: int, channels: int) -> None:
    rng = np.random.default_rng(frames * 7 + channels)
    block = rng.standard_normal((frames, channels)).astype(np.float32)
    ring = RingBuffer(64)
    reader = ring.reader()
    ring.write(block)
    np.testing.assert_allclose(reader.read(), block.mean(axis=1), rtol=1e-6, atol=1e-6)


def test_reader_starts_at_the_newest_sample() -> None:
    ring = RingBuffer(8)
    ring.write(counting(0, 5))
    reader = ring.reader()
    assert len(reader.read()) == 0
    ring.write(counting(5, 2))
    np.testing.assert_array_equal(reader.read(), [5, 6])


def test_write_does_not_allocate() -> None:
    ring = RingBuffer(48000)
    stereo = np.ones((512, 2), np.float32)
    mono = np.ones(512, np.float32)
    ring.write(stereo)  # warm up numpy's code paths
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(200):
            ring.write(stereo)
            ring.write(mono)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename") if s.size_diff > 0)
    assert grown < 4096, f"write allocated {grown} bytes"


def test_read_into_does_not_allocate() -> None:
    ring = RingBuffer(1000)
    reader = ring.reader()
    out = np.empty(256, np.float32)
    ring.write(np.ones(900, np.float32))
    reader.read_into(out)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(100):
            ring.write(np.zeros(0, np.float32))
            reader.read_into(out)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename") if s.size_diff > 0)
    assert grown < 4096


def test_concurrent_producer_and_consumer_never_mix_old_and_new() -> None:
    """A real thread writes a counting signal while the consumer reads: every run is in order."""
    ring = RingBuffer(997)
    reader = ring.reader()
    total, block = 400_000, 331
    done = threading.Event()

    def produce() -> None:
        for start in range(0, total, block):
            ring.write(counting(start, min(block, total - start)))
        done.set()

    thread = threading.Thread(target=produce)
    thread.start()
    received, last = 0, -1.0
    while not done.is_set() or reader.available:
        got = reader.read()
        if len(got):
            assert got[0] > last
            np.testing.assert_array_equal(got, counting(got[0], len(got)))
            last = float(got[-1])
            received += len(got)
    thread.join()
    assert last == total - 1
    assert received + reader.lost == total


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RingBuffer(0)


def test_wait_returns_once_the_samples_are_in() -> None:
    """The worker sleeps until a window's last sample is written, not a poll later."""
    ring = RingBuffer(1000)
    reader = ring.reader()
    assert not reader.wait(10, timeout=0.01)  # nothing written: the timeout
    ring.write(np.ones(6, np.float32))
    assert not reader.wait(10, timeout=0.01)  # not enough yet
    writer = threading.Timer(0.05, ring.write, [np.ones(4, np.float32)])
    writer.start()
    assert reader.wait(10, timeout=30.0)  # woken by the write, long before the timeout
    writer.join()
    assert reader.available == 10 and ring.wake_at > ring.written
    assert reader.wait(10, timeout=0.0)  # already there: no sleep
    assert len(reader.read()) == 10
