"""Build an :class:`~perfkit.trace.events.EventStore` from in-process profiler events.

perfkit's own runs are analyzed from ``prof.profiler.kineto_results.events()`` (a list of
``torch._C._autograd._KinetoEvent``) inside the profiler's ``on_trace_ready`` handler,
not from a JSON round trip. The fields map onto the trace file's as follows:

=========================  ================================================================
file (``ph: X`` event)      ``_KinetoEvent``
=========================  ================================================================
``cat``                     ``activity_type()`` (``"cpu_op"``, ``"kernel"``, ``"cuda_runtime"``…)
``ts``/``dur`` (µs)          ``start_ns()``/``duration_ns()`` (ns, epoch clock)
``pid``/``tid`` (host)       ``device_index()`` (process id)/``device_resource_id()`` (thread)
``pid``/``tid`` (device)     ``device_index()`` (device)/``device_resource_id()`` (stream)
``args.correlation``        the ``"correlation"`` key of ``metadata_json()`` (the same JSON
                            fragment Kineto writes into ``args``), else ``correlation_id()``
``args.grid``               ``"grid"`` of ``metadata_json()``
``[memory]`` events          ``activity_type() == "cpu_instant_event"``, ``nbytes()``,
                            ``device_type()``/``device_index()``
=========================  ================================================================

In-process ``[memory]`` events carry each (de)allocation's signed size but not the
allocator's running total that the file has (``Total Allocated``). Given the memory
allocated on each device when recording began (``memory_baseline``, sampled by the
profiler session), the total is rebuilt as baseline + running sum in time order;
without it the total stays unknown (``-1``) and peak memory is not reported.

This module imports no torch: it only calls the events' methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from perfkit.trace.events import (
    CATEGORY_BY_NAME,
    MAX_BLOCKS,
    Category,
    DeviceProperties,
    DistributedInfo,
    EventStore,
    EventStoreBuilder,
    TraceMeta,
)

IN_PROCESS_SOURCE = "in-process"

_DEVICE_CODES = {
    int(Category.KERNEL),
    int(Category.MEMCPY),
    int(Category.MEMSET),
    int(Category.GPU_USER_ANNOTATION),
}
_NEEDS_METADATA = _DEVICE_CODES | {int(Category.RUNTIME), int(Category.DRIVER)}
_CODES = {k: int(v) for k, v in CATEGORY_BY_NAME.items()}


def _metadata(event: Any) -> dict[str, Any]:
    try:
        text = event.metadata_json()
    except (AttributeError, RuntimeError):
        return {}
    if not text:
        return {}
    try:
        parsed = orjson.loads("{" + text + "}")
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _grid_blocks(meta: dict[str, Any]) -> int:
    """Blocks of the kernel's ``grid`` (saturating at ``MAX_BLOCKS``), -1 when unknown."""
    grid = meta.get("grid")
    if not (isinstance(grid, list) and len(grid) == 3):
        return -1
    if not all(isinstance(g, int) and not isinstance(g, bool) and g >= 0 for g in grid):
        return -1
    return min(int(grid[0]) * int(grid[1]) * int(grid[2]), MAX_BLOCKS)


def store_from_kineto(
    events: Iterable[Any],
    *,
    source: str = IN_PROCESS_SOURCE,
    devices: Sequence[DeviceProperties] = (),
    distributed: DistributedInfo | None = None,
    memory_baseline: Mapping[int, int] | None = None,
) -> EventStore:
    """Copy the analysis columns out of ``_KinetoEvent`` objects (see the module doc).

    The profiler reuses its buffers after ``on_trace_ready`` returns, so this copies
    everything it needs into numpy arrays before returning.
    """
    cats: list[int] = []
    names: list[str] = []
    ts: list[int] = []
    dur: list[int] = []
    pid: list[int] = []
    tid: list[int] = []
    corr: list[int] = []
    device: list[int] = []
    blocks: list[int] = []
    mem_ts: list[int] = []
    mem_dev: list[int] = []
    mem_bytes: list[int] = []
    for e in events:
        code = _CODES.get(e.activity_type())
        if code is None:
            if e.name() == "[memory]":
                mem_ts.append(int(e.start_ns()))
                is_cpu = str(e.device_type()).endswith("CPU")
                mem_dev.append(-1 if is_cpu else int(e.device_index()))
                mem_bytes.append(int(e.nbytes()))
            continue
        meta = _metadata(e) if code in _NEEDS_METADATA else {}
        correlation = meta.get("correlation")
        if not isinstance(correlation, int):
            correlation = int(e.correlation_id()) if code in _NEEDS_METADATA else -1
        cats.append(code)
        names.append(str(e.name()))
        ts.append(int(e.start_ns()))
        dur.append(int(e.duration_ns()))
        index, resource = int(e.device_index()), int(e.device_resource_id())
        pid.append(index)
        tid.append(resource)
        corr.append(correlation)
        if code in _DEVICE_CODES:
            device.append(meta.get("device", index))
            blocks.append(_grid_blocks(meta) if code == int(Category.KERNEL) else -1)
        else:
            device.append(-1)
            blocks.append(-1)

    builder = EventStoreBuilder(
        TraceMeta(source=source, devices=tuple(devices), distributed=distributed)
    )
    starts = ts + mem_ts
    origin = min(starts) if starts else 0
    builder.origin_ns = origin
    if cats:
        builder.add_columns(
            cat=np.asarray(cats, dtype=np.uint8),
            names=names,
            ts=np.asarray(ts, dtype=np.int64) - origin,
            dur=np.asarray(dur, dtype=np.int64),
            pid=pid,
            tid=tid,
            correlation=corr,
            device=device,
            blocks=blocks,
        )
    if mem_ts:
        m_ts = np.asarray(mem_ts, dtype=np.int64) - origin
        m_dev = np.asarray(mem_dev, dtype=np.int64)
        m_bytes = np.asarray(mem_bytes, dtype=np.int64)
        builder.add_memory(
            m_ts, m_dev, m_bytes, _running_totals(m_ts, m_dev, m_bytes, memory_baseline)
        )
    return builder.build()


def _running_totals(
    ts: np.ndarray, device: np.ndarray, nbytes: np.ndarray, baseline: Mapping[int, int] | None
) -> np.ndarray:
    """Allocated bytes after each event: baseline + running sum per device (else -1)."""
    total = np.full(ts.size, -1, dtype=np.int64)
    for dev, start in (baseline or {}).items():
        sel = np.flatnonzero(device == dev)
        if sel.size:
            sel = sel[np.argsort(ts[sel], kind="stable")]
            total[sel] = int(start) + np.cumsum(nbytes[sel])
    return total


__all__ = ["IN_PROCESS_SOURCE", "store_from_kineto"]
