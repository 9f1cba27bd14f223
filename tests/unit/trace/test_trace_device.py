"""Device metrics that must stay ratios: concurrent kernels, several devices, AMD devices."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from trace_helpers import ev, write_trace

from perfkit.render.trace_console import trace_renderables
from perfkit.render.trace_markdown import trace_markdown
from perfkit.trace import TraceAnalysis, analyze_file
from perfkit.trace_advice import build_trace_report, facts_from_trace

A100 = {"id": 0, "name": "NVIDIA A100-SXM4-40GB", "numSms": 108, "computeMajor": 8,
        "computeMinor": 0, "totalGlobalMem": 40 * 2**30}  # fmt: skip


def kernel(name: str, ts: float, dur: float, corr: int, *, device: int = 0, stream: int = 7,
           grid: tuple[int, int, int] | None = (1000, 1, 1)) -> list[dict[str, Any]]:  # fmt: skip
    """A launch on the host at ``ts - 4`` and its kernel on ``device``/``stream``."""
    args: dict[str, Any] = {"device": device, "stream": stream}
    if grid is not None:
        args["grid"] = list(grid)
    return [
        ev("cuda_runtime", "cudaLaunchKernel", ts - 4, 1, corr=corr),
        ev("kernel", name, ts, dur, pid=device, tid=stream, corr=corr, **args),
    ]


def analyze(tmp_path: Path, events: list[dict[str, Any]], **top: Any) -> TraceAnalysis:
    return analyze_file(write_trace(tmp_path / "t.pt.trace.json", events, **top))


def console_text(a: TraceAnalysis) -> str:
    out = io.StringIO()
    console = Console(file=out, width=160, color_system=None)
    for r in trace_renderables(a):
        console.print(r)
    return out.getvalue()


def check_ratios(a: TraceAnalysis) -> None:
    """Every documented ratio of the analysis lies in [0, 1]."""
    d = a.device
    assert d is not None
    ratios = [d.utilization, d.tensor_core_share, d.communication_busy_share,
              d.communication_overlap, d.est_sm_efficiency, d.peak_memory_share,
              a.dataloader_share, a.communication_share]  # fmt: skip
    ratios += [u.utilization for u in d.per_device] + [u.est_sm_efficiency for u in d.per_device]
    assert all(r is None or 0.0 <= r <= 1.0 for r in ratios), ratios


def test_concurrent_full_grid_kernels_fill_the_device_once(tmp_path: Path) -> None:
    # Two kernels of 1000 blocks (more than the 108 SMs) on two streams, both running
    # from 5 to 95 µs of a 100 µs step: the device is full for 90 µs, not 180.
    events = [ev("user_annotation", "ProfilerStep#1", 0, 100),
              *kernel("gemmA", 5, 90, 1), *kernel("gemmB", 5, 90, 2, stream=8)]  # fmt: skip
    a = analyze(tmp_path, events, deviceProperties=[A100])
    d = a.device
    assert d is not None and d.utilization == pytest.approx(0.9)
    assert d.est_sm_efficiency == pytest.approx(0.9)
    assert d.kernel_ns == 180_000  # summed durations still add up
    check_ratios(a)


def test_sm_efficiency_caps_overlapping_partial_kernels(tmp_path: Path) -> None:
    # 54 blocks (half the SMs) on [0, 40) µs and 81 blocks (3/4) on [20, 60) µs: the sum is
    # 1/2 on [0, 20), min(1, 5/4) = 1 on [20, 40), 3/4 on [40, 60) → 10 + 20 + 15 = 45 µs
    # of a 100 µs step. The uncapped sum would say 20 + 30 = 50 µs.
    events = [ev("user_annotation", "ProfilerStep#1", 0, 100),
              *kernel("a", 5, 40, 1, grid=(54, 1, 1)),
              *kernel("b", 25, 40, 2, stream=8, grid=(27, 3, 1))]  # fmt: skip
    a = analyze(tmp_path, events, deviceProperties=[A100])
    d = a.device
    assert d is not None and d.est_sm_efficiency == pytest.approx(0.45)
    assert d.utilization == pytest.approx(0.6)


def test_sm_efficiency_unknown_without_a_grid(tmp_path: Path) -> None:
    events = [ev("user_annotation", "ProfilerStep#1", 0, 100), *kernel("k", 5, 50, 1, grid=None)]
    a = analyze(tmp_path, events, deviceProperties=[A100])
    assert a.device is not None and a.device.est_sm_efficiency is None


def two_device_events() -> list[dict[str, Any]]:
    """Device 0 busy [10, 50) µs, device 1 busy [50, 80) µs of a 100 µs step."""
    return [ev("user_annotation", "ProfilerStep#1", 0, 100),
            *kernel("k0", 10, 40, 1, device=0), *kernel("k1", 50, 30, 2, device=1)]  # fmt: skip


def test_two_devices_are_not_added_together(tmp_path: Path) -> None:
    a = analyze(tmp_path, two_device_events(), deviceProperties=[A100, {**A100, "id": 1}])
    d = a.device
    assert d is not None
    # Together the devices ran 70 % of the step, one after the other; neither was busy
    # more than 40 %. The top level describes device 0 (most kernel time).
    assert d.main_device == 0
    assert (d.kernel_busy_ns, d.utilization) == (40_000, pytest.approx(0.4))
    assert d.idle_ns == 60_000 == d.idle_host_wait_ns + d.idle_other_ns
    assert [(u.id, u.kernel_busy_ns, u.kernels) for u in d.per_device] == [
        (0, 40_000, 1),
        (1, 30_000, 1),
    ]
    assert [u.utilization for u in d.per_device] == [pytest.approx(0.4), pytest.approx(0.3)]
    assert (d.kernels, d.kernel_ns) == (2, 70_000)  # counts add every device up
    assert a.steps[0].kernel_busy_ns == 40_000  # the main device's, like kernel_busy_ns
    assert a.category("Kernel").total_ns == 70_000  # wall time with any kernel running
    assert any("device 0 (the most kernel time)" in n for n in a.notes)
    check_ratios(a)
    # The renderers show each device; advice reads the main device's utilization.
    for text in (console_text(a), trace_markdown(a)):
        assert "Per device" in text and "30.0%" in text and "40.0%" in text
    assert facts_from_trace(a).gpu_utilization == pytest.approx(0.4)
    assert "low-gpu-utilization" in {x.rule for x in build_trace_report(a).advice}
    assert TraceAnalysis.from_dict(a.to_dict()) == a


def test_one_device_shows_no_per_device_table(tmp_path: Path) -> None:
    events = [ev("user_annotation", "ProfilerStep#1", 0, 100), *kernel("k", 5, 50, 1)]
    a = analyze(tmp_path, events, deviceProperties=[A100])
    assert a.device is not None and len(a.device.per_device) == 1
    assert "Per device" not in console_text(a) and "Per device" not in trace_markdown(a)


def test_legacy_communication_share_is_read_as_the_busy_share(tmp_path: Path) -> None:
    events = [ev("user_annotation", "ProfilerStep#1", 0, 100), *kernel("k", 5, 50, 1)]
    data = analyze(tmp_path, events).to_dict()
    device = data["device"]
    device["communication_share"] = device.pop("communication_busy_share")
    for key in ("per_device", "main_device", "vendor"):
        del device[key]
    old = TraceAnalysis.from_dict(data)
    assert old.device is not None and old.device.communication_busy_share == 0.0
    assert old.device.per_device == ()
    console_text(old)
    trace_markdown(old)


def amd_events() -> list[dict[str, Any]]:
    """A ROCm-like trace without deviceProperties: hipLaunchKernel, an fp32 GEMM op whose
    kernel is no matrix-core (MFMA) kernel."""
    return [
        ev("user_annotation", "ProfilerStep#1", 0, 100),
        ev("cpu_op", "aten::mm", 2, 20),
        ev("cuda_runtime", "hipLaunchKernel", 5, 2, corr=1),
        ev(
            "kernel",
            "Cijk_Ailk_Bljk_S_B_MT64x64x8",
            10,
            30,
            pid=0,
            tid=0,
            corr=1,
            device=0,
            stream=0,
        ),
    ]


def test_amd_devices_are_labelled_and_advised_as_amd(tmp_path: Path) -> None:
    mi250 = {"id": 0, "name": "AMD Radeon Graphics", "numSms": 104, "computeMajor": 9,
             "computeMinor": 0, "totalGlobalMem": 64 * 2**30}  # fmt: skip
    for props in ([mi250], [{**mi250, "name": "Device 740c"}], []):
        a = analyze(tmp_path, amd_events(), deviceProperties=props)
        assert a.device is not None and a.device.vendor == "amd"
        assert a.device.compute_capability is None
        text = console_text(a)
        assert "compute capability" not in text.lower() and "SMs" not in text
        assert "Matrix-core kernel share" in text and "RCCL" in text
        if props:
            (info,) = a.devices
            assert (info.vendor, info.architecture, info.compute_capability) == (
                "amd",
                "gfx9",
                None,
            )
            assert "architecture gfx9, 104 CUs" in text
        facts = facts_from_trace(a)
        assert (facts.device_vendor, facts.compute_capability) == ("amd", None)
        (advice,) = [x for x in build_trace_report(a).advice if x.rule == "no-tensor-cores"]
        assert "matrix cores" in advice.title and "bf16 or fp16" in advice.title
        for text in (advice.title, advice.evidence, advice.threshold):
            assert "capability" not in text and "TF32" not in text


def test_gcn_arch_name_gives_the_architecture(tmp_path: Path) -> None:
    props = [{"id": 0, "name": "Device 740c", "numSms": 110, "computeMajor": 9, "computeMinor": 0,
              "gcnArchName": "gfx90a:sramecc+:xnack-"}]  # fmt: skip
    a = analyze(tmp_path, amd_events(), deviceProperties=props)
    assert (a.devices[0].vendor, a.devices[0].architecture) == ("amd", "gfx90a")


def test_nvidia_trace_keeps_compute_capability(tmp_path: Path) -> None:
    events = [ev("user_annotation", "ProfilerStep#1", 0, 100), *kernel("k", 5, 50, 1)]
    a = analyze(tmp_path, events, deviceProperties=[A100])
    assert a.device is not None and (a.device.vendor, a.device.compute_capability) == (
        "nvidia",
        "8.0",
    )
    assert "compute capability 8.0, 108 SMs" in console_text(a)


def test_mi250_real_trace(shared_trace: Any) -> None:
    a = analyze_file(shared_trace("mi250_rocm_train"))
    assert a.device is not None and a.device.vendor == "amd" and a.device.compute_capability is None
    assert all(d.vendor == "amd" and d.architecture == "gfx9" for d in a.devices)
    text = console_text(a)
    assert "104 CUs" in text and "compute capability" not in text.lower()
