"""The tables of a trace report, as strings, shared by the console and Markdown renderers.

Pure formatting of :class:`~perfkit.trace.model.TraceAnalysis` fields: no value here is
computed from others (shares, medians, totals are all fields already). Times print in
milliseconds with three decimals (the trace's µs resolution), ``—`` stands for ``None``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from perfkit.trace.model import PhaseTimes, TraceAnalysis

DASH = "—"
PERFETTO_URL = "https://ui.perfetto.dev"
#: Kernel and operator names longer than this are cut (with "…") in tables; JSON keeps them whole.
NAME_WIDTH = 72


@dataclass(frozen=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    #: Columns to right-align (numbers).
    numeric: tuple[int, ...] = ()


def short(name: str, width: int = NAME_WIDTH) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def ms(ns: float | None) -> str:
    return DASH if ns is None else f"{ns / 1e6:.3f}"


def us(ns: float | None) -> str:
    return DASH if ns is None else f"{ns / 1e3:.1f} µs"


def pct(share: float | None) -> str:
    return DASH if share is None else f"{100 * share:.1f}%"


def count(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def gib(value: int | None) -> str:
    return DASH if value is None else f"{value / 2**30:.2f} GiB"


def summary_lines(a: TraceAnalysis) -> list[str]:
    """The header: source, hardware, steps."""
    lines = [f"Trace: {a.source}"]
    if a.devices:
        for d in a.devices:
            amd = d.vendor == "amd"
            parts = [f"device {d.id}: {d.name}" + (" (AMD)" if amd and "AMD" not in d.name else "")]
            if d.compute_capability:
                parts.append(f"compute capability {d.compute_capability}")
            if d.architecture:
                parts.append(f"architecture {d.architecture}")
            if d.sm_count:
                parts.append(f"{d.sm_count} {'CUs' if amd else 'SMs'}")
            if d.total_memory_bytes:
                parts.append(gib(d.total_memory_bytes))
            lines.append(", ".join(parts))
    else:
        lines.append("device: none (CPU-only trace)")
    if a.distributed is not None:
        dist = a.distributed
        lines.append(
            f"distributed: backend {dist.backend or DASH}, rank {count(dist.rank)} of "
            f"{count(dist.world_size)}"
        )
    n = len(a.steps)
    kind = (
        f"{n} step{'' if n == 1 else 's'} (ProfilerStep#)"
        if a.steps_from_profiler
        else "1 span: the whole trace (no ProfilerStep# events)"
    )
    lines.append(f"{kind}, {ms(a.steps_total_ns)} ms in total")
    return lines


def steps_table(a: TraceAnalysis) -> Table:
    if a.device is None:
        # No device work: a step is its host range, and there are no kernel columns.
        return Table(
            "Steps",
            ("Step", "Time (ms)", "Ops"),
            tuple((s.name, ms(s.duration_ns), count(s.ops)) for s in a.steps),
            numeric=(1, 2),
        )
    rows = tuple(
        (
            s.name,
            ms(s.duration_ns),
            ms(s.host_duration_ns),
            ms(s.kernel_busy_ns),
            count(s.kernels),
        )
        for s in a.steps
    )
    return Table(
        "Steps (device-anchored; Kernels: launched in the step)",
        ("Step", "Time (ms)", "Host (ms)", "Kernel busy (ms)", "Kernels"),
        rows,
        numeric=(1, 2, 3, 4),
    )


def breakdown_table(a: TraceAnalysis) -> Table:
    rows = tuple((c.name, ms(c.total_ns), pct(c.share), ms(c.median_ns)) for c in a.breakdown)
    rows += (("Total", ms(a.steps_total_ns), pct(1.0 if a.steps_total_ns else None), ""),)
    return Table(
        "Step-time breakdown (all steps)",
        ("Category", "Total (ms)", "% of step", "Median per step (ms)"),
        rows,
        numeric=(1, 2, 3),
    )


def phases_table(a: TraceAnalysis) -> Table | None:
    if not a.phases:
        return None

    def row(name: str, p: PhaseTimes) -> tuple[str, ...]:
        return (
            name,
            ms(p.host_ns),
            ms(p.cpu_op_ns),
            ms(p.kernel_ns),
            ms(p.memcpy_ns),
            ms(p.memset_ns),
            count(p.kernels),
            count(p.launches),
        )

    source = {"perfkit": "perfkit/<phase> ranges", "torch": "torch's ranges and autograd's events"}
    return Table(
        f"Phases: median per step, ms (from {source.get(a.phase_mapping, a.phase_mapping)})",
        ("Phase", "Host", "CPU ops", "Kernel", "Memcpy", "Memset", "Kernels", "Launches"),
        tuple(row(name, p) for name, p in a.phases.items()),
        numeric=(1, 2, 3, 4, 5, 6, 7),
    )


def device_table(a: TraceAnalysis) -> Table | None:
    d = a.device
    if d is None:
        return None
    amd = d.vendor == "amd"
    cores = "Matrix-core" if amd else "Tensor-core"
    eligible = ", ".join(d.tensor_core_eligible_ops) if d.tensor_core_eligible_ops else "none"
    several = len(d.per_device) > 1
    which = f", device {d.main_device}" if several and d.main_device is not None else ""
    arch = next((x.architecture for x in a.devices if x.id == d.main_device), None)
    rows: tuple[tuple[str, str], ...] = (
        (
            f"GPU utilization{which}" if several else "GPU utilization (kernel busy / step)",
            pct(d.utilization),
        ),
        ("Kernel busy", f"{ms(d.kernel_busy_ns)} ms of {ms(d.steps_total_ns)} ms"),
        ("Idle, waiting on the host", f"{ms(d.idle_host_wait_ns)} ms"),
        ("Idle, other", f"{ms(d.idle_other_ns)} ms"),
        (
            "Kernel time (all devices)" if several else "Kernel time (all streams)",
            f"{ms(d.kernel_ns)} ms",
        ),
        ("Kernels / launch calls", f"{d.kernels} / {d.launches}"),
        ("Kernels per step (median)", count(d.kernels_per_step)),
        ("Host syncs per step (median)", count(d.syncs_per_step)),
        ("Kernel duration mean / median", f"{us(d.mean_kernel_ns)} / {us(d.median_kernel_ns)}"),
        ("Memcpy / memset time", f"{ms(d.memcpy_ns)} ms / {ms(d.memset_ns)} ms"),
        (f"{cores} kernel share", pct(d.tensor_core_share)),
        (f"{cores}-eligible ops seen", eligible),
        ("Kernel time of eligible ops", f"{ms(d.tensor_core_eligible_kernel_ns)} ms"),
        (
            f"Communication ({'RCCL' if amd else 'NCCL'}{which if several else ' kernels'})",
            f"{ms(d.communication_ns)} ms, {pct(d.communication_busy_share)} of step",
        ),
        ("Communication overlapped", pct(d.communication_overlap)),
        (f"Est. SM efficiency{which}", pct(d.est_sm_efficiency)),
        ("Architecture", arch or DASH)
        if amd
        else ("Compute capability", d.compute_capability or DASH),
        ("Peak memory allocated", _memory(a)),
    )
    return Table("Device", ("Metric", "Value"), rows)


def per_device_table(a: TraceAnalysis) -> Table | None:
    """One row per device, when the trace ran work on more than one."""
    d = a.device
    if d is None or len(d.per_device) < 2:
        return None
    rows = tuple(
        (
            f"{u.id}" + (" (main)" if u.id == d.main_device else ""),
            pct(u.utilization),
            ms(u.kernel_busy_ns),
            ms(u.idle_host_wait_ns),
            ms(u.kernel_ns),
            count(u.kernels),
            ms(u.communication_ns),
            pct(u.est_sm_efficiency),
        )
        for u in d.per_device
    )
    return Table(
        "Per device (over the same steps)",
        ("Device", "Utilization", "Kernel busy ms", "Idle on host ms", "Kernel ms", "Kernels",
         "Comm. ms", "Est. SM eff."),
        rows,
        numeric=(1, 2, 3, 4, 5, 6, 7),
    )  # fmt: skip


def _memory(a: TraceAnalysis) -> str:
    d = a.device
    if d is None or d.peak_memory_bytes is None:
        return f"{DASH} (needs profiler.profile_memory: true)"
    if d.device_memory_bytes is None:
        return gib(d.peak_memory_bytes)
    return (
        f"{gib(d.peak_memory_bytes)} ({pct(d.peak_memory_share)} of {gib(d.device_memory_bytes)})"
    )


def top_kernels_table(a: TraceAnalysis) -> Table | None:
    if not a.top_kernels:
        return None
    rows = tuple(
        (short(k.name), ms(k.total_ns), count(k.count), f"{k.mean_ns / 1e3:.1f}", pct(k.share))
        for k in a.top_kernels
    )
    return Table(
        f"Top {len(rows)} kernels by device time (share: of all kernel time)",
        ("Kernel", "Total ms", "Calls", "Mean µs", "Share"),
        rows,
        numeric=(1, 2, 3, 4),
    )


def top_ops_device_table(a: TraceAnalysis) -> Table | None:
    if not a.top_ops_by_device:
        return None
    rows = tuple(
        (short(o.name), ms(o.self_device_ns), ms(o.self_cpu_ns), count(o.calls))
        for o in a.top_ops_by_device
    )
    return Table(
        f"Top {len(rows)} operators by self device time",
        ("Operator", "Self device ms", "Self CPU ms", "Calls"),
        rows,
        numeric=(1, 2, 3),
    )


def top_ops_cpu_table(a: TraceAnalysis) -> Table | None:
    if not a.top_ops_by_cpu:
        return None
    rows = tuple(
        (short(o.name), ms(o.self_cpu_ns), ms(o.self_device_ns), count(o.calls))
        for o in a.top_ops_by_cpu
    )
    return Table(
        f"Top {len(rows)} operators by self CPU time",
        ("Operator", "Self CPU ms", "Self device ms", "Calls"),
        rows,
        numeric=(1, 2, 3),
    )


def tables(a: TraceAnalysis) -> list[Table]:
    """Every table of the report, in order (absent sections are skipped)."""
    out = [steps_table(a), breakdown_table(a)]
    for t in (
        phases_table(a),
        device_table(a),
        per_device_table(a),
        top_kernels_table(a),
        top_ops_device_table(a),
        top_ops_cpu_table(a),
    ):
        if t is not None:
            out.append(t)
    return out


def view_lines(a: TraceAnalysis) -> list[str]:
    """The exact commands that open the trace in a viewer (paths shell-quoted, so a
    folder with a space pastes into a shell as it is)."""
    lines = []
    if a.tensorboard_logdir:
        lines.append(f"view: tensorboard --logdir {shlex.quote(a.tensorboard_logdir)}")
    if a.trace_path:
        lines.append(f"  or: open {shlex.quote(a.trace_path)} in {PERFETTO_URL}")
    return lines


__all__ = [
    "DASH",
    "PERFETTO_URL",
    "Table",
    "breakdown_table",
    "device_table",
    "ms",
    "pct",
    "per_device_table",
    "phases_table",
    "short",
    "steps_table",
    "summary_lines",
    "tables",
    "top_kernels_table",
    "top_ops_cpu_table",
    "top_ops_device_table",
    "view_lines",
]
