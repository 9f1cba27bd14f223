"""The device timer's bookkeeping, with torch.cuda's Event and stream replaced by fakes
(the real thing runs in tests/gpu on a CUDA machine)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from perfkit.runtime.clock import CudaEventTimer, FakeClock


class FakeStream:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def synchronize(self) -> None:
        self.log.append("stream.synchronize")


class FakeEvent:
    created = 0

    def __init__(self, log: list[str], enable_timing: bool = False) -> None:
        assert enable_timing
        self.log = log
        self.id = FakeEvent.created
        self.records = 0
        self.time_ms = 0.0
        FakeEvent.created += 1

    def record(self, stream: Any) -> None:
        self.records += 1
        self.log.append(f"record {self.id}")

    def elapsed_time(self, other: FakeEvent) -> float:
        return other.time_ms - self.time_ms

    def synchronize(self) -> None:
        self.log.append(f"event.synchronize {self.id}")


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    log: list[str] = []
    FakeEvent.created = 0
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: FakeStream(log))
    monkeypatch.setattr(torch.cuda, "Event", lambda enable_timing=False: FakeEvent(log, enable_timing))
    return log


def test_pooled_events_are_created_before_the_window(fake_cuda: list[str]) -> None:
    timer = CudaEventTimer("cuda:0", capacity=3)
    # torch creates a CUDA event on its first record(): the constructor does that for the
    # whole pool and waits once, so no mark inside a phase pays cudaEventCreate.
    assert fake_cuda == ["record 0", "record 1", "record 2", "stream.synchronize"]
    fake_cuda.clear()
    marks = [timer.mark() for _ in range(4)]  # one more than the pool
    assert marks == [0, 1, 2, 3]
    assert fake_cuda == ["record 0", "record 1", "record 2", "record 3"]
    assert "synchronize" not in " ".join(fake_cuda)  # no sync while measuring


def test_times_are_read_after_one_final_synchronisation(fake_cuda: list[str]) -> None:
    timer = CudaEventTimer("cuda:0", capacity=2)
    a, b = timer.mark(), timer.mark()
    fake_cuda.clear()
    timer.finish()
    assert fake_cuda == ["event.synchronize 1"]  # the last event: everything before it is done
    timer._events[b].time_ms = 7.5
    assert timer.elapsed_ms(a, b) == 7.5


def test_fake_clock_only_moves_when_told() -> None:
    clock = FakeClock()
    start = clock.now()
    clock.advance(0.25)
    assert clock.now() - start == 0.25
