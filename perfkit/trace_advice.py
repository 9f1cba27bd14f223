"""Advice facts measured in a trace (:class:`~perfkit.trace.model.TraceAnalysis`).

Used for ``perfkit analyze`` of any trace, and merged under a perfkit run's own facts
(the run's untraced measurements win where both exist). Each fact is ``None`` when the
trace cannot tell: no device activity, no phase ranges, no dtype evidence.

With several devices, GPU utilization is the main device's (the one with the most kernel
time; :class:`~perfkit.trace.model.DeviceMetrics`), never a sum over devices; the vendor
and compute capability are the main device's too. Peak memory is peak *allocated* (the
``[memory]`` events' ``Total Allocated``), the device closest to full.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from perfkit.advice import Advice, AdviceFacts, advise
from perfkit.trace.model import TraceAnalysis


def facts_from_trace(analysis: TraceAnalysis) -> AdviceFacts:
    device = analysis.device
    signals = analysis.signals
    step_ns = statistics.median(s.duration_ns for s in analysis.steps) if analysis.steps else None
    optimizer = analysis.phases.get("optimizer") if analysis.phase_mapping != "none" else None
    # With device activity, the optimizer's cost is its kernel time: its host range also
    # holds any wait for earlier GPU work (GradScaler's inf check, an .item()).
    optimizer_ns = None
    if optimizer is not None:
        optimizer_ns = optimizer.kernel_ns if device is not None and optimizer.kernel_ns is not None else optimizer.host_ns
    optimizer_share = optimizer_ns / step_ns if optimizer_ns is not None and step_ns else None
    amp: str | None = None
    scaler: bool | None = None
    variant: str | None = None
    if signals is not None:
        if signals.fp16_kernel_ns > 0 and signals.fp16_kernel_ns >= signals.bf16_kernel_ns:
            amp = "fp16"
            scaler = signals.grad_scaler_calls > 0
        elif signals.bf16_kernel_ns > 0:
            amp = "bf16"
        if signals.fused_optimizer_calls:
            variant = "fused"
        elif signals.foreach_calls:
            variant = "foreach"
    capability = None
    vendor = device.vendor if device is not None else None
    host_wait_share = None
    if device is not None and device.steps_total_ns > 0:
        host_wait_share = device.idle_host_wait_ns / device.steps_total_ns
    if device is not None and device.compute_capability and vendor != "amd":
        try:
            capability = float(device.compute_capability)
        except ValueError:
            capability = None
    return AdviceFacts(
        device_type="cuda" if device is not None else None,
        device_vendor=vendor,
        time_basis="device" if device is not None else "host",
        data_share=analysis.dataloader_share,
        gpu_utilization=device.utilization if device is not None else None,
        tensor_core_share=device.tensor_core_share if device is not None else None,
        tensor_core_eligible_ops=bool(device.tensor_core_eligible_ops) if device is not None else None,
        compute_capability=capability,
        amp=amp,
        grad_scaler=scaler,
        optimizer_share=optimizer_share,
        optimizer_ms=optimizer_ns / 1e6 if optimizer_ns is not None else None,
        optimizer_variant=variant,
        peak_memory_bytes=device.peak_memory_bytes if device is not None else None,
        device_memory_bytes=device.device_memory_bytes if device is not None else None,
        kernels_per_step=device.kernels_per_step if device is not None else None,
        median_kernel_us=device.median_kernel_ns / 1e3 if device is not None and device.median_kernel_ns is not None else None,
        host_wait_share=host_wait_share,
        perfkit_run=analysis.phase_mapping == "perfkit",
        compiled=signals.compiled_region_calls > 0 if signals is not None else None,
    )


@dataclass(frozen=True)
class TraceReport:
    """A trace analysis plus the advice its measurements support (for ``perfkit analyze``)."""

    analysis: TraceAnalysis
    advice: tuple[Advice, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.analysis.to_dict(), "advice": [a.to_dict() for a in self.advice]}


def build_trace_report(analysis: TraceAnalysis) -> TraceReport:
    return TraceReport(analysis=analysis, advice=advise(facts_from_trace(analysis)))
