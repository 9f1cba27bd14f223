"""Phase attribution by thread, forward/backward in foreign traces, kernels per step.

Small synthetic traces built here; every expected value is worked out by hand from the
timeline in the test (µs from ``T0``; the analysis reports ns).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from trace_helpers import LAYOUTS, ev, fwd_mark, launch, session, write_trace

from perfkit.trace import TraceAnalysis, analyze_file
from perfkit.trace.model import PhaseTimes

LOADER = "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__"
NODE = "autograd::engine::evaluate_function: "


def analyze(tmp_path: Path, events: list[dict[str, Any]], name: str = "t") -> TraceAnalysis:
    return analyze_file(write_trace(tmp_path / f"{name}.pt.trace.json", events))


def us(ns: float | None) -> float | None:
    return None if ns is None else ns / 1000


def summary(p: PhaseTimes) -> tuple[float | None, ...]:
    """(host µs, self CPU µs, kernels, memsets µs)."""
    return (us(p.host_ns), us(p.cpu_op_ns), p.kernels, us(p.memset_ns))


def test_other_threads_are_not_charged_to_the_loop_threads_phase(tmp_path: Path) -> None:
    """A pin_memory thread and a user's thread work while the loop thread is in forward:
    their time and their kernel are 'other'. autograd's thread (evaluate_function ops)
    is backward, including its work outside any node."""
    events = [
        ev("user_annotation", "ProfilerStep#1", 0, 200),
        ev("user_annotation", "perfkit/data", 0, 20),
        ev("user_annotation", "perfkit/forward", 20, 80),
        ev("cpu_op", "aten::mm", 30, 30),
        *launch("cudaLaunchKernel", 35, 5, 1, "gemm_fwd", 40, 10),
        ev("cpu_op", "aten::pin_memory", 40, 40, tid=2),  # pin_memory thread
        ev("cpu_op", "aten::add", 50, 20, tid=3),  # a user's thread
        *launch("cudaLaunchKernel", 55, 5, 2, "user_kernel", 60, 5, tid=3),
        ev("user_annotation", "perfkit/backward", 100, 60),
        ev("cpu_op", NODE + "MmBackward0", 105, 35, tid=4),  # autograd's thread
        ev("cpu_op", "aten::mm", 106, 24, tid=4),
        *launch("cudaLaunchKernel", 110, 5, 3, "gemm_bwd", 115, 10, tid=4),
        ev("cpu_op", "aten::zero_", 142, 8, tid=4),  # outside any node, same thread
        *launch("cudaMemsetAsync", 144, 2, 4, "Memset (Device)", 147, 2, tid=4, cat="gpu_memset"),
        ev("user_annotation", "perfkit/optimizer", 160, 30),
        ev("cpu_op", "aten::_foreach_add_", 165, 20),
        *launch("cudaLaunchKernel", 170, 5, 5, "multi_tensor_apply", 175, 10),
    ]
    a = analyze(tmp_path, events)
    assert a.phase_mapping == "perfkit"
    phases = {k: summary(v) for k, v in a.steps[0].phases.items()}
    assert phases == {
        "data": (20, 0, 0, 0),
        "forward": (80, 30, 1, 0),
        # The node's own 11 µs + aten::mm 24 + aten::zero_ 8; the memset of aten::zero_.
        "backward": (60, 43, 1, 2),
        "optimizer": (30, 20, 1, 0),
        # pin_memory 40 + the user's aten::add 20; the user's kernel; the loop's last 10 µs.
        "other": (10, 60, 1, 0),
    }
    assert sum(p.host_ns for p in a.steps[0].phases.values()) == a.steps[0].host_duration_ns
    assert any("pin_memory thread" in n for n in a.notes)


def foreign_step(*, flows: bool) -> list[dict[str, Any]]:
    """One step of plain torch.profiler GPU training: data, H2D copy, zero_grad, forward
    (linear + loss), loss.backward() run by autograd's thread (tid 2), optimizer step."""
    marks = [fwd_mark(62, flow_id=1), fwd_mark(105, flow_id=2)] if flows else []
    return [
        ev("user_annotation", "ProfilerStep#1", 0, 300),
        ev("user_annotation", LOADER, 0, 20),
        ev("cpu_op", "aten::to", 25, 10),
        *launch("cudaMemcpyAsync", 28, 4, 1, "Memcpy HtoD", 30, 5, cat="gpu_memcpy"),
        ev("user_annotation", "Optimizer.zero_grad#SGD.zero_grad", 40, 10),
        ev("cpu_op", "aten::linear", 60, 40),
        ev("cpu_op", "aten::addmm", 62, 36),
        *launch("cudaLaunchKernel", 70, 5, 2, "gemm", 80, 10),
        ev("cpu_op", "aten::cross_entropy_loss", 105, 20),
        *launch("cudaLaunchKernel", 110, 5, 3, "log_softmax", 120, 5),
        ev("cpu_op", "aten::ones_like", 130, 5),
        *launch("cudaLaunchKernel", 132, 2, 4, "fill", 136, 1),
        ev("cpu_op", NODE + "NllLossBackward0", 140, 20, tid=2),
        *launch("cudaLaunchKernel", 150, 5, 5, "nll_bwd", 156, 3, tid=2),
        ev("cpu_op", NODE + "AddmmBackward0", 165, 35, tid=2),
        *launch("cudaLaunchKernel", 170, 5, 6, "gemm_bwd", 176, 10, tid=2),
        ev("cpu_op", "aten::copy_", 205, 10, tid=2),  # e.g. DDP's copy_bucket_to_grad
        *launch("cudaLaunchKernel", 207, 3, 7, "copy", 211, 2, tid=2),
        ev("user_annotation", "Optimizer.step#SGD.step", 230, 30),
        *launch("cudaLaunchKernel", 240, 5, 8, "sgd", 246, 5),
        ev("cpu_op", "aten::item", 270, 10),  # logging after the step
        *marks,
    ]


def test_foreign_trace_separates_forward_and_backward_with_fwdbwd_flows(tmp_path: Path) -> None:
    a = analyze(tmp_path, foreign_step(flows=True))
    assert a.phase_mapping == "torch"
    phases = {k: (us(v.host_ns), v.kernels, us(v.memcpy_ns)) for k, v in a.steps[0].phases.items()}
    assert phases == {
        "data": (20, 0, 0),
        # From aten::linear (the call holding the first fwdbwd mark, 62) to the first node (140).
        "forward": (80, 3, 0),
        # One pass, [140, 215): the nodes and autograd's thread's aten::copy_.
        "backward": (75, 3, 0),
        "optimizer": (40, 1, 0),  # zero_grad 10 + step 30
        # The H2D copy before the forward, aten::item after the optimizer, the gaps.
        "other": (85, 0, 5),
    }


def test_without_flows_the_forward_starts_at_the_step(tmp_path: Path) -> None:
    a = analyze(tmp_path, foreign_step(flows=False))
    phases = {k: (us(v.host_ns), v.kernels, us(v.memcpy_ns)) for k, v in a.steps[0].phases.items()}
    # Forward: [0, 140) minus the DataLoader [0, 20) and zero_grad [40, 50) ranges.
    assert phases["forward"] == (110, 3, 5)
    assert phases["backward"] == (75, 3, 0)
    assert phases["other"] == (55, 0, 0)
    assert any("no fwdbwd flows" in n for n in a.notes)


def test_backward_on_the_loop_thread_on_cpu(tmp_path: Path) -> None:
    """On CPU autograd runs the nodes on the calling thread; a user's thread stays other."""
    events = [
        ev("user_annotation", "ProfilerStep#7", 0, 100),
        ev("cpu_op", "aten::linear", 10, 30),
        fwd_mark(10),
        ev("cpu_op", "aten::add", 15, 10, tid=9),  # another thread, during the forward
        ev("cpu_op", NODE + "AddmmBackward0", 50, 20),
        ev("cpu_op", "aten::mm", 52, 15),
        ev("cpu_op", NODE + "torch::autograd::AccumulateGrad", 72, 5),
        ev("user_annotation", "Optimizer.step#SGD.step", 80, 10),
        ev("cpu_op", "aten::add_", 81, 8),
    ]
    a = analyze(tmp_path, events)
    phases = {k: (us(v.host_ns), us(v.cpu_op_ns)) for k, v in a.steps[0].phases.items()}
    assert phases == {
        "forward": (40, 30),  # [10, 50)
        "backward": (27, 25),  # [50, 77): node self 5 + mm 15 + AccumulateGrad 5
        "optimizer": (10, 8),  # aten::add_ (the step range is an annotation, not an op)
        "other": (23, 10),  # [0, 10), [77, 80), [90, 100); the other thread's aten::add
    }
    assert a.steps[0].phases["forward"].kernels is None  # CPU-only: no device fields


def test_two_micro_batches_in_one_step(tmp_path: Path) -> None:
    """Gradient accumulation: forward, backward, forward, backward, optimizer."""

    def events(flows: bool) -> list[dict[str, Any]]:
        marks = [fwd_mark(12, flow_id=1), fwd_mark(77, flow_id=2)] if flows else []
        return [
            ev("user_annotation", "ProfilerStep#1", 0, 160),
            ev("cpu_op", "aten::linear", 10, 30),
            ev("cpu_op", NODE + "AddmmBackward0", 45, 25, tid=2),
            ev("cpu_op", "aten::linear", 75, 25),
            ev("cpu_op", NODE + "AddmmBackward0", 105, 25, tid=2),
            ev("user_annotation", "Optimizer.step#SGD.step", 140, 10),
            *marks,
        ]

    a = analyze(tmp_path, events(flows=True), "flows")
    host = {k: us(v.host_ns) for k, v in a.steps[0].phases.items()}
    # Two passes [45, 70) and [105, 130), split by the second forward's top-level call at 75.
    assert host == {"forward": 35 + 30, "backward": 25 + 25, "optimizer": 10, "other": 35}
    a = analyze(tmp_path, events(flows=False), "no_flows")
    host = {k: us(v.host_ns) for k, v in a.steps[0].phases.items()}
    # Without flows only the first pass's forward, from the step's start, is known.
    assert host == {"forward": 45, "backward": 50, "optimizer": 10, "other": 55}


def test_a_trace_without_profiler_steps(tmp_path: Path) -> None:
    events = [
        ev("cpu_op", "aten::linear", 10, 30),
        fwd_mark(10),
        ev("cpu_op", NODE + "AddmmBackward0", 50, 20),
        ev("user_annotation", "Optimizer.step#SGD.step", 80, 10),
    ]
    a = analyze(tmp_path, events)
    assert not a.steps_from_profiler
    host = {k: us(v.host_ns) for k, v in a.steps[0].phases.items()}
    assert host == {"forward": 40, "backward": 20, "optimizer": 10, "other": 10}


def test_no_autograd_events_leave_forward_and_backward_in_other(tmp_path: Path) -> None:
    events = [
        ev("user_annotation", "ProfilerStep#1", 0, 100),
        ev("user_annotation", LOADER, 0, 20),
        ev("cpu_op", "aten::linear", 30, 30),
    ]
    a = analyze(tmp_path, events)
    assert set(a.steps[0].phases) == {"data", "other"}
    assert any("forward and backward cannot be separated" in n for n in a.notes)


def test_step_kernels_count_only_the_kernels_launched_in_the_step(tmp_path: Path) -> None:
    """Recording began while earlier kernels were still queued: one has no launch call in
    the trace, one was launched before the first step. Both run inside step 1's window:
    they count in its time, not in its kernel count."""
    events = [
        ev("cpu_op", "aten::mm", -30, 15),
        *launch("cudaLaunchKernel", -20, 5, 1, "launched_before", 2, 6),
        ev("kernel", "queued_before_recording", 10, 10, pid=0, tid=7, corr=99, device=0),
        ev("user_annotation", "ProfilerStep#1", 0, 100),
        ev("user_annotation", "perfkit/forward", 25, 30),
        ev("cpu_op", "aten::relu", 30, 20),
        *launch("cudaLaunchKernel", 35, 5, 2, "relu", 40, 5),
        ev("user_annotation", "ProfilerStep#2", 100, 100),
        ev("user_annotation", "perfkit/forward", 125, 30),
        ev("cpu_op", "aten::relu", 130, 20),
        *launch("cudaLaunchKernel", 135, 5, 3, "relu", 140, 5),
    ]
    a = analyze(tmp_path, events)
    assert [s.kernels for s in a.steps] == [1, 1]
    assert [us(s.kernel_ns) for s in a.steps] == [5, 5]
    # Time-based figures keep every kernel that ran in the window: [2, 8), [10, 20), [40, 45).
    assert us(a.steps[0].breakdown["Kernel"]) == 6 + 10 + 5
    assert us(a.steps[0].kernel_busy_ns) == 21
    assert a.device is not None and a.device.kernels_per_step == 1
    assert a.device.unlinked_device_events == 1
    assert sum(p.kernels or 0 for p in a.steps[0].phases.values()) == a.steps[0].kernels


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_forward_marks_and_sessions_are_read_in_every_layout(tmp_path: Path, layout: str) -> None:
    from perfkit.trace.reader import read_trace

    events = [*foreign_step(flows=True), session(0, -5, 400)]
    store = read_trace(write_trace(tmp_path / "t.pt.trace.json", events, layout=layout))
    assert sorted(store.forward_marks.ts.tolist()) == [62_000, 105_000]
    assert store.forward_marks.tid.tolist() == [1, 1]
    assert store.sessions.tolist() == [[-5_000, 395_000]]


def test_loop_thread_of_a_bare_trace_is_the_busiest_thread_without_nodes(tmp_path: Path) -> None:
    """No ProfilerStep, no DataLoader/Optimizer range, no flows: the loop thread is the
    thread of the autograd process with the most ops among those that run no node."""
    events = [
        ev("cpu_op", "aten::linear", 0, 30),
        ev("cpu_op", "aten::addmm", 2, 25),
        *launch("cudaLaunchKernel", 5, 5, 1, "gemm", 12, 10),
        ev("cpu_op", "aten::pin_memory", 10, 10, tid=3),  # one op: not the loop thread
        ev("cpu_op", NODE + "AddmmBackward0", 40, 20, tid=2),
        ev("cpu_op", "aten::mm", 42, 15, tid=2),
        *launch("cudaLaunchKernel", 45, 5, 2, "gemm_bwd", 52, 10, tid=2),
    ]
    a = analyze(tmp_path, events)
    phases = {k: (us(v.host_ns), v.kernels) for k, v in a.steps[0].phases.items()}
    # The span is [0, 62): forward [0, 40) on thread 1, backward [40, 60).
    assert phases == {"forward": (40, 1), "backward": (20, 1), "other": (2, 0)}
    assert us(a.steps[0].phases["other"].cpu_op_ns) == 10  # the pin_memory thread
