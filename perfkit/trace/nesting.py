"""The call tree of host events, per thread, without a Python loop over events.

Host events on one thread nest: ``ProfilerStep#3`` ⊃ ``perfkit/forward`` ⊃
``aten::linear`` ⊃ ``aten::addmm`` ⊃ ``cudaLaunchKernel``. The tree answers three
questions of the analysis:

* an op's **self CPU time** = its duration minus its direct children's (cpu_op and
  user_annotation children; a runtime call is part of the op that makes it, as in
  ``torch.profiler``'s ``key_averages``);
* the **innermost enclosing cpu_op** of a launch, which owns the launched kernels'
  device time (self device time);
* the **innermost enclosing phase range** of any event on the same thread.

Method: events are sorted by (thread, start, longest first). An event's depth is the
number of earlier events on its thread still open at its start; its parent is the latest
earlier event one level up. Threads are kept apart by shifting each thread onto its own
stretch of the time axis: thread ``g`` starts where thread ``g - 1``'s span ends, so the
shifts add up to the sum of the threads' spans, not threads × the trace's span. Every
span fits in int64 (the store keeps times within ±2**61 ns); should the sum of the spans
not fit, the threads are processed in several batches. This assumes ranges on one thread
nest properly, which record_function and op ranges do; an event that only overlaps its
would-be parent gets no parent.

Memory: row numbers and depths are int32 (:func:`~perfkit.trace.events.row_dtype`); the
int64 temporaries (times, sort orders, composite keys) are a handful of arrays of the host
rows' length, each freed as soon as it is used, and the ones needed only per position are
made a slice of :data:`ROW_SLICE` positions at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from perfkit.trace.events import ROW_SLICE, Category, EventStore, RowArray, row_dtype

IntArray = npt.NDArray[np.int64]

#: Categories that form the host call tree.
TREE_CATEGORIES = (Category.CPU_OP, Category.USER_ANNOTATION, Category.RUNTIME, Category.DRIVER)

#: Largest total of thread spans shifted in one batch (keeps every shifted time in int64).
_SHIFT_LIMIT = 2**62


@dataclass(frozen=True, eq=False)
class HostTree:
    """Parent of every row (``-1`` for device rows and roots), and the host rows by depth.

    ``top_down`` holds the host rows ordered by depth (roots first); ``level_starts[k]``
    is where depth ``k`` begins in it (one more entry than there are levels). Row numbers
    are int32 unless the store has 2**31 rows or more (:func:`~perfkit.trace.events.row_dtype`).
    """

    parent: RowArray
    top_down: RowArray
    level_starts: IntArray

    def propagate(self, own: RowArray, *, in_place: bool = False) -> RowArray:
        """Each row's nearest value >= 0 among itself and its ancestors (``-1``: none).

        ``own`` has one value per store row; ``-1`` means "inherit from the parent".
        ``in_place=True`` fills ``own`` itself (a signed integer array the caller owns);
        otherwise the result is a copy of ``own``'s dtype.
        """
        value: RowArray = own if in_place else own.astype(_signed(own.dtype), copy=True)
        rows = self.top_down
        for k in range(1, self.level_starts.size - 1):
            level = rows[self.level_starts[k] : self.level_starts[k + 1]]
            parents = self.parent[level]
            inherit = (value[level] < 0) & (parents >= 0)
            if inherit.any():
                value[level[inherit]] = value[parents[inherit]]
        return value


def _signed(dtype: np.dtype[Any]) -> type[np.signedinteger[Any]]:
    return dtype.type if dtype.kind == "i" else np.int64


def thread_keys(store: EventStore, rows: RowArray) -> IntArray:
    """One int64 per row identifying its (pid, tid) pair (pid in the high 32 bits)."""
    pid = store.pid[rows].astype(np.int64)
    pid <<= 32
    pid |= store.tid[rows].astype(np.int64) & 0xFFFFFFFF
    return pid




def rows_of(mask: npt.NDArray[np.bool_], dtype: type[np.signedinteger[Any]]) -> RowArray:
    """``np.flatnonzero(mask)`` as ``dtype``, without the whole int64 temporary."""
    out = np.empty(int(np.count_nonzero(mask)), dtype=dtype)
    at = 0
    for a in range(0, mask.size, ROW_SLICE):
        found = np.flatnonzero(mask[a : a + ROW_SLICE])
        found += a
        out[at : at + found.size] = found
        at += found.size
    return out


def build_host_tree(store: EventStore) -> HostTree:
    """Compute the per-thread call tree of cpu_op, user_annotation and launch events."""
    n = len(store)
    rdt = row_dtype(n)
    host = store.mask(*TREE_CATEGORIES)
    rows = rows_of(host, rdt)
    m = rows.size
    if m == 0:
        return HostTree(
            parent=np.full(n, -1, dtype=rdt),
            top_down=rows,
            level_starts=np.zeros(1, dtype=np.int64),
        )
    ts = store.ts[rows]
    end = store.dur[rows]
    end += ts
    end[end == ts] += 1  # zero-length events still occupy 1 ns
    np.negative(end, out=end)  # sort key: longest first among equal starts
    pid, tid = store.pid[rows], store.tid[rows]
    one_thread = bool((pid == pid[0]).all() and (tid == tid[0]).all())
    del pid, tid
    if one_thread:
        del rows  # found again from the mask below: not kept through the sort
        order = np.lexsort((end, ts))
        first = np.zeros(1, dtype=np.int64)
    else:
        key = thread_keys(store, rows)
        del rows
        order = np.lexsort((end, ts, key))
        key = key[order]
        first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        del key
    order = order.astype(rdt)  # the permutation is applied three times: narrow it first
    np.negative(end, out=end)
    s_o = ts[order]
    del ts
    e_o = end[order]
    del end
    host_rows = rows_of(host, rdt)[order]
    del host, order

    counts = np.diff(np.append(first, m))
    lo = s_o[first]
    span = np.maximum.reduceat(e_o, first) - lo + 1
    batches = _batches(span)
    depth = np.empty(m, dtype=rdt)
    for g0, g1 in batches:
        a, b = int(first[g0]), int(first[g1 - 1] + counts[g1 - 1])
        s, e = s_o[a:b], e_o[a:b]
        _shift(s, e, lo[g0:g1], span[g0:g1], counts[g0:g1])
        _depths(s, e, depth[a:b])  # sorts e in place: e_o is not used after this
        del s, e
    del s_o, e_o

    parent_pos = np.empty(m, dtype=rdt)
    for g0, g1 in batches:
        a, b = int(first[g0]), int(first[g1 - 1] + counts[g1 - 1])
        parent_pos[a:b] = _parent_positions(depth[a:b], rdt)
        if a:
            p = parent_pos[a:b]
            p[p >= 0] += a
    _drop_unnested(store, host_rows, parent_pos)

    parent = np.full(n, -1, dtype=rdt)
    has_parent = parent_pos >= 0
    parent[host_rows[has_parent]] = host_rows[parent_pos[has_parent]]
    del parent_pos, has_parent
    level_sizes = np.bincount(depth)
    level_starts = np.concatenate(([0], np.cumsum(level_sizes))).astype(np.int64)
    by_depth = np.argsort(depth, kind="stable")
    del depth
    top_down = host_rows[by_depth]
    return HostTree(parent=parent, top_down=top_down, level_starts=level_starts)


def _shift(s: IntArray, e: IntArray, lo: IntArray, span: IntArray, counts: IntArray) -> None:
    """Move each thread's events (consecutive runs of ``counts``) onto its own stretch of
    the time axis, in place: thread ``g`` starts at the sum of the earlier spans."""
    offset = np.concatenate(([0], np.cumsum(span[:-1]))) - lo
    if offset.size == 1:
        s += offset[0]
        e += offset[0]
        return
    bounds = np.concatenate(([0], np.cumsum(counts)))
    for a in range(0, s.size, ROW_SLICE):  # np.repeat(offset, counts), a slice at a time
        b = min(a + ROW_SLICE, s.size)
        g0 = int(np.searchsorted(bounds, a, side="right")) - 1
        g1 = int(np.searchsorted(bounds, b, side="left"))
        lengths = np.minimum(bounds[g0 + 1 : g1 + 1], b) - np.maximum(bounds[g0:g1], a)
        shift = np.repeat(offset[g0:g1], lengths)
        s[a:b] += shift
        e[a:b] += shift


def _batches(span: IntArray) -> list[tuple[int, int]]:
    """Consecutive runs of threads whose spans add up to at most :data:`_SHIFT_LIMIT`."""
    out: list[tuple[int, int]] = []
    start, total = 0, 0
    for g, length in enumerate(span.tolist()):
        if g > start and total + length > _SHIFT_LIMIT:
            out.append((start, g))
            start, total = g, 0
        total += length
    out.append((start, span.size))
    return out


def _depths(s: IntArray, e: IntArray, out: RowArray) -> None:
    """Depth (into ``out``) of events sorted by (start, longest first), ``s``/``e``
    shifted so that threads do not overlap: ``i`` minus the events closed by its start.

    Sorts ``e`` in place (the caller no longer needs it): no copy of the ends is made.
    """
    k = s.size
    e.sort()
    for a in range(0, k, ROW_SLICE):
        b = min(a + ROW_SLICE, k)
        closed = np.searchsorted(e, s[a:b], side="right")
        out[a:b] = np.arange(a, b, dtype=np.int64) - closed


def _parent_positions(depth: RowArray, rdt: type[np.signedinteger[Any]]) -> RowArray:
    """Position of each event's parent candidate (``-1``: none): the latest earlier event
    one level up (it must still be open: :func:`_drop_unnested` checks that).

    Events grouped by depth, in position order within a depth: the composite key
    ``depth * stride + position`` is sorted, and "the latest position < i at depth
    d - 1" is one binary search. The searches run a slice of positions at a time.
    """
    k = depth.size
    stride = k + 1
    keys = np.argsort(depth, kind="stable").astype(np.int64, copy=False)
    for a in range(0, k, ROW_SLICE):
        part = keys[a : a + ROW_SLICE]
        part += depth[part].astype(np.int64) * stride
    parent = np.empty(k, dtype=rdt)
    for a in range(0, k, ROW_SLICE):
        b = min(a + ROW_SLICE, k)
        d = depth[a:b].astype(np.int64)
        d -= 1
        target = d * stride
        target += np.arange(a, b, dtype=np.int64)
        idx = np.searchsorted(keys, target, side="left")
        del target
        idx -= 1
        valid = (d >= 0) & (idx >= 0)
        np.maximum(idx, 0, out=idx)
        cand = keys[idx]
        del idx
        valid &= cand // stride == d
        np.remainder(cand, stride, out=cand)
        cand[~valid] = -1
        parent[a:b] = cand
    return parent


def _drop_unnested(store: EventStore, host_rows: RowArray, parent_pos: RowArray) -> None:
    """Clear (in place) the parent candidates that are closed at their child's start or
    on another thread: an event that only overlaps its would-be parent gets no parent.

    The same test as ``end > start`` on the shifted time axis (equal threads share one
    shift), read from the store a slice at a time.
    """
    ts, dur, pid, tid = store.ts, store.dur, store.pid, store.tid
    for a in range(0, parent_pos.size, ROW_SLICE):
        pos = parent_pos[a : a + ROW_SLICE]
        has = np.flatnonzero(pos >= 0)
        child = host_rows[a : a + ROW_SLICE][has]
        par = host_rows[pos[has]]
        end = ts[par] + dur[par]
        end[end == ts[par]] += 1  # zero-length events still occupy 1 ns
        ok = end > ts[child]
        ok &= pid[par] == pid[child]
        ok &= tid[par] == tid[child]
        pos[has[~ok]] = -1


def self_durations(store: EventStore, tree: HostTree) -> IntArray:
    """Duration minus direct cpu_op/user_annotation children's durations, per row."""
    n = len(store)
    child = tree.parent >= 0
    child &= store.mask(Category.CPU_OP, Category.USER_ANNOTATION)
    rows = np.flatnonzero(child)
    del child
    children = np.bincount(
        tree.parent[rows], weights=store.dur[rows].astype(np.float64), minlength=n
    )
    del rows
    out: IntArray = store.dur.copy()
    has_children = np.flatnonzero(children)
    out[has_children] -= np.rint(children[has_children]).astype(np.int64)
    del children, has_children
    np.maximum(out, 0, out=out)
    return out


__all__ = [
    "TREE_CATEGORIES",
    "HostTree",
    "build_host_tree",
    "rows_of",
    "self_durations",
    "thread_keys",
]
