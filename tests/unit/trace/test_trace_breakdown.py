"""The step-time breakdown sums to the step exactly and claims time by priority."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from trace_helpers import ev, launch, write_trace

from perfkit.trace import analyze_file
from perfkit.trace.model import BREAKDOWN_CATEGORIES

LOADER = "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__"
NCCL = "ncclKernel_AllReduce_RING_LL_Sum_float(ncclDevComm*, unsigned long, ncclWork*)"


def test_overlapping_events_are_claimed_by_priority(tmp_path: Path) -> None:
    events = [
        ev("user_annotation", "ProfilerStep#1", 0, 100),
        ev("user_annotation", LOADER, 0, 30),
        ev("cpu_op", "aten::stack", 5, 20),
        ev("cpu_op", "aten::addmm", 30, 30),
        *launch("cudaLaunchKernel", 35, 5, 1, "ampere_sgemm_128x64_tn", 38, 32),
        *launch(
            "cudaMemcpyAsync", 62, 4, 2, "Memcpy HtoD (Pinned -> Device)", 65, 10, cat="gpu_memcpy"
        ),
        *launch("cudaMemsetAsync", 76, 2, 3, "Memset (Device)", 79, 4, cat="gpu_memset"),
        *launch("cudaLaunchKernel", 80, 1, 4, NCCL, 81, 14, stream=20),
        ev("user_annotation", "gloo:all_reduce", 90, 9, tid=2),
        ev("cpu_op", "aten::relu", 84, 13),
    ]
    a = analyze_file(write_trace(tmp_path / "t.pt.trace.json", events))
    (step,) = a.steps
    us = {k: v // 1000 for k, v in step.breakdown.items()}
    # By hand (µs): Kernel [38,70); Memcpy [70,75) (the rest is under the kernel); Memset
    # [79,83); Communication [81,99) less the memset's [81,83); Runtime [35,38) + [76,78)
    # (the other launches sit under device work); DataLoader [0,30) (which hides the
    # stack op); CPU Exec: addmm's [30,35); Other: [75,76) + [78,79) + [99,100).
    assert us == {
        "Kernel": 32,
        "Memcpy": 5,
        "Memset": 4,
        "Communication": 16,
        "Runtime": 5,
        "DataLoader": 30,
        "CPU Exec": 5,
        "Other": 3,
    }
    assert sum(step.breakdown.values()) == step.duration_ns == 100_000
    assert a.dataloader_share == pytest.approx(0.30)
    assert a.communication_share == pytest.approx(0.16)


CATEGORY_EVENTS = {
    # category: (cat, name, on device)
    "Kernel": ("kernel", "void gemm_kernel", True),
    "Memcpy": ("gpu_memcpy", "Memcpy DtoD", True),
    "Memset": ("gpu_memset", "Memset (Device)", True),
    "Communication": ("kernel", "ncclDevKernel_AllReduce_Sum_f32_RING_LL", True),
    "Runtime": ("cuda_runtime", "cudaStreamSynchronize", False),
    "DataLoader": ("user_annotation", LOADER, False),
    "CPU Exec": ("cpu_op", "aten::mul", False),
}


@pytest.mark.parametrize("seed", range(6))
def test_random_overlaps_match_a_brute_force_priority_timeline(tmp_path: Path, seed: int) -> None:
    """Every µs of every step goes to the highest-priority category active then."""
    rng = np.random.default_rng(seed)
    span = 300
    cuts = sorted(rng.choice(np.arange(20, span - 20), size=2, replace=False).tolist())
    bounds = [0, *cuts, span]
    events = [
        ev("user_annotation", f"ProfilerStep#{i}", lo, hi - lo)
        for i, (lo, hi) in enumerate(pairwise(bounds))
    ]
    timeline = {name: np.zeros(span, dtype=bool) for name in CATEGORY_EVENTS}
    for name, (cat, label, on_device) in CATEGORY_EVENTS.items():
        for _ in range(int(rng.integers(0, 8))):
            start = int(rng.integers(0, span - 1))
            end = int(min(span, start + rng.integers(1, 60)))
            tid = int(rng.integers(1, 3))
            events.append(
                ev(
                    cat,
                    label,
                    start,
                    end - start,
                    pid=0 if on_device else 1,
                    tid=7 if on_device else tid,
                )
            )
            timeline[name][start:end] = True

    a = analyze_file(write_trace(tmp_path / "r.pt.trace.json", events))
    assert [s.duration_ns for s in a.steps] == [(hi - lo) * 1000 for lo, hi in pairwise(bounds)]
    for step, (lo, hi) in zip(a.steps, pairwise(bounds), strict=True):
        claimed = np.zeros(hi - lo, dtype=bool)
        expected = {}
        for name in BREAKDOWN_CATEGORIES[:-1]:
            mine = timeline[name][lo:hi] & ~claimed
            expected[name] = int(mine.sum()) * 1000
            claimed |= timeline[name][lo:hi]
        expected["Other"] = int((~claimed).sum()) * 1000
        assert dict(step.breakdown) == expected
        assert sum(step.breakdown.values()) == step.duration_ns
    assert sum(c.total_ns for c in a.breakdown) == a.steps_total_ns
    assert sum(c.share for c in a.breakdown) == pytest.approx(1.0)


def test_a_profiler_step_recorded_twice_is_no_operator(tmp_path: Path) -> None:
    """Some traces carry ProfilerStep#N twice, as user_annotation and as cpu_op: neither
    copy may count as CPU Exec time, as an operator, or as an op of the step."""
    events = []
    for n, t in ((1, 0), (2, 100)):
        events += [
            ev("user_annotation", f"ProfilerStep#{n}", t, 100),
            ev("cpu_op", f"ProfilerStep#{n}", t, 100),
            ev("cpu_op", "aten::add", t + 10, 5),
        ]
    a = analyze_file(write_trace(tmp_path / "dup.pt.trace.json", events))
    assert [s.name for s in a.steps] == ["ProfilerStep#1", "ProfilerStep#2"]
    for step in a.steps:
        assert step.breakdown["CPU Exec"] == 5000 and step.breakdown["Other"] == 95_000
        assert step.ops == 1
    assert [o.name for o in a.top_ops_by_cpu] == ["aten::add"]
    assert a.category("CPU Exec").share == pytest.approx(0.05)
