"""A preallocated float32 ring buffer between one producer (the audio callback) and one consumer.

The audio callback must never wait or allocate, so writes only copy into preallocated memory and
bump a counter; a consumer that falls more than a buffer behind loses the oldest samples and the
loss is counted instead of blocking the producer. No locks: with one writer and one reader the
counters, written before and after each copy, say which samples may have been overwritten.

One reader can sleep until a given sample has arrived (:meth:`Reader.wait`): the writer sets an
event once, when it writes that sample, so a model window runs as soon as its last sample is in
rather than at the next poll. Setting it takes the event's lock, which the sleeping reader holds
only for an instant, never while it sleeps.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]


class RingBuffer:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._data = np.zeros(capacity, np.float32)
        self.written = 0  # samples ever written; the newest sample is number written - 1
        self._claimed = 0  # samples the producer may be writing now (>= written)
        self.wake_at = sys.maxsize  # ``arrived`` is set once ``written`` reaches this
        self.arrived = threading.Event()

    def write(self, block: npt.NDArray[np.floating]) -> None:
        """Append samples; a 2-D ``(frames, channels)`` block is averaged to mono in place.

        Never allocates a buffer: the downmix writes straight into the ring.
        """
        n = len(block)
        if n == 0:
            return
        if n > self.capacity:  # only the newest capacity samples can survive
            self._claimed = self.written + n
            self.written += n - self.capacity
            block = block[n - self.capacity :]
            n = self.capacity
        start = self.written % self.capacity
        first = min(n, self.capacity - start)
        self._claimed = self.written + n
        self._copy(block[:first], self._data[start : start + first])
        if first < n:
            self._copy(block[first:], self._data[: n - first])
        self.written = self._claimed
        if self.written >= self.wake_at:
            self.wake_at = sys.maxsize
            self.arrived.set()

    @staticmethod
    def _copy(source: npt.NDArray[np.floating], target: Samples) -> None:
        if source.ndim == 1:
            target[:] = source
        elif source.shape[1] == 1:
            target[:] = source[:, 0]
        else:
            np.mean(source, axis=1, out=target)

    def reader(self) -> Reader:
        """A reader that starts at the newest sample (it sees only what is written from now)."""
        return Reader(self)


class Reader:
    """The consumer's position in a :class:`RingBuffer`, with what it lost by falling behind."""

    def __init__(self, ring: RingBuffer) -> None:
        self.ring = ring
        self.position = ring.written
        self.overflows = 0  # times it fell more than a buffer behind
        self.lost = 0  # samples it never saw because of that

    @property
    def available(self) -> int:
        return min(self.ring.written - self.position, self.ring.capacity)

    def wait(self, samples: int, timeout: float) -> bool:
        """Sleep until ``samples`` unread samples are available or ``timeout`` seconds pass;
        True if they are."""
        ring = self.ring
        ring.arrived.clear()
        ring.wake_at = self.position + samples
        if self.available >= samples:  # written before the mark was set: no event will come
            ring.wake_at = sys.maxsize
            return True
        return ring.arrived.wait(timeout) or self.available >= samples

    def read(self, limit: int | None = None) -> Samples:
        """A copy of the samples written since the last read (at most ``limit``), oldest first."""
        count = self.available if limit is None else min(self.available, limit)
        out = np.empty(count, np.float32)
        return out[: self.read_into(out)]

    def read_into(self, out: Samples) -> int:
        """Fill ``out`` with the oldest unread samples; return how many. Never allocates."""
        ring = self.ring
        self._skip_overwritten(ring.written)
        n = min(len(out), ring.written - self.position)
        start = self.position % ring.capacity
        first = min(n, ring.capacity - start)
        out[:first] = ring._data[start : start + first]
        out[first:n] = ring._data[: n - first]
        # the producer may have overwritten the oldest of them while we copied: drop those
        spoilt = min(n, max(0, ring._claimed - ring.capacity - self.position))
        if spoilt:
            out[: n - spoilt] = out[spoilt:n]
            self._count_lost(spoilt)
            n -= spoilt
        self.position += n + spoilt
        return n

    def _skip_overwritten(self, written: int) -> None:
        behind = written - self.position - self.ring.capacity
        if behind > 0:
            self._count_lost(behind)
            self.position += behind

    def _count_lost(self, samples: int) -> None:
        self.overflows += 1
        self.lost += samples
