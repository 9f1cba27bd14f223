"""From an :class:`~perfkit.trace.events.EventStore` to a :class:`TraceAnalysis`.

This module only orchestrates; each measurement lives in its own module:
:mod:`~perfkit.trace.steps` (step windows), :mod:`~perfkit.trace.breakdown` (step-time
categories), :mod:`~perfkit.trace.phases` (per-phase time), :mod:`~perfkit.trace.device`
(device metrics) and :mod:`~perfkit.trace.ops` (top-N tables).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perfkit.trace.breakdown import step_breakdowns
from perfkit.trace.device import (
    active_devices,
    device_metrics,
    device_props_for,
    has_device_activity,
    main_device,
    step_kernel_busy,
)
from perfkit.trace.events import ROW_SLICE, Category, EventStore
from perfkit.trace.index import TraceIndex, build_index
from perfkit.trace.linking import session_scopes
from perfkit.trace.model import (
    BREAKDOWN_CATEGORIES,
    NOT_APPLICABLE_NO_DEVICE,
    CategoryTime,
    DeviceInfo,
    Distributed,
    StepStats,
    TraceAnalysis,
)
from perfkit.trace.names import PHASE_RANGE_PREFIX
from perfkit.trace.ops import top_kernels, top_ops
from perfkit.trace.phases import (
    NO_MAPPING,
    PERFKIT_MAPPING,
    PhaseRanges,
    PhaseResult,
    attribute_phases,
    find_phase_ranges,
    phase_times,
)
from perfkit.trace.reader import read_trace
from perfkit.trace.signals import training_signals
from perfkit.trace.steps import step_name_mask

DEFAULT_TOP = 10


def analyze_file(
    path: str | Path, top: int = DEFAULT_TOP, tensorboard_logdir: str | Path | None = None
) -> TraceAnalysis:
    """Read and analyze one trace file (raises :class:`~perfkit.errors.TraceError`).

    ``tensorboard_logdir`` is the directory the report tells the user to open in
    TensorBoard; by default the file's own directory, which TensorBoard shows as one run.
    """
    source = Path(path)
    store = read_trace(source)
    logdir = Path(tensorboard_logdir) if tensorboard_logdir is not None else source.parent
    return analyze_events(
        store, top=top, trace_path=str(source), tensorboard_logdir=str(logdir.resolve())
    )


def analyze_events(
    store: EventStore,
    *,
    top: int = DEFAULT_TOP,
    trace_path: str | None = None,
    tensorboard_logdir: str | None = None,
) -> TraceAnalysis:
    """Analyze an event store (from a file or from in-process profiler events)."""
    index = build_index(store)
    has_device = has_device_activity(store)
    breakdowns = step_breakdowns(index)
    ranges = find_phase_ranges(index)
    phase_of = attribute_phases(index, ranges)
    phases = phase_times(index, ranges, phase_of, has_device)
    del phase_of  # one int64 per event: not kept while the rest is measured
    steps = _step_stats(index, breakdowns, phases, has_device)
    total = index.steps.total
    categories = _categories(breakdowns, total)
    device = device_metrics(index) if has_device else None
    by_device, by_cpu = top_ops(index, top, has_device)
    dist = store.meta.distributed
    return TraceAnalysis(
        source=store.meta.source,
        trace_path=trace_path,
        tensorboard_logdir=tensorboard_logdir,
        steps_from_profiler=index.steps.from_profiler_steps,
        steps=steps,
        steps_total_ns=total,
        breakdown=categories,
        phase_mapping=ranges.mapping,
        phases=phases.medians,
        dataloader_share=_share(categories, "DataLoader"),
        communication_share=_share(categories, "Communication"),
        device=device,
        device_not_applicable=None if has_device else NOT_APPLICABLE_NO_DEVICE,
        devices=tuple(
            DeviceInfo(
                id=p.id,
                name=p.name,
                sm_count=p.sm_count,
                compute_capability=p.compute_capability,
                total_memory_bytes=p.total_memory_bytes,
                vendor=p.vendor,
                architecture=p.architecture,
            )
            for p in device_props_for(store, active_devices(store))
        ),
        distributed=None
        if dist is None
        else Distributed(backend=dist.backend, rank=dist.rank, world_size=dist.world_size),
        top_kernels=top_kernels(index, top),
        top_ops_by_device=by_device,
        top_ops_by_cpu=by_cpu,
        event_counts={c.name.lower(): store.count(c) for c in Category},
        notes=tuple(_notes(index, ranges, has_device)),
        signals=training_signals(index),
    )


def _step_stats(
    index: TraceIndex, breakdowns: list[dict[str, int]], phases: PhaseResult, has_device: bool
) -> tuple[StepStats, ...]:
    store = index.store
    windows = index.steps.windows
    origin = windows[0].start if windows else 0
    busy = step_kernel_busy(index, main_device(index)) if has_device else []
    # The kernels each step launched: a kernel whose launch call is not in the trace (it was
    # enqueued before recording began) runs in a step's window but was not launched in it.
    k_rows = index.rows(index.is_kernel & (index.links.launch >= 0))
    k_step = index.step[k_rows]
    kernel_ns = np.bincount(
        k_step, weights=store.dur[k_rows].astype(np.float64), minlength=len(windows)
    )
    kernel_count = np.bincount(k_step, minlength=len(windows))
    op_count = np.bincount(index.step[index.rows(index.is_host_op)], minlength=len(windows))
    out = []
    for i, w in enumerate(windows):
        out.append(
            StepStats(
                name=w.name,
                start_ns=w.start - origin,
                duration_ns=w.duration,
                host_duration_ns=w.host_duration,
                breakdown=breakdowns[i],
                phases=phases.per_step[i],
                kernel_busy_ns=busy[i] if has_device else None,
                kernel_ns=round(float(kernel_ns[i])) if has_device else None,
                kernels=int(kernel_count[i]) if has_device else None,
                ops=int(op_count[i]),
            )
        )
    return tuple(out)


def _categories(breakdowns: list[dict[str, int]], total: int) -> tuple[CategoryTime, ...]:
    out = []
    for name in BREAKDOWN_CATEGORIES:
        values = [b[name] for b in breakdowns]
        cat_total = int(sum(values))
        out.append(
            CategoryTime(
                name=name,
                total_ns=cat_total,
                share=cat_total / total if total > 0 else 0.0,
                median_ns=float(np.median(values)) if values else 0.0,
            )
        )
    return tuple(out)


def _share(categories: tuple[CategoryTime, ...], name: str) -> float | None:
    total = sum(c.total_ns for c in categories)
    if total <= 0:
        return None
    return next(c.share for c in categories if c.name == name)


def _notes(index: TraceIndex, ranges: PhaseRanges, has_device: bool) -> list[str]:
    store = index.store
    notes: list[str] = []
    skipped = store.skipped_bad_times
    if skipped:
        what = "1 complete event was" if skipped == 1 else f"{skipped} complete events were"
        notes.append(
            f"{what} skipped: ts or dur missing, not a number, or more than 73 years from "
            "the trace's first event."
        )
    if not index.steps.from_profiler_steps:
        notes.append(
            "No ProfilerStep# events: the whole trace (first to last event) is analyzed as "
            "one step."
        )
    steps = index.steps
    if steps.dropped_duplicates:
        notes.append(
            f"{steps.dropped_duplicates} ProfilerStep# ranges repeat a step over the same time "
            "(recorded twice, e.g. as user_annotation and cpu_op): each step is counted once."
        )
    if steps.dropped_nested:
        notes.append(
            f"{steps.dropped_nested} ProfilerStep# ranges lie inside another step (a nested "
            "prof.step()): they are ignored and the enclosing step keeps their events."
        )
    if steps.from_profiler_steps:
        count, busy_ns = _host_events_between_steps(index)
        if busy_ns > GAP_NOTE_SHARE * steps.total:
            notes.append(
                f"{count} host events ({busy_ns / 1e6:.3f} ms) ran between the first and last step "
                "but inside no ProfilerStep (gaps between steps): they are left out of the step metrics."
            )
    notes.extend(_phase_notes(store, ranges))
    if not has_device:
        return notes
    devices = active_devices(store)
    if len(devices) > 1:
        notes.append(
            f"Work ran on {len(devices)} devices ({', '.join(map(str, devices))}): GPU "
            f"utilization, idle time, communication and SM efficiency are those of device "
            f"{main_device(index)} (the most kernel time); the per-device table has each "
            "device's own; kernel counts and times add all devices up."
        )
    notes.extend(_link_notes(index))
    driver_rows = np.flatnonzero(index.links.launch >= 0)
    via_driver = int(
        np.count_nonzero(
            index.is_kernel[driver_rows]
            & (store.cat[index.links.launch[driver_rows]] == int(Category.DRIVER))
        )
    )
    if via_driver:
        notes.append(
            f"{via_driver} kernels were launched through the CUDA driver API (cuLaunchKernel: "
            "Triton, torch.compile); they are included (the TensorBoard plugin drops them)."
        )
    outside = int(np.count_nonzero(index.is_work & (index.step < 0)))
    if outside and index.steps.from_profiler_steps:
        notes.append(
            f"{outside} device events were launched outside every ProfilerStep and are left "
            "out of the step metrics."
        )
    return notes


def _phase_notes(store: EventStore, ranges: PhaseRanges) -> list[str]:
    """How the phases were found (see :mod:`perfkit.trace.phases`)."""
    others = (
        "work on any other thread (a pin_memory thread, a user's thread) is 'other', not "
        "the phase the loop thread is in."
    )
    if ranges.mapping == PERFKIT_MAPPING:
        return [
            f"Phases come from perfkit's {PHASE_RANGE_PREFIX}<phase> ranges on the loop thread; "
            "autograd's evaluate_function ops and its backward thread count as backward; " + others
        ]
    if ranges.mapping == NO_MAPPING:
        return [
            f"No phase ranges ({PHASE_RANGE_PREFIX}<phase>, enumerate(DataLoader), "
            "Optimizer.step) and no autograd events: per-phase times are not available."
        ]
    text = (
        f"No {PHASE_RANGE_PREFIX}<phase> ranges: phases come from torch's own events "
        "(enumerate(DataLoader)#…__next__ → data, Optimizer.step#/zero_grad# → optimizer"
    )
    if ranges.node_rows.size:
        start = (
            "from the step-level call that records the first autograd node (fwdbwd flows)"
            if len(store.forward_marks)
            else "from the step's start (the trace has no fwdbwd flows)"
        )
        text += (
            ", autograd's evaluate_function ops and backward thread → backward, and on the "
            f"loop thread the time before each backward pass, {start}, → forward); " + others
        )
    else:
        text += "); no autograd events: forward and backward cannot be separated and fall in 'other'."
    return [text]


def _link_notes(index: TraceIndex) -> list[str]:
    """Device work without a launch, and correlation ids that several launches carry."""
    notes: list[str] = []
    links = index.links
    sessions = len(session_scopes(index.store))
    if sessions:
        notes.append(
            f"The file holds {sessions} profiler sessions at separate times: correlation ids "
            "are matched within each session (and each process)."
        )
    if links.colliding_ids:
        notes.append(
            f"{links.colliding_ids} correlation ids are carried by several launch calls in one "
            f"session (several processes in one file): {links.resolved} device events were "
            "matched to the launch of the process that uses their device, "
            f"{links.ambiguous} could not be matched to one launch and are left unlinked."
        )
    unlinked = int(np.count_nonzero(index.is_work & (links.launch < 0)))
    if unlinked:
        notes.append(
            f"{unlinked} device events have no launch call in the trace (e.g. enqueued before "
            "recording began): they count in the time of the step whose window they run in, "
            "but in no step's kernel count, phase or operator."
        )
    return notes


#: Host work between steps worth a note: above 1 % of the steps' time. torch.profiler's
#: own step() bookkeeping (a few aten::zeros, ~10 µs a step) always falls between steps.
GAP_NOTE_SHARE = 0.01


def _host_events_between_steps(index: TraceIndex) -> tuple[int, int]:
    """``(count, summed ns)`` of host events (ops, ranges, runtime calls) that start after
    the first step began and before the last ended, yet in no step. Events before the
    first step (profiler start-up) and after the last are expected and not counted."""
    store = index.store
    windows = index.steps.windows
    first, last = windows[0].host_start, windows[-1].host_end
    host = index.is_host_op | store.mask(Category.USER_ANNOTATION, Category.RUNTIME, Category.DRIVER)
    host &= ~step_name_mask(store)
    host &= store.ts >= first
    host &= store.ts < last
    count = busy = 0
    rows = np.flatnonzero(host)
    del host
    for a in range(0, rows.size, ROW_SLICE):  # bounded temporaries on 10 M-event traces
        part = rows[a : a + ROW_SLICE]
        outside = part[index.steps.by_host_time(store.ts[part]) < 0]
        count += int(outside.size)
        busy += int(store.dur[outside].sum())
    return count, busy


__all__ = ["DEFAULT_TOP", "TraceAnalysis", "analyze_events", "analyze_file"]
