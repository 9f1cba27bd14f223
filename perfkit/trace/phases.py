"""Per-phase host and device time.

**Phase ranges.** perfkit's loop records ``perfkit/<phase>`` ranges
(:data:`perfkit.trace.names.PHASE_RANGES`) on its thread. A trace without any of them (one
perfkit did not record, a *foreign* trace) is mapped from torch's own events instead:

* ``enumerate(DataLoader)#…__next__`` ranges are ``data``; ``Optimizer.step#…`` and
  ``Optimizer.zero_grad#…`` ranges are ``optimizer``;
* autograd's ``autograd::engine::evaluate_function: …`` ops, and every event of an
  **autograd thread**, are ``backward``;
* on the **loop thread** of each step (the thread of its ``ProfilerStep#N``), two spans
  that no single event covers are derived from them: the step's **backward span** and its
  **forward span** (see :func:`_forward_backward_spans`).

An **autograd thread** is a thread that runs ``evaluate_function`` ops and is not a loop
thread (it holds no ``ProfilerStep#N`` and no ``perfkit/<phase>`` range): autograd's
device threads on CUDA. On CPU, autograd runs the nodes on the calling thread, inside
the loop's own ranges.

**Which phase an event belongs to** (both mappings):

1. the innermost phase range around it on its own thread, ``evaluate_function`` ops
   counting as ``backward`` ranges;
2. otherwise, on an autograd thread: ``backward``;
3. otherwise, on a loop thread: the derived span (forward or backward) that contains its
   start, if any (foreign traces only);
4. device work: the phase of its launch call (the TensorBoard plugin ignores
   ``cuda_driver`` launches; we do not). Device work without a launch in the trace
   belongs to no phase.

Anything else is ``other``: work on any other thread of the process (a ``pin_memory``
thread, a user's thread) is never charged to the phase the loop thread is in.

**Host time.** Per step, ``host_ns`` of a phase is the union of its ranges *on the loop
threads* plus its derived spans, within the step's host range; ``other`` is the rest of
the host range. Derived spans never overlap a range, so the phases and ``other`` add up
to the step's host time exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from perfkit.results import PHASES
from perfkit.trace import intervals as iv
from perfkit.trace.events import ROW_SLICE, Category, EventStore, RowArray, row_dtype
from perfkit.trace.index import TraceIndex
from perfkit.trace.model import PhaseTimes
from perfkit.trace.names import (
    AUTOGRAD_NODE_PREFIX,
    FOREIGN_PHASE_PATTERNS,
    OTHER_PHASE,
    PHASE_RANGES,
)
from perfkit.trace.nesting import TREE_CATEGORIES, rows_of, thread_keys

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
#: Per-row phase codes or slots (small numbers: int8).
PhaseArray = npt.NDArray[np.signedinteger[Any]]


PERFKIT_MAPPING = "perfkit"
TORCH_MAPPING = "torch"
NO_MAPPING = "none"

FORWARD = PHASES.index("forward")
BACKWARD = PHASES.index("backward")


def _empty() -> IntArray:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Spans:
    """Derived phase intervals on a loop thread (foreign traces' forward and backward).

    One entry per interval: the thread key (:func:`~perfkit.trace.nesting.thread_keys`),
    ``[start, end)`` in ns, the phase code and the step. Sorted by thread, then start;
    disjoint within a thread.
    """

    thread: IntArray = field(default_factory=_empty)
    start: IntArray = field(default_factory=_empty)
    end: IntArray = field(default_factory=_empty)
    code: IntArray = field(default_factory=_empty)
    step: IntArray = field(default_factory=_empty)

    def __len__(self) -> int:
        return int(self.start.size)


@dataclass(frozen=True, eq=False)
class PhaseRanges:
    """What a trace's phases are made of (see the module doc).

    ``rows``/``code``: the phase ranges (perfkit's, or torch's DataLoader/Optimizer
    ranges) and the phase index (into :data:`perfkit.results.PHASES`) of each;
    ``node_rows``: autograd's ``evaluate_function`` ops (backward ranges that do not
    count as host time); ``loop_threads`` and ``autograd_threads``: thread keys;
    ``spans``: the derived forward/backward spans (empty for perfkit's mapping).
    """

    mapping: str
    phases: tuple[str, ...]
    rows: IntArray
    code: IntArray
    node_rows: IntArray = field(default_factory=_empty)
    loop_threads: IntArray = field(default_factory=_empty)
    autograd_threads: IntArray = field(default_factory=_empty)
    spans: Spans = field(default_factory=Spans)


def _keys(pid: npt.NDArray[Any], tid: npt.NDArray[Any]) -> IntArray:
    key = pid.astype(np.int64)
    key <<= 32
    key |= tid.astype(np.int64) & 0xFFFFFFFF
    return key


def _named_ranges(store: EventStore, host: BoolArray, code_of: Mapping[str, int]) -> tuple[IntArray, IntArray]:
    """Host rows whose name maps to a phase (``code_of``: name → code, by a lookup
    table over the interned names) and their codes."""
    table = np.full(len(store.names) + 1, -1, dtype=np.int8)
    for i, name in enumerate(store.names):
        table[i] = code_of.get(name, -1)
    codes = np.where(host, table[store.name], -1).astype(np.int8)
    rows = np.flatnonzero(codes >= 0).astype(np.int64)
    return rows, codes[rows].astype(np.int64)


def _on_threads(store: EventStore, rows: RowArray, keys: IntArray) -> BoolArray:
    """For each row, whether its thread is one of ``keys`` (a slice of rows at a time)."""
    out = np.zeros(rows.size, dtype=bool)
    if keys.size == 0:
        return out
    for a in range(0, rows.size, ROW_SLICE):
        out[a : a + ROW_SLICE] = np.isin(thread_keys(store, rows[a : a + ROW_SLICE]), keys)
    return out


def find_phase_ranges(index: TraceIndex) -> PhaseRanges:
    """perfkit ranges if any, else torch's ranges and autograd's events (module doc)."""
    store = index.store
    host = store.mask(Category.CPU_OP, Category.USER_ANNOTATION)
    node_ids = store.name_ids(lambda n: n.startswith(AUTOGRAD_NODE_PREFIX))
    node_rows = np.flatnonzero(host & store.has_name(node_ids)).astype(np.int64)
    perfkit = {name: PHASES.index(phase) for phase, name in PHASE_RANGES.items()}
    rows, code = _named_ranges(store, host, perfkit)
    step_threads = thread_keys(store, index.steps.rows)
    if rows.size:
        loop = np.unique(np.concatenate([thread_keys(store, rows), step_threads]))
        autograd = _autograd_threads(store, node_rows, loop)
        present = set(code.tolist())
        if node_rows.size or autograd.size:
            present.add(BACKWARD)
        return PhaseRanges(
            mapping=PERFKIT_MAPPING,
            phases=tuple(PHASES[c] for c in sorted(present)),
            rows=rows,
            code=code,
            node_rows=node_rows,
            loop_threads=loop,
            autograd_threads=autograd,
        )

    foreign: dict[str, int] = {}
    for name in store.names:
        for phase, pattern in FOREIGN_PHASE_PATTERNS.items():
            if pattern.match(name):
                foreign[name] = PHASES.index(phase)
    rows, code = _named_ranges(store, host, foreign)
    del host
    if rows.size == 0 and node_rows.size == 0:
        return PhaseRanges(NO_MAPPING, (), _empty(), _empty())
    per_step = step_threads if step_threads.size else _busiest_loop_thread(store, rows, node_rows)
    loop = np.unique(per_step)
    autograd = _autograd_threads(store, node_rows, loop)
    spans = _forward_backward_spans(index, rows, node_rows, autograd, per_step)
    present = set(code.tolist()) | set(spans.code.tolist())
    if node_rows.size:
        present.add(BACKWARD)
    return PhaseRanges(
        mapping=TORCH_MAPPING,
        phases=tuple(PHASES[c] for c in sorted(present)),
        rows=rows,
        code=code,
        node_rows=node_rows,
        loop_threads=loop,
        autograd_threads=autograd,
        spans=spans,
    )


def _autograd_threads(store: EventStore, node_rows: IntArray, loop: IntArray) -> IntArray:
    """Threads that run evaluate_function ops and are not loop threads."""
    if node_rows.size == 0:
        return _empty()
    return np.setdiff1d(np.unique(thread_keys(store, node_rows)), loop)


def _most_common(keys: IntArray) -> IntArray:
    values, counts = np.unique(keys, return_counts=True)
    return values[[int(np.argmax(counts))]]


def _busiest_loop_thread(store: EventStore, rows: IntArray, node_rows: IntArray) -> IntArray:
    """The loop thread of a trace without ProfilerStep events (one key): the thread with
    the most DataLoader/Optimizer ranges; else the one that starts the most ``fwdbwd``
    flows; else, in the process that runs autograd's nodes, the thread with the most
    cpu_ops among those that run none (the node thread itself when there is no other)."""
    if rows.size:
        return _most_common(thread_keys(store, rows))
    marks = store.forward_marks
    if len(marks):
        return _most_common(_keys(marks.pid, marks.tid))
    node_threads = np.unique(thread_keys(store, node_rows))
    pids, counts = np.unique(store.pid[node_rows], return_counts=True)
    pid = int(pids[int(np.argmax(counts))])
    ops = rows_of((store.cat == int(Category.CPU_OP)) & (store.pid == pid), row_dtype(len(store)))
    keys = thread_keys(store, ops)
    keys = keys[~np.isin(keys, node_threads)]
    return _most_common(keys) if keys.size else node_threads[:1]


def _forward_backward_spans(
    index: TraceIndex,
    range_rows: IntArray,
    node_rows: IntArray,
    autograd: IntArray,
    loop_of_step: IntArray,
) -> Spans:
    """The derived spans of each step on its loop thread ``K`` (host range ``[h0, h1)``).

    * **Backward events** of the step: host events that start in it, in ``K``'s process,
      and are an ``evaluate_function`` op or inside one, or run on an autograd thread.
    * They form **backward passes**: sorted by start, an event joins the current pass
      unless it starts after every earlier event ended *and* a top-level event of ``K``
      that is not backward (a child of the ProfilerStep range; a root without steps)
      started in that gap: then the loop thread did something else in between (the next
      micro-batch's forward) and a new pass begins. A pass spans from its first start to
      its last end.
    * The **backward span** is the union of the passes, clipped to ``[h0, h1)``, minus the
      phase ranges on ``K``.
    * The **forward span** is the union of each pass's forward, minus the phase ranges on
      ``K`` and the backward span. A pass's forward ends where the pass starts and begins
      at the top-level event of ``K`` that contains the first *forward mark* (the start of
      a ``fwdbwd`` flow: an op that recorded an autograd node) on ``K`` since the previous
      pass ended (since ``h0`` for the first pass). The first pass without such a mark
      takes its forward from ``h0``; a later pass without one has none (without flows, a
      second micro-batch's forward cannot be told from other work).
    * A step without backward events gets no span.
    """
    store = index.store
    windows = index.steps.windows
    n = len(store)
    rdt = row_dtype(n)

    inside = np.full(n, -1, dtype=np.int8)
    inside[node_rows] = 1
    inside = index.tree.propagate(inside, in_place=True)
    in_node = inside >= 0  # evaluate_function ops and what they contain, on their thread
    del inside
    host = store.mask(*TREE_CATEGORIES)
    host &= index.step >= 0
    host_rows = rows_of(host, rdt)
    del host
    on_autograd = _on_threads(store, host_rows, autograd)
    bw_rows = host_rows[in_node[host_rows] | on_autograd]
    del on_autograd
    order = np.lexsort((store.ts[bw_rows], index.step[bw_rows]))
    bw_rows = bw_rows[order]
    del order
    bw_step = index.step[bw_rows].astype(np.int64)
    bw_ts, bw_pid = store.ts[bw_rows], store.pid[bw_rows]
    bw_end = store.dur[bw_rows] + bw_ts
    del bw_rows

    # Top-level events of the loop threads (children of a step range, or roots).
    is_step = np.zeros(n, dtype=bool)
    is_step[index.steps.rows] = True
    parent = index.tree.parent[host_rows]
    top = np.where(parent >= 0, is_step[np.maximum(parent, 0)], True)
    del parent
    top &= ~is_step[host_rows]
    top_rows = host_rows[top]
    del top, host_rows, is_step
    top_rows = top_rows[_on_threads(store, top_rows, np.unique(loop_of_step))]
    top_rows = top_rows[~in_node[top_rows]]
    del in_node
    top_key = thread_keys(store, top_rows)
    top_ts, top_end = store.ts[top_rows], store.ts[top_rows] + store.dur[top_rows]
    order = np.lexsort((top_ts, top_key))
    top_key, top_ts, top_end = top_key[order], top_ts[order], top_end[order]

    range_keys = thread_keys(store, range_rows)
    ranges_on: dict[int, iv.Intervals] = {}
    for k in np.unique(loop_of_step).tolist():
        rows = range_rows[range_keys == k]
        ranges_on[k] = iv.merge(store.ts[rows], store.ts[rows] + store.dur[rows])
    marks = store.forward_marks
    mark_key = _keys(marks.pid, marks.tid)
    m_order = np.lexsort((marks.ts, mark_key))
    mark_key, mark_ts = mark_key[m_order], marks.ts[m_order]

    out: dict[str, list[int]] = {"thread": [], "start": [], "end": [], "code": [], "step": []}
    step_bounds = np.searchsorted(bw_step, np.arange(len(windows) + 1))
    for s, w in enumerate(windows):
        a, b = int(step_bounds[s]), int(step_bounds[s + 1])
        key = int(loop_of_step[s] if loop_of_step.size > 1 else loop_of_step[0])
        pid = key >> 32
        mine = bw_pid[a:b] == pid
        if not mine.any():
            continue
        ts, end = bw_ts[a:b][mine], bw_end[a:b][mine]
        h0, h1 = w.host_start, w.host_end
        t0, t1 = np.searchsorted(top_key, [key, key + 1])
        k_ts, k_end = top_ts[t0:t1], top_end[t0:t1]
        running = np.maximum.accumulate(end)
        gap_lo, gap_hi = running[:-1], ts[1:]
        started = np.searchsorted(k_ts, gap_hi, side="left") - np.searchsorted(k_ts, gap_lo, side="left")
        split = np.flatnonzero((gap_hi > gap_lo) & (started > 0))
        first = np.concatenate(([0], split + 1))
        last = np.concatenate((split, [ts.size - 1]))
        passes = iv.merge(np.maximum(ts[first], h0), np.minimum(running[last], h1))
        if passes[0].size == 0:
            continue
        ranges = iv.clip(ranges_on[key], h0, h1)
        backward = iv.difference(passes, ranges)
        m0, m1 = np.searchsorted(mark_key, [key, key + 1])
        k_marks = mark_ts[m0:m1]
        segments: list[tuple[int, int]] = []
        for i in range(passes[0].size):
            lo = h0 if i == 0 else int(passes[1][i - 1])
            hi = int(passes[0][i])
            j = int(np.searchsorted(k_marks, lo))
            if j < k_marks.size and k_marks[j] < hi:  # this pass's forward: its first mark
                m = int(k_marks[j])
                c = int(np.searchsorted(k_ts, m, side="right")) - 1
                start = max(int(k_ts[c]) if c >= 0 and m < k_end[c] else m, lo)
            elif i == 0:
                start = h0
            else:
                continue
            if hi > start:
                segments.append((start, hi))
        forward = iv.empty()
        if segments:
            starts, ends = (np.asarray(x, dtype=np.int64) for x in zip(*segments, strict=True))
            forward = iv.difference(iv.merge(starts, ends), iv.union(ranges, backward))
        for code, spans in ((BACKWARD, backward), (FORWARD, forward)):
            k = spans[0].size
            out["thread"] += [key] * k
            out["start"] += spans[0].tolist()
            out["end"] += spans[1].tolist()
            out["code"] += [code] * k
            out["step"] += [s] * k
    arrays = {name: np.asarray(values, dtype=np.int64) for name, values in out.items()}
    order = np.lexsort((arrays["start"], arrays["thread"]))
    return Spans(**{name: values[order] for name, values in arrays.items()})


def attribute_phases(index: TraceIndex, ranges: PhaseRanges) -> PhaseArray:
    """Phase index (into :data:`perfkit.results.PHASES`) of every row, ``-1`` for other.

    One int8 per row (there are a handful of phases); the rows left to the by-thread
    lookups are handled a slice at a time.
    """
    store = index.store
    phase: PhaseArray = np.full(len(store), -1, dtype=np.int8)
    if ranges.mapping == NO_MAPPING:
        return phase
    phase[ranges.node_rows] = BACKWARD
    phase[ranges.rows] = ranges.code
    phase = index.tree.propagate(phase, in_place=True)
    by_thread = ranges.autograd_threads.size or len(ranges.spans)
    if by_thread:
        left = store.mask(*TREE_CATEGORIES)
        left &= phase < 0
        rows = rows_of(left, row_dtype(len(store)))
        del left
        for a in range(0, rows.size, ROW_SLICE):
            part = rows[a : a + ROW_SLICE]
            keys = thread_keys(store, part)
            got = np.where(np.isin(keys, ranges.autograd_threads), BACKWARD, -1)
            if len(ranges.spans):
                free = got < 0
                got[free] = _span_phase(ranges.spans, keys[free], store.ts[part[free]])
            phase[part] = got
        del rows
    linked = rows_of(index.links.launch >= 0, row_dtype(len(store)))
    phase[linked] = phase[index.links.launch[linked]]
    return phase


def _span_phase(spans: Spans, keys: IntArray, ts: IntArray) -> IntArray:
    """Code of the span on each row's thread that contains its start (``-1``: none)."""
    out = np.full(ts.size, -1, dtype=np.int64)
    for key in np.unique(spans.thread).tolist():
        a, b = np.searchsorted(spans.thread, [key, key + 1])
        mine = np.flatnonzero(keys == key)
        if mine.size == 0:
            continue
        starts, ends = spans.start[a:b], spans.end[a:b]
        j = np.searchsorted(starts, ts[mine], side="right") - 1
        ok = (j >= 0) & (ts[mine] < ends[np.maximum(j, 0)])
        out[mine[ok]] = spans.code[a:b][j[ok]]
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
    device: dict[str, npt.NDArray[np.float64]] = {}
    if has_device:
        # Device work launched in the phase: work without a launch in the trace is in none.
        launched = index.links.launch >= 0
        kernel = index.is_kernel & launched
        device["kernel_ns"] = per_step_sum(kernel, store.dur)
        device["memcpy_ns"] = per_step_sum(launched & (store.cat == int(Category.MEMCPY)), store.dur)
        device["memset_ns"] = per_step_sum(launched & (store.cat == int(Category.MEMSET)), store.dur)
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
    """Per step and phase: the union of the phase's ranges on the loop threads plus its
    derived spans, within the step's host range; ``other`` = the rest of the host range."""
    store = index.store
    windows = index.steps.windows
    out = np.zeros((len(windows), len(names)), dtype=np.int64)
    on_loop = _on_threads(store, ranges.rows, ranges.loop_threads)
    rows, code = ranges.rows[on_loop], ranges.code[on_loop]
    spans = ranges.spans
    covered = np.zeros(len(windows), dtype=np.int64)
    for k, phase in enumerate(ranges.phases):
        c = PHASES.index(phase)
        mine = rows[code == c]
        merged = iv.merge(store.ts[mine], store.ts[mine] + store.dur[mine])
        for s, w in enumerate(windows):
            out[s, k] = iv.length(iv.clip(merged, w.host_start, w.host_end))
        if len(spans):
            sel = spans.code == c
            np.add.at(out[:, k], spans.step[sel], spans.end[sel] - spans.start[sel])
    all_rows = iv.merge(store.ts[rows], store.ts[rows] + store.dur[rows])
    for s, w in enumerate(windows):
        covered[s] = iv.length(iv.clip(all_rows, w.host_start, w.host_end))
    if len(spans):
        np.add.at(covered, spans.step, spans.end - spans.start)
    out[:, len(names) - 1] = np.asarray([w.host_duration for w in windows], dtype=np.int64) - covered
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
    "Spans",
    "attribute_phases",
    "find_phase_ranges",
    "phase_times",
]
