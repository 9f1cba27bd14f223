"""Real GPU/CPU traces recorded by others (``shared/traces``; skipped when absent)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from perfkit.trace import analyze_file, reader
from perfkit.trace.model import NOT_APPLICABLE_NO_DEVICE, TraceAnalysis

Shared = Callable[[str], Path]


def check_sums(a: TraceAnalysis) -> None:
    for step in a.steps:
        assert sum(step.breakdown.values()) == step.duration_ns
        assert all(v >= 0 for v in step.breakdown.values())
    assert sum(c.total_ns for c in a.breakdown) == a.steps_total_ns
    # Every ratio is a fraction; SM efficiency never exceeds the busy share it weighs.
    d = a.device
    ratios = [a.dataloader_share, a.communication_share, *(c.share for c in a.breakdown)]
    if d is not None:
        ratios += [d.utilization, d.tensor_core_share, d.communication_busy_share,
                   d.communication_overlap, d.est_sm_efficiency, d.peak_memory_share]  # fmt: skip
        ratios += [u.utilization for u in d.per_device] + [u.est_sm_efficiency for u in d.per_device]
        assert sum(s.kernel_busy_ns or 0 for s in a.steps) == d.kernel_busy_ns
        if d.est_sm_efficiency is not None:
            assert d.est_sm_efficiency <= (d.utilization or 0.0)
    assert all(r is None or 0.0 <= r <= 1.0 for r in ratios), ratios


@pytest.fixture(autouse=True)
def no_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real Kineto files must be read on the fast (chunked orjson) path."""

    def fail(*_: Any) -> None:
        raise AssertionError("fell back to ijson on a Kineto file")

    monkeypatch.setattr(reader, "_read_with_ijson", fail)


def test_a100_control(shared_trace: Shared) -> None:
    a = analyze_file(shared_trace("a100_train_control"))
    assert [s.name for s in a.steps] == [f"ProfilerStep#{n}" for n in range(1009, 1015)]
    check_sums(a)
    # DataLoader __next__ events carry cat user_annotation here: the plugin shows 0.
    assert a.category("DataLoader").total_ns > 0
    assert a.phase_mapping == "torch" and a.phases["data"].host_ns > 0
    assert a.device is not None
    assert a.device.unlinked_device_events == 0  # every kernel found its launch
    assert a.device.kernels == 8568
    assert 0 < a.device.utilization <= 1  # type: ignore[operator]
    assert a.devices[0].name.startswith("NVIDIA A100") and a.devices[0].sm_count == 108
    assert a.distributed is not None and (a.distributed.rank, a.distributed.world_size) == (3, 8)
    # 60 cudaStreamSynchronize calls over 6 steps: host syncs are counted per step.
    assert (a.device.syncs, a.device.syncs_per_step) == (60, 10.0)


def test_triton_kernel_launched_through_cuda_driver_is_attributed(shared_trace: Shared) -> None:
    a = analyze_file(shared_trace("a100_triton_cuda_driver"))
    check_sums(a)
    assert a.device is not None and a.device.kernels == 1 and a.device.launches == 1
    (kernel,) = a.top_kernels
    assert kernel.name == "triton_poi_fused_add_cos_sin_0" and kernel.total_ns == 1760
    # Its cuLaunchKernel sits inside the Triton op, which therefore owns the kernel.
    assert [(o.name, o.self_device_ns) for o in a.top_ops_by_device] == [
        ("triton_poi_fused_add_cos_sin_0", 1760)
    ]
    assert any("cuLaunchKernel" in n for n in a.notes)


def test_nccl_communication(shared_trace: Shared) -> None:
    a = analyze_file(shared_trace("a100_nccl_allreduce"))
    check_sums(a)
    assert len(a.steps) == 3
    assert a.device is not None and a.device.communication_ns > 0
    assert a.category("Communication").total_ns > 0
    assert a.communication_share is not None and 0 < a.communication_share < 1
    assert a.device.communication_overlap is not None


def test_mi250_rocm(shared_trace: Shared) -> None:
    a = analyze_file(shared_trace("mi250_rocm_train"))
    check_sums(a)
    # The GPU-side ProfilerStep#1 (gpu_user_annotation) is not a host step.
    assert [s.name for s in a.steps] == ["ProfilerStep#1", "ProfilerStep#2"]
    assert a.device is not None and a.device.kernels == 14 and a.device.unlinked_device_events == 0
    assert a.devices[0].name == "AMD Radeon Graphics"
    assert a.device.est_sm_efficiency is None  # ROCm kernels carry no grid: unknown, not 0


def test_v100_fp32_uses_no_tensor_cores(shared_trace: Shared) -> None:
    a = analyze_file(shared_trace("v100_train_fwdbwd"))
    check_sums(a)
    assert a.device is not None and a.device.compute_capability == "7.0"
    assert a.device.tensor_core_share == 0.0
    assert "aten::cudnn_convolution" in a.device.tensor_core_eligible_ops


def test_cpu_only_trace(shared_trace: Shared) -> None:
    a = analyze_file(shared_trace("cpu_only"))
    check_sums(a)
    assert len(a.steps) == 1
    assert a.device is None and a.device_not_applicable == NOT_APPLICABLE_NO_DEVICE
    assert all(s.kernel_ns is None and s.kernel_busy_ns is None for s in a.steps)
    assert a.category("Kernel").total_ns == 0
    assert a.category("Communication").total_ns > 0  # gloo collectives on the host
    assert a.top_kernels == () and a.top_ops_by_device == ()


def test_host_sync_names() -> None:
    from perfkit.trace.device import is_host_sync

    for name in ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize", "cudaMemcpy", "hipMemcpyWithStream", "hipDeviceSynchronize"):
        assert is_host_sync(name), name
    for name in ("cudaMemcpyAsync", "cudaLaunchKernel", "cudaStreamWaitEvent", "cudaEventRecord"):
        assert not is_host_sync(name), name


def test_a100_steps_and_optimizer_agree_with_a_naive_computation(shared_trace: Shared) -> None:
    """Per-step kernel time and count, and the optimizer phase's kernel time, recomputed
    independently: plain json.load, launches matched by correlation id, ranges by time."""
    import gzip
    import json
    import re

    path = shared_trace("a100_train_control")
    with gzip.open(path, "rt") as handle:
        doc = json.load(handle)  # noqa: TID251 -- deliberately not perfkit's reader
    events = [e for e in doc["traceEvents"] if e.get("ph") == "X"]
    steps, seen = [], set()
    for e in sorted(events, key=lambda e: e["ts"]):
        is_step = re.fullmatch(r"ProfilerStep#\d+", e["name"]) and e.get("cat") in ("user_annotation", "cpu_op")
        if is_step and e["name"] not in seen:
            seen.add(e["name"])
            steps.append(e)
    bounds = [(s["ts"], min(s["ts"] + s["dur"], nxt["ts"]) if nxt else s["ts"] + s["dur"])
              for s, nxt in zip(steps, [*steps[1:], None], strict=True)]  # fmt: skip
    launches: dict[int, dict[str, object]] = {}
    for e in events:
        corr = e.get("args", {}).get("correlation")
        if e.get("cat") in ("cuda_runtime", "cuda_driver") and corr is not None:
            launches.setdefault(corr, e)
    optimizer = [e for e in events if e.get("cat") in ("user_annotation", "cpu_op")
                 and re.match(r"Optimizer\.(step|zero_grad)#", e["name"])]  # fmt: skip
    kernel_us = [0.0] * len(steps)
    kernels = [0] * len(steps)
    opt_us = [0.0] * len(steps)
    opt_kernels = [0] * len(steps)
    for e in events:
        launch = launches.get(e.get("args", {}).get("correlation")) if e.get("cat") == "kernel" else None
        if launch is None:
            continue
        t = launch["ts"]
        step = next((i for i, (lo, hi) in enumerate(bounds) if lo <= t < hi), None)  # type: ignore[operator]
        if step is None:
            continue
        kernel_us[step] += e["dur"]
        kernels[step] += 1
        if any(o["pid"] == launch["pid"] and o["ts"] <= t < o["ts"] + o["dur"] for o in optimizer):  # type: ignore[operator]
            opt_us[step] += e["dur"]
            opt_kernels[step] += 1

    a = analyze_file(path)
    assert [s.name for s in a.steps] == [s["name"] for s in steps]
    assert [s.kernels for s in a.steps] == kernels
    assert [s.kernel_ns for s in a.steps] == pytest.approx([1000 * x for x in kernel_us], abs=1)
    optimizer_phase = [s.phases["optimizer"] for s in a.steps]
    assert [p.kernels for p in optimizer_phase] == opt_kernels
    assert [p.kernel_ns for p in optimizer_phase] == pytest.approx([1000 * x for x in opt_us], abs=1)
    assert min(opt_kernels) > 0  # the check is not vacuous


def test_advice_on_real_traces_fits_the_hardware_and_the_script(shared_trace: Shared) -> None:
    from perfkit.trace_advice import build_trace_report, facts_from_trace

    control = analyze_file(shared_trace("a100_train_control"))
    facts = facts_from_trace(control)
    assert facts.perfkit_run is False and facts.compiled is False
    assert facts.host_wait_share is not None and 0.1 < facts.host_wait_share < 0.5
    (launch,) = [a for a in build_trace_report(control).advice if a.rule == "launch-bound"]
    assert launch.severity == "low" and "bound by kernel launches" not in launch.title  # GPU busy ~80%
    # Volta: fp16 tensor cores only.
    (tc,) = [a for a in build_trace_report(analyze_file(shared_trace("v100_train_fwdbwd"))).advice if a.rule == "no-tensor-cores"]
    assert "fp16" in tc.title and "TF32" not in tc.title.replace("no bf16 or TF32", "")
    # A trace of torch.compile'd code is not told to compile.
    triton = analyze_file(shared_trace("a100_triton_cuda_driver"))
    assert facts_from_trace(triton).compiled is True
    assert not any("torch.compile" in a.title for a in build_trace_report(triton).advice)


NODE = "autograd::engine::evaluate_function: "
LAUNCH_CATS = ("cuda_runtime", "cuda_driver")
HOST_CATS = ("cpu_op", "user_annotation", *LAUNCH_CATS)


def raw_events(path: Path) -> list[dict[str, Any]]:
    """The complete events, read with plain gzip + json (deliberately not perfkit's reader)."""
    import gzip
    import json

    with gzip.open(path, "rt") as handle:
        doc = json.load(handle)  # noqa: TID251
    return [e for e in doc["traceEvents"] if e.get("ph") == "X"]


def raw_steps(events: list[dict[str, Any]]) -> list[tuple[dict[str, Any], float, float]]:
    """``(step event, host start, host end)``, each end cut at the next step's start."""
    import re

    steps = sorted(
        (e for e in events if re.fullmatch(r"ProfilerStep#\d+", e["name"]) and e.get("cat") in ("user_annotation", "cpu_op")),
        key=lambda e: e["ts"],
    )  # fmt: skip
    ends = [s["ts"] + s["dur"] for s in steps]
    ends = [min(end, nxt["ts"]) for end, nxt in zip(ends[:-1], steps[1:], strict=True)] + ends[-1:]
    return [(s, s["ts"], end) for s, end in zip(steps, ends, strict=True)]


class Ranges:
    """Time ranges per thread, merged: "does an event start inside one, on its thread?"."""

    def __init__(self, ranges: list[dict[str, Any]]) -> None:
        import bisect

        self._bisect = bisect.bisect_right
        by_tid: dict[Any, list[tuple[float, float]]] = {}
        for r in sorted(ranges, key=lambda r: r["ts"]):
            merged = by_tid.setdefault(r["tid"], [])
            if merged and r["ts"] <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], r["ts"] + r["dur"]))
            else:
                merged.append((r["ts"], r["ts"] + r["dur"]))
        self._starts = {tid: [s for s, _ in m] for tid, m in by_tid.items()}
        self._ends = {tid: [e for _, e in m] for tid, m in by_tid.items()}

    def __contains__(self, e: dict[str, Any]) -> bool:
        starts = self._starts.get(e["tid"], [])
        i = self._bisect(starts, e["ts"]) - 1
        return i >= 0 and e["ts"] < self._ends[e["tid"]][i]


def launched_kernels(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The launch call of every kernel (matched by correlation id: one process per file)."""
    launches = {
        e["args"]["correlation"]: e
        for e in events
        if e.get("cat") in LAUNCH_CATS and "correlation" in e.get("args", {})
    }
    kernels = [e for e in events if e.get("cat") == "kernel"]
    return [launches[k["args"]["correlation"]] for k in kernels if k["args"].get("correlation") in launches]


def test_v100_forward_and_backward_match_the_scripts_own_annotations(shared_trace: Shared) -> None:
    """The V100 script wraps its phases in '## forward ##', '## backward ##' and
    '## optimizer ##' annotations, which perfkit does not read. Counted from the raw
    events: kernels launched by autograd's thread are backward; those launched by the
    loop thread inside '## forward ##', or inside '## backward ##' before its first
    autograd node (the loss), are forward; those inside '## optimizer ##' or zero_grad are
    optimizer."""
    path = shared_trace("v100_train_fwdbwd")
    events = raw_events(path)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_name.setdefault(e["name"], []).append(e)
    nodes = [e for e in events if e["name"].startswith(NODE)]
    steps = raw_steps(events)
    main = steps[0][0]["tid"]
    autograd = {e["tid"] for e in nodes} - {main}
    optimizer = Ranges(by_name["## optimizer ##"] + [e for e in events if e["name"].startswith("Optimizer.zero_grad#")])
    forward_ranges, backward_ranges = Ranges(by_name["## forward ##"]), Ranges(by_name["## backward ##"])
    launches = launched_kernels(events)
    expected = []
    forward_host_us = []
    for _, lo, hi in steps:
        first_node = min(e["ts"] for e in nodes if lo <= e["ts"] < hi)
        counts = {"forward": 0, "backward": 0, "optimizer": 0, "other": 0}
        for launch in launches:
            if not lo <= launch["ts"] < hi:
                continue
            if launch["tid"] in autograd:
                counts["backward"] += 1
            elif launch in forward_ranges:
                counts["forward"] += 1
            elif launch in backward_ranges:
                assert launch["ts"] < first_node  # the loss, before autograd starts
                counts["forward"] += 1
            elif launch in optimizer:
                counts["optimizer"] += 1
            else:
                counts["other"] += 1
        expected.append(counts)
        (fwd,) = [e for e in by_name["## forward ##"] if lo <= e["ts"] < hi]
        forward_host_us.append(first_node - fwd["ts"])  # no phase range lies in between

    a = analyze_file(path)
    assert a.phase_mapping == "torch"
    assert [{k: p.kernels for k, p in s.phases.items()} for s in a.steps] == expected
    assert min(c["forward"] for c in expected) > 0 and min(c["backward"] for c in expected) > 0
    # The forward span runs from the script's '## forward ##' call (it holds the step's first
    # fwdbwd flow) to autograd's first node.
    assert [s.phases["forward"].host_ns for s in a.steps] == pytest.approx(
        [1000 * x for x in forward_host_us], abs=2
    )
    for s in a.steps:
        assert sum(p.host_ns for p in s.phases.values()) == s.host_duration_ns


def test_a100_phases_without_fwdbwd_flows_agree_with_a_naive_count(shared_trace: Shared) -> None:
    """No fwdbwd flows here (torchrec): counted from the raw events, a kernel is backward
    when autograd's thread, or an autograd node on the loop thread, launched it;
    optimizer/data when launched inside torch's Optimizer/DataLoader range; forward when
    the loop thread launched it before the step's first backward event; else other."""
    path = shared_trace("a100_train_control")
    events = raw_events(path)
    nodes = [e for e in events if e["name"].startswith(NODE)]
    steps = raw_steps(events)
    main = steps[0][0]["tid"]
    autograd = {e["tid"] for e in nodes} - {main}
    optimizer = Ranges([e for e in events if e["name"].startswith(("Optimizer.step#", "Optimizer.zero_grad#"))])
    data = Ranges([e for e in events if e["name"].startswith("enumerate(DataLoader)#")])
    node_ranges = Ranges(nodes)
    launches = launched_kernels(events)
    expected = []
    for _, lo, hi in steps:
        first_backward = min(
            e["ts"] for e in events
            if lo <= e["ts"] < hi and e.get("cat") in HOST_CATS
            and (e["tid"] in autograd or e["name"].startswith(NODE))
        )  # fmt: skip
        counts = {"data": 0, "forward": 0, "backward": 0, "optimizer": 0, "other": 0}
        for launch in launches:
            if not lo <= launch["ts"] < hi:
                continue
            if launch["tid"] in autograd or launch in node_ranges:
                counts["backward"] += 1
            elif launch in optimizer:
                counts["optimizer"] += 1
            elif launch in data:
                counts["data"] += 1
            elif launch["tid"] == main and launch["ts"] < first_backward:
                counts["forward"] += 1
            else:
                counts["other"] += 1
        expected.append(counts)

    a = analyze_file(path)
    assert [{k: p.kernels for k, p in s.phases.items()} for s in a.steps] == expected
    assert min(c["forward"] for c in expected) > 0 and min(c["backward"] for c in expected) > 0
    assert any("no fwdbwd flows" in n for n in a.notes)
