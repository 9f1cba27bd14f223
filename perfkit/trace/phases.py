"""Per-phase host and device time.

**Which ranges are phases.** perfkit's loop records ``perfkit/<phase>`` ranges
(:data:`perfkit.trace.names.PHASE_RANGES`). A trace without any of them (one perfkit did
not record) falls back to torch's own ranges: ``enumerate(DataLoader)#…__next__`` is
``data`` and ``Optimizer.step#…``/``Optimizer.zero_grad#…`` are ``optimizer``; forward and
backward cannot be told apart there and stay in ``other``.

**Which phase an event belongs to.**

1. The innermost phase range that encloses it on its own thread (the loop thread).
2. Otherwise, the phase range of the same process whose time interval contains the
   event's start. This is how autograd's backward thread, which launches the backward
   kernels while the loop thread waits inside ``perfkit/backward``, gets its work
   counted in ``backward``. It assumes phase ranges do not overlap in time, which holds
   for a training loop's sequential phases.
3. Device work belongs to the phase of its launch call (the TensorBoard plugin ignores
   ``cuda_driver`` launches; we do not).

Anything else is ``other``. Per step: ``host_ns`` is the union of the phase's ranges within
the step's host range (``other``: the rest of the host range).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from perfkit.results import PHASES
from perfkit.trace import intervals as iv
from perfkit.trace.events import ROW_SLICE, Category, EventStore, RowArray, row_dtype
from perfkit.trace.index import TraceIndex
from perfkit.trace.model import PhaseTimes
from perfkit.trace.names import FOREIGN_PHASE_PATTERNS, OTHER_PHASE, PHASE_RANGES
from perfkit.trace.nesting import rows_of

IntArray = npt.NDArray[np.int64]
#: Per-row phase codes or slots (small numbers: int8).
PhaseArray = npt.NDArray[np.signedinteger[Any]]


PERFKIT_MAPPING = "perfkit"
TORCH_MAPPING = "torch"
NO_MAPPING = "none"


@dataclass(frozen=True, eq=False)
class PhaseRanges:
    """The phase ranges of a trace: rows and phase index (into ``phases``) per row."""

    mapping: str
    phases: tuple[str, ...]
    rows: IntArray
    code: IntArray


def find_phase_ranges(store: EventStore) -> PhaseRanges:
    """perfkit ranges if any, else torch's DataLoader/Optimizer ranges (see module doc)."""
    host = store.mask(Category.CPU_OP, Category.USER_ANNOTATION)
    code_of_name = np.full(len(store.names), -1, dtype=np.int8)
    phase_by_range = {name: phase for phase, name in PHASE_RANGES.items()}
    for i, name in enumerate(store.names):
        phase = phase_by_range.get(name)
        if phase is not None:
            code_of_name[i] = PHASES.index(phase)
    codes = np.where(host, code_of_name[store.name], -1)
    mapping = PERFKIT_MAPPING
    if not (codes >= 0).any():
        mapping = TORCH_MAPPING
        code_of_name[:] = -1
        for i, name in enumerate(store.names):
            for phase, pattern in FOREIGN_PHASE_PATTERNS.items():
                if pattern.match(name):
                    code_of_name[i] = PHASES.index(phase)
        codes = np.where(host, code_of_name[store.name], -1)
    rows = np.flatnonzero(codes >= 0).astype(np.int64)
    if rows.size == 0:
        return PhaseRanges(NO_MAPPING, (), rows, rows)
    code = codes[rows].astype(np.int64)
    del codes
    present = sorted(set(code.tolist()))
    return PhaseRanges(
        mapping=mapping,
        phases=tuple(PHASES[c] for c in present),
        rows=rows,
        code=code,
    )


def attribute_phases(index: TraceIndex, ranges: PhaseRanges) -> PhaseArray:
    """Phase index (into :data:`perfkit.results.PHASES`) of every row, ``-1`` for other.

    One int8 per row (there are a handful of phases); the rows left to the by-process
    lookup are handled a slice at a time.
    """
    store = index.store
    phase: PhaseArray = np.full(len(store), -1, dtype=np.int8)
    phase[ranges.rows] = ranges.code
    phase = index.tree.propagate(phase, in_place=True)
    if ranges.rows.size:
        orphan = store.mask(
            Category.CPU_OP, Category.USER_ANNOTATION, Category.RUNTIME, Category.DRIVER
        )
        orphan &= phase < 0
        orphans = rows_of(orphan, row_dtype(len(store)))
        del orphan
        for a in range(0, orphans.size, ROW_SLICE):
            part = orphans[a : a + ROW_SLICE]
            phase[part] = _by_process_time(store, ranges, part)
        del orphans
    linked = rows_of(index.links.launch >= 0, row_dtype(len(store)))
    phase[linked] = phase[index.links.launch[linked]]
    return phase


def _by_process_time(store: EventStore, ranges: PhaseRanges, rows: RowArray) -> IntArray:
    """Phase of the range on the same process that contains each row's start time.

    Ranges and rows are sorted together by (process, time, ranges first); each row's
    candidate is the latest range that starts at or before it in that order. No times are
    shifted or multiplied, so no span can overflow.
    """
    n_ranges = ranges.rows.size
    both = np.concatenate([ranges.rows, rows])
    pid = store.pid[both]
    ts = store.ts[both]
    is_row = np.zeros(both.size, dtype=np.int8)
    is_row[n_ranges:] = 1
    order = np.lexsort((is_row, ts, pid))
    positions = np.where(order < n_ranges, np.arange(order.size), -1)
    np.maximum.accumulate(positions, out=positions)
    at = np.flatnonzero(order >= n_ranges)
    cand = positions[at]
    ok = cand >= 0
    r = order[np.maximum(cand, 0)]  # index into ranges (when ok)
    q = order[at]  # index into both (>= n_ranges)
    ok &= pid[r] == pid[q]
    r_rows = ranges.rows[np.minimum(r, n_ranges - 1)]
    ok &= ts[q] < store.ts[r_rows] + store.dur[r_rows]
    out = np.full(rows.size, -1, dtype=np.int64)
    out[q - n_ranges] = np.where(ok, ranges.code[np.minimum(r, n_ranges - 1)], -1)
    return out


@dataclass(frozen=True)
class PhaseResult:
    per_step: tuple[Mapping[str, PhaseTimes], ...]
    medians: Mapping[str, PhaseTimes]


def phase_times(
    index: TraceIndex, ranges: PhaseRanges, phase: PhaseArray, has_device: bool
) -> PhaseResult:
    """Per-step and median :class:`PhaseTimes` of every phase seen, plus ``other``."""
    store = index.store
    n_steps = len(index.steps.windows)
    if ranges.mapping == NO_MAPPING:
        return PhaseResult(per_step=tuple({} for _ in range(n_steps)), medians={})
    names = (*ranges.phases, OTHER_PHASE)
    slot = {PHASES.index(p): k for k, p in enumerate(ranges.phases)}
    other = len(ranges.phases)
    lut = np.full(len(PHASES) + 1, other, dtype=np.int8)  # one byte per row in slot_of
    for code, k in slot.items():
        lut[code] = k
    slot_of = lut[np.where(phase >= 0, phase, len(PHASES))]
    width = len(names)

    def per_step_sum(
        mask: npt.NDArray[np.bool_], weights: IntArray | None
    ) -> npt.NDArray[np.float64]:
        rows = np.flatnonzero(mask & (index.step >= 0))
        key = index.step[rows].astype(np.int64) * width + slot_of[rows]
        w = None if weights is None else weights[rows].astype(np.float64)
        out = np.bincount(key, weights=w, minlength=n_steps * width).astype(np.float64)
        return out.reshape(n_steps, width)

    host = _host_ns(index, ranges, names)
    cpu = per_step_sum(index.is_host_op, index.self_ns)
    kernel = index.is_kernel
    device: dict[str, npt.NDArray[np.float64]] = {}
    if has_device:
        device["kernel_ns"] = per_step_sum(kernel, store.dur)
        device["memcpy_ns"] = per_step_sum(store.cat == int(Category.MEMCPY), store.dur)
        device["memset_ns"] = per_step_sum(store.cat == int(Category.MEMSET), store.dur)
        device["kernels"] = per_step_sum(kernel, None)
        device["launches"] = _launches(index, kernel, slot_of, n_steps, width)

    per_step: list[dict[str, PhaseTimes]] = []
    for s in range(n_steps):
        row: dict[str, PhaseTimes] = {}
        for k, name in enumerate(names):
            values = {key: round(float(arr[s, k])) for key, arr in device.items()}
            row[name] = PhaseTimes(
                host_ns=int(host[s, k]),
                cpu_op_ns=round(float(cpu[s, k])),
                kernel_ns=values.get("kernel_ns"),
                memcpy_ns=values.get("memcpy_ns"),
                memset_ns=values.get("memset_ns"),
                kernels=values.get("kernels"),
                launches=values.get("launches"),
            )
        per_step.append(row)

    def med(arr: npt.NDArray[np.float64] | None, k: int) -> float | None:
        return None if arr is None else float(np.median(arr[:, k]))

    medians = {
        name: PhaseTimes(
            host_ns=float(np.median(host[:, k])),
            cpu_op_ns=float(np.median(cpu[:, k])),
            kernel_ns=med(device.get("kernel_ns"), k),
            memcpy_ns=med(device.get("memcpy_ns"), k),
            memset_ns=med(device.get("memset_ns"), k),
            kernels=med(device.get("kernels"), k),
            launches=med(device.get("launches"), k),
        )
        for k, name in enumerate(names)
    }
    return PhaseResult(per_step=tuple(per_step), medians=medians)


def _host_ns(index: TraceIndex, ranges: PhaseRanges, names: tuple[str, ...]) -> IntArray:
    """Union of each phase's ranges within each step's host range; ``other`` = the rest."""
    store = index.store
    windows = index.steps.windows
    out = np.zeros((len(windows), len(names)), dtype=np.int64)
    merged = []
    for k, phase in enumerate(ranges.phases):
        rows = ranges.rows[ranges.code == PHASES.index(phase)]
        merged.append(iv.merge(store.ts[rows], store.ts[rows] + store.dur[rows]))
        for s, w in enumerate(windows):
            out[s, k] = iv.length(iv.clip(merged[k], w.host_start, w.host_end))
    all_phases = iv.merge(store.ts[ranges.rows], store.ts[ranges.rows] + store.dur[ranges.rows])
    for s, w in enumerate(windows):
        covered = iv.length(iv.clip(all_phases, w.host_start, w.host_end))
        out[s, len(names) - 1] = w.host_duration - covered
    return out


def _launches(
    index: TraceIndex, kernel: npt.NDArray[np.bool_], slot_of: PhaseArray, n_steps: int, width: int
) -> npt.NDArray[np.float64]:
    """Distinct launch calls per (step, phase) among the kernels' launches."""
    rows = np.flatnonzero(kernel & (index.step >= 0) & (index.links.launch >= 0))
    launches = index.links.launch[rows]
    _, first = np.unique(launches, return_index=True)
    rows = rows[first]
    key = index.step[rows].astype(np.int64) * width + slot_of[rows]
    return np.bincount(key, minlength=n_steps * width).astype(np.float64).reshape(n_steps, width)


__all__ = [
    "NO_MAPPING",
    "PERFKIT_MAPPING",
    "TORCH_MAPPING",
    "PhaseRanges",
    "PhaseResult",
    "attribute_phases",
    "find_phase_ranges",
    "phase_times",
]
