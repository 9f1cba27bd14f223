"""Clocks and device timers, injected into the loop so tests can control time.

* Host time comes from a :class:`Clock` (``time.perf_counter`` in real runs).
* Device time comes from a :class:`DeviceTimer`. On CUDA it records one event on the
  current stream at every phase boundary and reads all elapsed times once, after the
  measured window (one ``torch.cuda.synchronize`` per run, none per phase). The device
  time of a phase is therefore the stream time between its two boundary events: the
  kernels it enqueued plus any gaps in which the GPU waited for the host.
"""

from __future__ import annotations

import time
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic clock."""


class PerfCounterClock:
    """``time.perf_counter``: the highest-resolution monotonic clock Python offers."""

    def now(self) -> float:
        return time.perf_counter()


class FakeClock:
    """A clock that only moves when told to; for deterministic tests."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = start

    def now(self) -> float:
        return self._t

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._t += seconds


class DeviceTimer(Protocol):
    """Marks phase boundaries on the device and reads elapsed times after the window."""

    enabled: bool

    def mark(self) -> int:
        """Record a boundary now (asynchronously) and return its handle."""

    def elapsed_ms(self, start: int, end: int) -> float:
        """Milliseconds between two boundaries; only valid after :meth:`finish`."""

    def finish(self) -> None:
        """Wait for the device to reach the last mark. Called once, after the window."""


class NullDeviceTimer:
    """No device: nothing to mark."""

    enabled = False

    def mark(self) -> int:
        return -1

    def elapsed_ms(self, start: int, end: int) -> float:
        raise RuntimeError("no device timer on this run")

    def finish(self) -> None:
        return None


class CudaEventTimer:
    """CUDA events on the current stream, one per boundary, read after the window.

    ``capacity`` events are created up front, outside the measured window, so that a mark
    is only ``cudaEventRecord``; more are created on demand if a run needs them. torch
    creates a ``torch.cuda.Event``'s CUDA event lazily, on its first ``record()``, so the
    constructor records every pooled event once and waits for the stream (once, before the
    loop): otherwise each mark would pay ``cudaEventCreate`` inside the phase it opens.
    """

    enabled = True

    def __init__(self, device: Any, capacity: int = 0) -> None:
        import torch

        self._torch = torch
        self._device = device
        self._stream = torch.cuda.current_stream(device)
        self._pool = [torch.cuda.Event(enable_timing=True) for _ in range(capacity)]
        for event in self._pool:
            event.record(self._stream)  # creates the CUDA event now, not inside a phase
        if self._pool:
            self._stream.synchronize()
        self._events: list[Any] = []

    def mark(self) -> int:
        index = len(self._events)
        event = self._pool[index] if index < len(self._pool) else self._torch.cuda.Event(enable_timing=True)
        event.record(self._stream)
        self._events.append(event)
        return index

    def reserve(self, free: int) -> None:
        """Make sure at least ``free`` pooled events are left. Called between steps, so
        an event is never created inside a phase; each new event is recorded once (which
        is when torch creates it), with no synchronisation."""
        missing = len(self._events) + free - len(self._pool)
        if missing <= 0:
            return
        fresh = [self._torch.cuda.Event(enable_timing=True) for _ in range(missing)]
        for event in fresh:
            event.record(self._stream)
        self._pool.extend(fresh)

    def elapsed_ms(self, start: int, end: int) -> float:
        return float(self._events[start].elapsed_time(self._events[end]))

    def finish(self) -> None:
        # The one synchronisation of the measured run: after the last step.
        if self._events:
            self._events[-1].synchronize()
