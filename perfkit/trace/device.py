"""Device metrics over the steps (see :class:`perfkit.trace.model.DeviceMetrics`).

Every number here is measured inside the step windows; ``None`` marks what the trace
does not contain (no grid sizes, no SM count, no memory events), never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from perfkit.trace import intervals as iv
from perfkit.trace.events import Category, DeviceProperties, EventStore
from perfkit.trace.index import TraceIndex
from perfkit.trace.kernels import (
    is_communication_kernel,
    is_tensor_core_eligible,
    uses_tensor_cores,
)
from perfkit.trace.model import DeviceMetrics

IntArray = npt.NDArray[np.int64]


def has_device_activity(store: EventStore) -> bool:
    """True when the trace holds any kernel, memcpy or memset."""
    return bool(store.mask(Category.KERNEL, Category.MEMCPY, Category.MEMSET).any())


def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0 else float(num) / float(den)


def device_metrics(index: TraceIndex) -> DeviceMetrics:
    store = index.store
    windows = index.steps.windows
    total = index.steps.total
    k_rows = index.rows(index.is_kernel)
    comm_ids = store.name_ids(is_communication_kernel)
    is_comm = store.has_name(comm_ids)
    all_kernels = iv.merge(store.ts[index.is_kernel], index.end[index.is_kernel])
    comm_mask = index.is_kernel & is_comm
    compute_mask = index.is_kernel & ~is_comm
    comm = iv.merge(store.ts[comm_mask], index.end[comm_mask])
    compute = iv.merge(store.ts[compute_mask], index.end[compute_mask])

    kernel_rows = np.flatnonzero(index.is_kernel)
    by_start = kernel_rows[np.argsort(store.ts[kernel_rows], kind="stable")]
    busy = comm_ns = overlap_ns = 0
    host_wait = 0
    for w in windows:
        in_step = iv.clip(all_kernels, w.start, w.end)
        busy += iv.length(in_step)
        c = iv.clip(comm, w.start, w.end)
        comm_ns += iv.length(c)
        overlap_ns += iv.intersection_length(c, iv.clip(compute, w.start, w.end))
        host_wait += _host_wait(index, by_start, iv.gaps(in_step, w.start, w.end))
    idle = total - busy

    dur = store.dur
    kernel_ns = int(dur[k_rows].sum())
    kernels = int(k_rows.size)
    launch_rows = index.links.launch[k_rows]
    linked = launch_rows >= 0
    per_step = np.zeros(len(windows), dtype=np.int64)
    unique_launches, first = np.unique(launch_rows[linked], return_index=True)
    np.add.at(per_step, index.step[k_rows[linked][first]], 1)
    launches = int(unique_launches.size)
    kernels_per_step = np.bincount(index.step[k_rows], minlength=len(windows))
    main = _main_device(index, k_rows)

    tc_ids = store.name_ids(uses_tensor_cores)
    tc_ns = int(dur[k_rows[store.has_name(tc_ids)[k_rows]]].sum())
    eligible_ops, eligible_kernel_ns = _eligible(index, k_rows)

    sync_rows = index.rows(store.mask(Category.RUNTIME, Category.DRIVER) & store.has_name(store.name_ids(is_host_sync)))
    syncs_by_step = np.bincount(index.step[sync_rows], minlength=len(windows))

    return DeviceMetrics(
        steps_total_ns=total,
        kernel_busy_ns=busy,
        utilization=_ratio(busy, total),
        idle_ns=idle,
        idle_host_wait_ns=host_wait,
        idle_other_ns=idle - host_wait,
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
        communication_share=_ratio(comm_ns, total),
        communication_overlap=_ratio(overlap_ns, comm_ns),
        est_sm_efficiency=_sm_efficiency(index, k_rows, total),
        compute_capability=None if main is None else main.compute_capability,
        **_peak_memory(index),
        unlinked_device_events=int(np.count_nonzero(index.is_work & (index.links.launch < 0))),
        syncs=int(sync_rows.size),
        syncs_per_step=float(np.median(syncs_by_step)) if syncs_by_step.size else 0.0,
    )


_HOST_SYNC = re.compile(r"^(cuda|hip)(Device|Stream|Event)Synchronize$|^(cuda|hip)Memcpy(WithStream|2D|3D)?$")


def is_host_sync(name: str) -> bool:
    """Runtime calls that block the host until the device catches up.

    Explicit synchronisation (``cudaDeviceSynchronize``, ``cudaStreamSynchronize`` — what
    ``.item()``, ``.cpu()`` and printing a CUDA tensor end in — ``cudaEventSynchronize``)
    and synchronous copies (``cudaMemcpy``, HIP's ``hipMemcpyWithStream``). Each one stalls
    the launch queue: a deterministic count worth gating in CI.
    """
    return _HOST_SYNC.match(name) is not None


def _host_wait(index: TraceIndex, by_start: IntArray, gaps: iv.Intervals) -> int:
    """Total length of the gaps whose next kernel was launched after the gap began.

    ``by_start``: the kernel rows sorted by start time. The kernel that ends a gap is the
    first to start at or after the gap's start.
    """
    g0, g1 = gaps
    if g0.size == 0 or by_start.size == 0:
        return 0
    starts = index.store.ts[by_start]
    nxt = np.searchsorted(starts, g0, side="left")
    has_next = nxt < starts.size
    row = by_start[np.minimum(nxt, starts.size - 1)]
    launched_late = (index.links.launch[row] >= 0) & (index.launch_ts[row] >= g0)
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


def _device_props(store: EventStore, device_id: int) -> DeviceProperties | None:
    for d in store.meta.devices:
        if d.id == device_id:
            return d
    return None


def _main_device(index: TraceIndex, k_rows: IntArray) -> DeviceProperties | None:
    """The device with the most kernel time (its properties, if the trace has them)."""
    if k_rows.size == 0:
        return None
    store = index.store
    devices = store.device[k_rows]
    uniq, inverse = np.unique(devices, return_inverse=True)
    time = np.bincount(inverse.reshape(-1), weights=store.dur[k_rows].astype(np.float64))
    return _device_props(store, int(uniq[int(np.argmax(time))]))


def active_devices(store: EventStore) -> list[int]:
    """Ids of the devices that ran work."""
    work = store.mask(Category.KERNEL, Category.MEMCPY, Category.MEMSET)
    return sorted(int(d) for d in np.unique(store.device[work]))


def _sm_efficiency(index: TraceIndex, k_rows: IntArray, total: int) -> float | None:
    store = index.store
    if k_rows.size == 0 or total <= 0:
        return None
    blocks = store.blocks[k_rows]
    sms = np.full(k_rows.size, -1, dtype=np.int64)
    for dev in np.unique(store.device[k_rows]).tolist():
        props = _device_props(store, int(dev))
        if props is not None and props.sm_count:
            sms[store.device[k_rows] == dev] = props.sm_count
    if (blocks < 0).any() or (sms <= 0).any():
        return None
    weight = np.minimum(1.0, blocks / sms)
    return float((store.dur[k_rows] * weight).sum() / total)


def _peak_memory(index: TraceIndex) -> dict[str, Any]:
    """Peak device memory allocated: the highest ``Total Allocated`` of ``[memory]`` events.

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
        totals = mem.total_allocated[sel]
        if (totals >= 0).all():
            peaks[int(dev)] = int(totals.max())
    if not peaks:
        return none
    dev, peak = max(peaks.items(), key=lambda kv: kv[1])
    props = _device_props(store, dev)
    total = props.total_memory_bytes if props else None
    return {
        "peak_memory_bytes": peak,
        "device_memory_bytes": total,
        "peak_memory_share": _ratio(peak, total) if total else None,
    }


def device_props_for(store: EventStore, ids: Sequence[int]) -> list[DeviceProperties]:
    """Properties of the given devices (a placeholder when the trace lacks them)."""
    out = []
    for dev in ids:
        props = _device_props(store, dev)
        out.append(props or DeviceProperties(dev, "unknown device", None, None, None))
    return out


__all__ = ["active_devices", "device_metrics", "device_props_for", "has_device_activity"]
