"""Device metrics over the steps (see :class:`perfkit.trace.model.DeviceMetrics`).

Every number here is measured inside the step windows; ``None`` marks what the trace
does not contain (no grid sizes, no SM count, no memory events), never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from perfkit.trace import intervals as iv
from perfkit.trace.events import AMD, NVIDIA, Category, DeviceProperties, EventStore
from perfkit.trace.index import TraceIndex
from perfkit.trace.kernels import (
    is_communication_kernel,
    is_tensor_core_eligible,
    uses_tensor_cores,
)
from perfkit.trace.model import DeviceMetrics, DeviceUsage

IntArray = npt.NDArray[np.int64]


def has_device_activity(store: EventStore) -> bool:
    """True when the trace holds any kernel, memcpy or memset."""
    return bool(store.mask(Category.KERNEL, Category.MEMCPY, Category.MEMSET).any())


def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0 else float(num) / float(den)


_HIP_RE = re.compile(r"^hip[A-Z]")
_CUDA_RE = re.compile(r"^cu(da)?[A-Z]")


def trace_vendor(store: EventStore) -> str | None:
    """The vendor the runtime calls point to: ``hip*`` calls mean AMD, ``cuda*``/``cu*``
    calls NVIDIA (``None``: no runtime call, or both)."""
    runtime = store.mask(Category.RUNTIME, Category.DRIVER)
    used = np.unique(store.name[runtime])
    names = [store.names[i] for i in used.tolist()]
    hip = any(_HIP_RE.match(n) for n in names)
    cuda = any(_CUDA_RE.match(n) for n in names)
    if hip != cuda:
        return AMD if hip else NVIDIA
    return None


def main_device(index: TraceIndex) -> int | None:
    """The device with the most kernel time in the steps (ties: the lowest id); without
    kernels, the lowest id that ran any work (``None``: no device work at all)."""
    store = index.store
    k_rows = index.rows(index.is_kernel)
    if k_rows.size == 0:
        devices = active_devices(store)
        return devices[0] if devices else None
    uniq, inverse = np.unique(store.device[k_rows], return_inverse=True)
    time = np.bincount(inverse.reshape(-1), weights=store.dur[k_rows].astype(np.float64))
    return int(uniq[int(np.argmax(time))])  # argmax: the first (lowest id) on a tie


def kernel_intervals(index: TraceIndex, device: int | None) -> iv.Intervals:
    """Union of the kernel intervals of ``device`` (all kernels, not only a step's)."""
    if device is None:
        return iv.empty()
    return index.intervals(index.is_kernel & (index.store.device == device))


def step_kernel_busy(index: TraceIndex, device: int | None) -> list[int]:
    """Per step: the union of ``device``'s kernel intervals within the step window."""
    busy = kernel_intervals(index, device)
    return [iv.length(iv.clip(busy, w.start, w.end)) for w in index.steps.windows]


def device_metrics(index: TraceIndex) -> DeviceMetrics:
    store = index.store
    windows = index.steps.windows
    total = index.steps.total
    k_rows = index.rows(index.is_kernel)
    is_comm = store.has_name(store.name_ids(is_communication_kernel))
    hint = trace_vendor(store)
    usage = [
        _usage(index, dev, is_comm, _device_props(store, dev, hint)) for dev in active_devices(store)
    ]
    main = main_device(index)
    main_usage = next(u for u in usage if u.usage.id == main) if usage else None
    props = _device_props(store, main, hint) if main is not None else None

    dur = store.dur
    kernel_ns = int(dur[k_rows].sum())
    kernels = int(k_rows.size)
    launch_rows = index.links.launch[k_rows]
    linked = launch_rows >= 0
    per_step = np.zeros(len(windows), dtype=np.int64)
    unique_launches, first = np.unique(launch_rows[linked], return_index=True)
    np.add.at(per_step, index.step[k_rows[linked][first]], 1)
    launches = int(unique_launches.size)
    # Kernels launched in each step (work without a launch in the trace: in no step's count).
    kernels_per_step = np.bincount(index.step[k_rows[linked]], minlength=len(windows))

    tc_ids = store.name_ids(uses_tensor_cores)
    tc_ns = int(dur[k_rows[store.has_name(tc_ids)[k_rows]]].sum())
    eligible_ops, eligible_kernel_ns = _eligible(index, k_rows)

    syncs_mask = store.mask(Category.RUNTIME, Category.DRIVER) & store.has_name(
        store.name_ids(is_host_sync)
    )
    sync_rows = index.rows(syncs_mask)
    syncs_by_step = np.bincount(index.step[sync_rows], minlength=len(windows))

    busy = main_usage.usage.kernel_busy_ns if main_usage else 0
    host_wait = main_usage.usage.idle_host_wait_ns if main_usage else 0
    comm_ns = main_usage.usage.communication_ns if main_usage else 0
    overlap_ns = main_usage.comm_overlap_ns if main_usage else 0
    return DeviceMetrics(
        steps_total_ns=total,
        kernel_busy_ns=busy,
        utilization=_ratio(busy, total),
        idle_ns=total - busy,
        idle_host_wait_ns=host_wait,
        idle_other_ns=total - busy - host_wait,
        kernel_ns=kernel_ns,
        kernels=kernels,
        launches=launches,
        kernels_per_step=float(np.median(kernels_per_step)) if kernels_per_step.size else 0.0,
        launches_per_step=float(np.median(per_step)) if per_step.size else 0.0,
        mean_kernel_ns=_ratio(kernel_ns, kernels),
        median_kernel_ns=float(np.median(dur[k_rows])) if kernels else None,
        memcpy_ns=int(dur[index.rows(store.cat == int(Category.MEMCPY))].sum()),
        memset_ns=int(dur[index.rows(store.cat == int(Category.MEMSET))].sum()),
        tensor_core_kernel_ns=tc_ns,
        tensor_core_share=_ratio(tc_ns, kernel_ns),
        tensor_core_eligible_ops=eligible_ops,
        tensor_core_eligible_kernel_ns=eligible_kernel_ns,
        communication_ns=comm_ns,
        communication_busy_share=_ratio(comm_ns, total),
        communication_overlap=_ratio(overlap_ns, comm_ns),
        est_sm_efficiency=main_usage.usage.est_sm_efficiency if main_usage else None,
        compute_capability=None if props is None else props.compute_capability,
        **_peak_memory(index),
        unlinked_device_events=int(np.count_nonzero(index.is_work & (index.links.launch < 0))),
        syncs=int(sync_rows.size),
        syncs_per_step=float(np.median(syncs_by_step)) if syncs_by_step.size else 0.0,
        main_device=main,
        vendor=None if props is None else props.vendor,
        per_device=tuple(u.usage for u in usage),
    )


@dataclass(frozen=True)
class _Usage:
    usage: DeviceUsage
    comm_overlap_ns: int


def _usage(
    index: TraceIndex, dev: int, is_comm: npt.NDArray[np.bool_], props: DeviceProperties
) -> _Usage:
    """Busy, idle, communication and SM efficiency of one device over the step windows."""
    store = index.store
    windows = index.steps.windows
    total = index.steps.total
    on_dev = index.is_kernel & (store.device == dev)
    all_kernels = index.intervals(on_dev)
    comm = index.intervals(on_dev & is_comm)
    compute = index.intervals(on_dev & ~is_comm)
    rows = np.flatnonzero(on_dev)
    by_start = rows[np.argsort(store.ts[rows], kind="stable")]
    starts = store.ts[by_start]
    busy = comm_ns = overlap_ns = host_wait = 0
    for w in windows:
        in_step = iv.clip(all_kernels, w.start, w.end)
        busy += iv.length(in_step)
        c = iv.clip(comm, w.start, w.end)
        comm_ns += iv.length(c)
        overlap_ns += iv.intersection_length(c, iv.clip(compute, w.start, w.end))
        host_wait += _host_wait(index, by_start, starts, iv.gaps(in_step, w.start, w.end))
    in_steps = index.rows(on_dev)
    usage = DeviceUsage(
        id=dev,
        kernel_busy_ns=busy,
        utilization=_ratio(busy, total),
        idle_ns=total - busy,
        idle_host_wait_ns=host_wait,
        idle_other_ns=total - busy - host_wait,
        kernel_ns=int(store.dur[in_steps].sum()),
        kernels=int(in_steps.size),
        communication_ns=comm_ns,
        est_sm_efficiency=_sm_efficiency(index, by_start, props.sm_count),
    )
    return _Usage(usage=usage, comm_overlap_ns=overlap_ns)


_HOST_SYNC = re.compile(r"^(cuda|hip)(Device|Stream|Event)Synchronize$|^(cuda|hip)Memcpy(WithStream|2D|3D)?$")


def is_host_sync(name: str) -> bool:
    """Runtime calls that block the host until the device catches up.

    Explicit synchronisation (``cudaDeviceSynchronize``, ``cudaStreamSynchronize`` — what
    ``.item()``, ``.cpu()`` and printing a CUDA tensor end in — ``cudaEventSynchronize``)
    and synchronous copies (``cudaMemcpy``, HIP's ``hipMemcpyWithStream``). Each one stalls
    the launch queue: a deterministic count worth gating in CI.
    """
    return _HOST_SYNC.match(name) is not None


def _host_wait(index: TraceIndex, by_start: IntArray, starts: IntArray, gaps: iv.Intervals) -> int:
    """Total length of the gaps whose next kernel was launched after the gap began.

    ``by_start``: the device's kernel rows sorted by start time, ``starts`` their starts.
    The kernel that ends a gap is the first to start at or after the gap's start.
    """
    g0, g1 = gaps
    if g0.size == 0 or by_start.size == 0:
        return 0
    nxt = np.searchsorted(starts, g0, side="left")
    has_next = nxt < starts.size
    row = by_start[np.minimum(nxt, starts.size - 1)]
    launched_late = (index.links.launch[row] >= 0) & (index.launch_ts_of(row) >= g0)
    return int((g1 - g0)[has_next & launched_late].sum())


def _eligible(index: TraceIndex, k_rows: IntArray) -> tuple[tuple[str, ...], int]:
    store = index.store
    ids = store.name_ids(is_tensor_core_eligible)
    op_rows = index.rows(index.is_host_op & store.has_name(ids))
    names = tuple(sorted({store.names[i] for i in store.name[op_rows].tolist()}))
    owner = index.op[k_rows]
    owned = owner >= 0
    eligible_owner = np.zeros(k_rows.size, dtype=bool)
    eligible_owner[owned] = np.isin(store.name[owner[owned]], ids)
    return names, int(store.dur[k_rows[eligible_owner]].sum())


def _device_props(store: EventStore, device_id: int, vendor_hint: str | None) -> DeviceProperties:
    """The trace's properties of ``device_id`` (a placeholder when it has none), with the
    vendor filled in from the runtime calls where the properties do not say."""
    for d in store.meta.devices:
        if d.id == device_id:
            return d.with_vendor(vendor_hint)
    return DeviceProperties(device_id, "unknown device", None, None, None).with_vendor(vendor_hint)


def active_devices(store: EventStore) -> list[int]:
    """Ids of the devices that ran work."""
    work = store.mask(Category.KERNEL, Category.MEMCPY, Category.MEMSET)
    return sorted(int(d) for d in np.unique(store.device[work]))


def _sm_efficiency(index: TraceIndex, rows: IntArray, sms: int | None) -> float | None:
    """Estimated SM efficiency of one device's kernels ``rows`` (sorted by start).

    Each kernel weighs ``min(blocks, SMs)`` (in SMs); a sweep over the kernels' start and
    end times gives the SMs the running kernels could fill at every instant, capped at
    the device's SMs; that is integrated over the step windows and divided by SMs × step
    time. Concurrent kernels therefore never count for more than the whole device.
    """
    store = index.store
    total = index.steps.total
    if rows.size == 0 or total <= 0 or not sms:
        return None
    blocks = store.blocks[rows]
    if (blocks < 0).any():
        return None
    weight = np.minimum(blocks.astype(np.int64), sms)
    starts = store.ts[rows]
    ends = starts + store.dur[rows]
    times = np.concatenate([starts, ends])
    deltas = np.concatenate([weight, -weight])
    order = np.argsort(times, kind="stable")
    times, deltas = times[order], deltas[order]
    running = np.minimum(np.cumsum(deltas), sms)  # SMs in use on [times[i], times[i + 1])
    covered = _window_coverage(index, times)
    filled = float(np.dot(running[:-1].astype(np.float64), np.diff(covered).astype(np.float64)))
    return min(1.0, filled / (float(sms) * float(total)))


def _window_coverage(index: TraceIndex, times: IntArray) -> IntArray:
    """For each time, the total length of the step windows before it (windows are sorted
    and disjoint), so that ``coverage[j] - coverage[i]`` is the part of ``[t_i, t_j)``
    inside the steps."""
    windows = index.steps.windows
    ws = np.asarray([w.start for w in windows], dtype=np.int64)
    we = np.asarray([w.end for w in windows], dtype=np.int64)
    before = np.concatenate([[0], np.cumsum(we - ws)])
    j = np.searchsorted(ws, times, side="right") - 1
    inside = j >= 0
    jj = np.maximum(j, 0)
    partial = np.clip(times - ws[jj], 0, we[jj] - ws[jj])
    return np.where(inside, before[jj] + partial, 0)


def _peak_memory(index: TraceIndex) -> dict[str, Any]:
    """Peak device memory allocated: the highest ``Total Allocated`` of ``[memory]`` events,
    on the device closest to full (by share of its memory when the trace gives the sizes,
    else by bytes).

    A device whose events lack the running total (in-process events recorded without a
    baseline, see :mod:`perfkit.trace.kineto`) gets no peak.
    """
    store = index.store
    mem = store.memory
    none: dict[str, Any] = {
        "peak_memory_bytes": None,
        "device_memory_bytes": None,
        "peak_memory_share": None,
    }
    on_device = mem.device >= 0
    if not on_device.any():
        return none
    peaks: dict[int, int] = {}
    for dev in np.unique(mem.device[on_device]).tolist():
        sel = np.flatnonzero(mem.device == dev)
        allocated = mem.total_allocated[sel]
        if (allocated >= 0).all():
            peaks[int(dev)] = int(allocated.max())
    if not peaks:
        return none
    capacities = {dev: _device_props(store, dev, None).total_memory_bytes for dev in peaks}

    def fullness(dev: int) -> tuple[bool, float, int]:
        capacity = capacities[dev]
        return (capacity is not None, peaks[dev] / capacity if capacity else 0.0, peaks[dev])

    dev = max(peaks, key=fullness)  # the device closest to full (else the highest peak)
    peak, total = peaks[dev], capacities[dev]
    return {
        "peak_memory_bytes": peak,
        "device_memory_bytes": total,
        "peak_memory_share": _ratio(peak, total) if total else None,
    }


def device_props_for(store: EventStore, ids: Sequence[int]) -> list[DeviceProperties]:
    """Properties of the given devices (a placeholder when the trace lacks them), with the
    vendor the runtime calls point to where the properties do not say."""
    hint = trace_vendor(store)
    return [_device_props(store, dev, hint) for dev in ids]


__all__ = [
    "active_devices",
    "device_metrics",
    "device_props_for",
    "has_device_activity",
    "kernel_intervals",
    "main_device",
    "step_kernel_busy",
    "trace_vendor",
]
