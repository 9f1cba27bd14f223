"""Kernel-to-phase attribution on the hand-built CUDA fixture, against hand-computed values.

``tests/data/traces/make_cuda_fixture.py`` documents the trace; the expected numbers below
are worked out by hand from its timeline (µs, step 10 at t = 1000..1400, step 11 the same
400 µs later plus an NCCL all-reduce). HAND-BUILT: replace with a real GPU trace when the
GPU machine is available, and recompute these values.
"""

from __future__ import annotations

import pytest
from trace_helpers import CUDA_FIXTURE

from perfkit.trace import TraceAnalysis, analyze_file
from perfkit.trace.model import PhaseTimes


@pytest.fixture(scope="module")
def analysis() -> TraceAnalysis:
    return analyze_file(CUDA_FIXTURE)


def us(ns: float | None) -> float | None:
    return None if ns is None else ns / 1000


def test_steps_are_reanchored_to_the_device(analysis: TraceAnalysis) -> None:
    # Step 10's optimizer kernel runs until 1420, 20 µs after its host range ends, so
    # step 10 is [1000, 1420) and step 11 starts at max(1420, 1400).
    assert [
        (s.name, us(s.start_ns), us(s.duration_ns), us(s.host_duration_ns)) for s in analysis.steps
    ] == [
        ("ProfilerStep#10", 0, 420, 400),
        ("ProfilerStep#11", 420, 400, 400),
    ]


def test_breakdown_per_step(analysis: TraceAnalysis) -> None:
    step10, step11 = ({k: us(v) for k, v in s.breakdown.items()} for s in analysis.steps)
    # Kernel: 40 + 5 + 4 + 40 + 60; Memcpy 10; Memset 2; Runtime: the launches not hidden
    # by device work (5 + 5 + 5 + 5 + 6); DataLoader [1005, 1055); CPU Exec: op time not
    # claimed above (13 + 15 + 10 + 5 + 15 + 3 + 9); Other: the remaining 113.
    assert step10 == {"Kernel": 149, "Memcpy": 10, "Memset": 2, "Communication": 0, "Runtime": 26,
                      "DataLoader": 50, "CPU Exec": 70, "Other": 113}  # fmt: skip
    # Step 11 adds the NCCL kernel (40), its launch (5) and record_param_comms (8 of CPU);
    # the first 20 µs of its DataLoader range still belong to step 10.
    assert step11 == {"Kernel": 149, "Memcpy": 10, "Memset": 2, "Communication": 40, "Runtime": 31,
                      "DataLoader": 35, "CPU Exec": 78, "Other": 55}  # fmt: skip
    for s in analysis.steps:
        assert sum(s.breakdown.values()) == s.duration_ns


def test_kernels_are_attributed_to_the_phase_that_launched_them(analysis: TraceAnalysis) -> None:
    def phase(p: PhaseTimes) -> tuple[float | None, ...]:
        return (
            us(p.host_ns),
            us(p.cpu_op_ns),
            us(p.kernel_ns),
            us(p.memcpy_ns),
            us(p.memset_ns),
            p.kernels,
            p.launches,
        )

    step10 = {k: phase(v) for k, v in analysis.steps[0].phases.items()}
    assert step10 == {
        "data": (50, 30, 0, 0, 0, 0, 0),
        "h2d": (30, 28, 0, 10, 0, 0, 0),
        # sgemm 40 + relu 5 + the Triton kernel launched by cuLaunchKernel (cuda_driver) 4.
        "forward": (100, 83, 49, 0, 0, 3, 3),
        # Launched from autograd's thread while the loop thread waits in perfkit/backward.
        "backward": (120, 63, 40, 0, 2, 1, 1),
        "optimizer": (50, 40, 60, 0, 0, 1, 1),
        "other": (50, 0, 0, 0, 0, 0, 0),
    }
    backward11 = phase(analysis.steps[1].phases["backward"])
    assert backward11 == (120, 76, 80, 0, 2, 2, 2)  # + the NCCL kernel and record_param_comms
    assert analysis.phase_mapping == "perfkit"
    assert us(analysis.phases["backward"].kernel_ns) == 60  # median of 40 and 80


def test_device_metrics(analysis: TraceAnalysis) -> None:
    d = analysis.device
    assert d is not None
    assert us(d.steps_total_ns) == 820
    assert us(d.kernel_busy_ns) == 149 + 189
    assert d.utilization == pytest.approx(338 / 820)
    # Gaps before kernels launched after the gap began (host-wait) vs. the 5 µs gap
    # before each ReLU kernel, which was already queued.
    assert (us(d.idle_host_wait_ns), us(d.idle_other_ns)) == (266 + 206, 5 + 5)
    assert d.idle_ns == d.idle_host_wait_ns + d.idle_other_ns == d.steps_total_ns - d.kernel_busy_ns
    assert (d.kernels, d.launches, d.kernels_per_step) == (11, 11, 5.5)
    assert us(d.kernel_ns) == 338 and d.mean_kernel_ns == pytest.approx(338_000 / 11)
    assert (us(d.memcpy_ns), us(d.memset_ns)) == (20, 4)  # the memset before step 10 is left out
    assert d.tensor_core_share == pytest.approx(80 / 338)  # the sm80_xmma kernel
    assert d.tensor_core_eligible_ops == ("aten::addmm", "aten::linear", "aten::mm")
    assert us(d.tensor_core_eligible_kernel_ns) == 160  # addmm's and mm's GEMMs
    assert (us(d.communication_ns), d.communication_overlap) == (40, 0.0)
    assert d.communication_busy_share == pytest.approx(40 / 820)
    # SM efficiency by hand: no two kernels of the fixture overlap (busy 338 = kernel time
    # 338), so the cap at a full device never binds and each kernel adds its duration ×
    # its share of the 108 SMs: sgemm 40 µs × 1 (grid ≥ 108), relu 5 × 54/108, the Triton
    # kernel 4 × 1/108, mm 40 × 1, the optimizer kernel 60 × 27/108, twice, plus the NCCL
    # kernel 40 × 2/108.
    filled_us = 2 * (40 + 2.5 + 4 / 108 + 40 + 15) + 40 * 2 / 108
    assert d.est_sm_efficiency == pytest.approx(filled_us / 820)
    assert d.est_sm_efficiency is not None and d.utilization is not None
    assert d.est_sm_efficiency <= d.utilization
    # One device: the per-device entry repeats the top-level figures.
    assert d.main_device == 0 and d.vendor == "nvidia"
    (dev0,) = d.per_device
    assert (dev0.id, dev0.kernel_busy_ns, dev0.kernel_ns, dev0.kernels) == (
        0,
        d.kernel_busy_ns,
        d.kernel_ns,
        11,
    )
    assert (dev0.idle_host_wait_ns, dev0.est_sm_efficiency) == (
        d.idle_host_wait_ns,
        d.est_sm_efficiency,
    )
    assert (d.peak_memory_bytes, d.device_memory_bytes) == (3 * 2**30, 40 * 2**30)
    assert d.peak_memory_share == pytest.approx(0.075)
    assert d.compute_capability == "8.0"
    assert analysis.communication_share == pytest.approx(40 / 820)


def test_top_tables(analysis: TraceAnalysis) -> None:
    assert [(k.name[:20], us(k.total_ns), k.count) for k in analysis.top_kernels[:2]] == [
        ("void at::native::mul", 120, 2),
        ("ampere_sgemm_64x32_s", 80, 2),
    ]
    by_device = {o.name: us(o.self_device_ns) for o in analysis.top_ops_by_device}
    assert by_device == {
        "aten::_foreach_add_": 120, "aten::addmm": 80, "aten::mm": 80,
        "record_param_comms": 40, "aten::relu": 10, "triton_poi_fused_add_0": 8,
    }  # fmt: skip
    by_cpu = {o.name: us(o.self_cpu_ns) for o in analysis.top_ops_by_cpu}
    assert by_cpu["aten::linear"] == 2 * 7 and by_cpu["aten::mm"] == 2 * 30


def test_notes_say_what_the_plugin_would_miss(analysis: TraceAnalysis) -> None:
    notes = " ".join(analysis.notes)
    assert "2 kernels were launched through the CUDA driver API" in notes
    assert "1 device events were launched outside every ProfilerStep" in notes
