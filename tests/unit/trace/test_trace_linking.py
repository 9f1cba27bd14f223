"""Correlation ids are scoped per profiler session and per process; collisions are counted.

Synthetic traces built here: two processes, or two recordings, in one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trace_helpers import ev, session, write_trace

from perfkit.trace import analyze_file
from perfkit.trace.index import build_index
from perfkit.trace.reader import read_trace


def launch(ts: float, corr: int, kernel: str, k_ts: float, *, pid: int, device: int) -> list[dict[str, Any]]:
    """A cudaLaunchKernel on the host process ``pid`` and its kernel on ``device``."""
    return [
        ev("cuda_runtime", "cudaLaunchKernel", ts, 2, pid=pid, tid=pid, corr=corr),
        ev("kernel", kernel, k_ts, 3, pid=device, tid=7, corr=corr, device=device),
    ]


def launcher_pid(path: Path) -> dict[str, int]:
    """Kernel name → the pid of the launch call it was linked to (-1: none)."""
    store = read_trace(path)
    index = build_index(store)
    out = {}
    for row in range(len(store)):
        if store.cat[row] == 0:  # kernel
            launch_row = int(index.links.launch[row])
            out[store.names[store.name[row]]] = -1 if launch_row < 0 else int(store.pid[launch_row])
    return out


def test_colliding_ids_of_two_processes_are_matched_by_the_device_each_uses(tmp_path: Path) -> None:
    events = [
        ev("user_annotation", "ProfilerStep#1", 0, 100, pid=1, tid=1),
        *launch(10, 10, "p1_own", 15, pid=1, device=0),  # process 1 uses device 0
        *launch(12, 20, "p2_own", 16, pid=2, device=1),  # process 2 uses device 1
        *launch(30, 1, "p1_shared_id", 40, pid=1, device=0),
        *launch(31, 1, "p2_shared_id", 41, pid=2, device=1),
    ]
    path = write_trace(tmp_path / "t.pt.trace.json", events)
    assert launcher_pid(path) == {"p1_own": 1, "p2_own": 2, "p1_shared_id": 1, "p2_shared_id": 2}
    notes = " ".join(analyze_file(path).notes)
    assert "1 correlation ids are carried by several launch calls" in notes
    assert "2 device events were matched to the launch of the process that uses their device" in notes


def test_a_collision_that_cannot_be_resolved_is_left_unlinked_and_counted(tmp_path: Path) -> None:
    """Both processes use device 0: the kernel of the shared id could belong to either."""
    events = [
        ev("user_annotation", "ProfilerStep#1", 0, 100, pid=1, tid=1),
        *launch(10, 10, "p1_own", 15, pid=1, device=0),
        *launch(12, 20, "p2_own", 20, pid=2, device=0),
        ev("cuda_runtime", "cudaLaunchKernel", 30, 2, pid=1, tid=1, corr=1),
        ev("cuda_runtime", "cudaLaunchKernel", 31, 2, pid=2, tid=2, corr=1),
        ev("kernel", "shared_id", 40, 3, pid=0, tid=7, corr=1, device=0),
    ]
    path = write_trace(tmp_path / "t.pt.trace.json", events)
    assert launcher_pid(path)["shared_id"] == -1  # not silently the first launch
    a = analyze_file(path)
    assert a.device is not None and a.device.unlinked_device_events == 1
    notes = " ".join(a.notes)
    assert "1 could not be matched to one launch and are left unlinked" in notes


def test_ids_are_matched_within_each_profiler_session(tmp_path: Path) -> None:
    """Two recordings of one process in one file reuse correlation ids 1 and 2."""
    events = [
        session(0, 0, 100),
        ev("user_annotation", "ProfilerStep#1", 0, 100),
        *launch(10, 1, "s0_a", 20, pid=1, device=0),
        *launch(30, 2, "s0_b", 40, pid=1, device=0),
        *launch(90, 3, "s0_late", 1001, pid=1, device=0),  # still queued when session 1 began
        session(1, 1000, 100),
        ev("user_annotation", "ProfilerStep#1", 1000, 100),
        *launch(1010, 1, "s1_a", 1020, pid=1, device=0),
        *launch(1030, 2, "s1_b", 1040, pid=1, device=0),
    ]
    path = write_trace(tmp_path / "t.pt.trace.json", events)
    store = read_trace(path)
    assert store.sessions.tolist() == [[0, 100_000], [1_000_000, 1_100_000]]
    index = build_index(store)
    launch_ts = {
        store.names[store.name[r]]: int(store.ts[index.links.launch[r]]) // 1000
        for r in range(len(store))
        if store.cat[r] == 0
    }
    assert launch_ts == {"s0_a": 10, "s0_b": 30, "s0_late": 90, "s1_a": 1010, "s1_b": 1030}
    a = analyze_file(path)
    assert [s.kernels for s in a.steps] == [3, 2]
    notes = " ".join(a.notes)
    assert "The file holds 2 profiler sessions" in notes
    assert "correlation ids are carried by several" not in notes  # distinct per session


def test_a_single_session_needs_no_scoping(tmp_path: Path) -> None:
    events = [session(0, 0, 100), ev("user_annotation", "ProfilerStep#1", 0, 100),
              *launch(10, 1, "k", 20, pid=1, device=0)]  # fmt: skip
    a = analyze_file(write_trace(tmp_path / "t.pt.trace.json", events))
    assert a.device is not None and a.device.unlinked_device_events == 0
    assert not any("session" in n or "correlation" in n for n in a.notes)
