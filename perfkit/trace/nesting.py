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

Memory: the temporaries are a handful of arrays of the host rows' length, each freed as
soon as it is used (a trace of 4 M host events peaks at about 10 such arrays).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from perfkit.trace.events import Category, EventStore

IntArray = npt.NDArray[np.int64]

#: Categories that form the host call tree.
TREE_CATEGORIES = (Category.CPU_OP, Category.USER_ANNOTATION, Category.RUNTIME, Category.DRIVER)

#: Largest total of thread spans shifted in one batch (keeps every shifted time in int64).
_SHIFT_LIMIT = 2**62


@dataclass(frozen=True, eq=False)
class HostTree:
    """Parent of every row (``-1`` for device rows and roots), and the host rows by depth.

    ``top_down`` holds the host rows ordered by depth (roots first); ``level_starts[k]``
    is where depth ``k`` begins in it (one more entry than there are levels).
    """

    parent: IntArray
    top_down: IntArray
    level_starts: IntArray

    def propagate(self, own: IntArray, *, in_place: bool = False) -> IntArray:
        """Each row's nearest value >= 0 among itself and its ancestors (``-1``: none).

        ``own`` has one value per store row; ``-1`` means "inherit from the parent".
        ``in_place=True`` fills ``own`` itself (an int64 array the caller owns).
        """
        value: IntArray = own if in_place else own.astype(np.int64, copy=True)
        rows = self.top_down
        for k in range(1, self.level_starts.size - 1):
            level = rows[self.level_starts[k] : self.level_starts[k + 1]]
            parents = self.parent[level]
            inherit = (value[level] < 0) & (parents >= 0)
            if inherit.any():
                value[level[inherit]] = value[parents[inherit]]
        return value


def thread_keys(store: EventStore, rows: IntArray) -> IntArray:
    """One int64 per row identifying its (pid, tid) pair (pid in the high 32 bits)."""
    pid = store.pid[rows].astype(np.int64)
    pid <<= 32
    pid |= store.tid[rows].astype(np.int64) & 0xFFFFFFFF
    return pid


def build_host_tree(store: EventStore) -> HostTree:
    """Compute the per-thread call tree of cpu_op, user_annotation and launch events."""
    n = len(store)
    rows = np.flatnonzero(store.mask(*TREE_CATEGORIES)).astype(np.int64)
    m = rows.size
    if m == 0:
        return HostTree(
            parent=np.full(n, -1, dtype=np.int64),
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
        order = np.lexsort((end, ts))
        first = np.zeros(1, dtype=np.int64)
    else:
        key = thread_keys(store, rows)
        order = np.lexsort((end, ts, key))
        key = key[order]
        first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        del key
    np.negative(end, out=end)
    host_rows = rows[order]
    del rows
    s_o = ts[order]
    del ts
    e_o = end[order]
    del end, order

    counts = np.diff(np.append(first, m))
    lo = s_o[first]
    span = np.maximum.reduceat(e_o, first) - lo + 1
    batches = _batches(span)
    if len(batches) == 1:
        _shift(s_o, e_o, lo, span, counts)
        depth, parent_pos = _depth_and_parent(s_o, e_o)
    else:
        depth = np.empty(m, dtype=np.int64)
        parent_pos = np.empty(m, dtype=np.int64)
        for g0, g1 in batches:
            a, b = int(first[g0]), int(first[g1 - 1] + counts[g1 - 1])
            s, e = s_o[a:b], e_o[a:b]
            _shift(s, e, lo[g0:g1], span[g0:g1], counts[g0:g1])
            d, p = _depth_and_parent(s, e)
            depth[a:b] = d
            parent_pos[a:b] = np.where(p >= 0, p + a, -1)
            del d, p
    del s_o, e_o

    parent = np.full(n, -1, dtype=np.int64)
    has_parent = parent_pos >= 0
    parent[host_rows[has_parent]] = host_rows[parent_pos[has_parent]]
    del parent_pos, has_parent
    by_depth = np.argsort(depth, kind="stable")
    top_down = host_rows[by_depth]
    del host_rows
    depth = depth[by_depth]
    level_starts = np.searchsorted(depth, np.arange(int(depth[-1]) + 2), side="left")
    return HostTree(parent=parent, top_down=top_down, level_starts=level_starts.astype(np.int64))


def _shift(s: IntArray, e: IntArray, lo: IntArray, span: IntArray, counts: IntArray) -> None:
    """Move each thread's events (consecutive runs of ``counts``) onto its own stretch of
    the time axis, in place: thread ``g`` starts at the sum of the earlier spans."""
    offset = np.concatenate(([0], np.cumsum(span[:-1]))) - lo
    if offset.size == 1:
        s += offset[0]
        e += offset[0]
        return
    shift = np.repeat(offset, counts)
    s += shift
    e += shift


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


def _depth_and_parent(s: IntArray, e: IntArray) -> tuple[IntArray, IntArray]:
    """Depth and parent position of events sorted by (start, longest first).

    ``s``/``e`` are non-overlapping across threads (shifted). The depth of event ``i`` is
    ``i`` minus the events closed by its start; its parent is the latest earlier event
    one level up that is still open at its start (``-1``: none).
    """
    k = s.size
    sorted_ends = np.sort(e)
    depth = np.searchsorted(sorted_ends, s, side="right")
    del sorted_ends
    np.subtract(np.arange(k, dtype=np.int64), depth, out=depth)
    # Events grouped by depth, in position order within a depth: the composite key
    # depth * stride + position is sorted, and "the latest position < i at depth d - 1"
    # is one binary search.
    stride = k + 1
    by_depth = np.argsort(depth, kind="stable")
    keys = depth[by_depth]
    keys *= stride
    keys += by_depth
    del by_depth
    target = depth - 1
    target *= stride
    target += np.arange(k, dtype=np.int64)
    idx = np.searchsorted(keys, target, side="left")
    del target
    idx -= 1
    valid = (depth > 0) & (idx >= 0)
    np.maximum(idx, 0, out=idx)
    cand = keys[idx]
    del keys, idx
    valid &= cand // stride == depth - 1
    np.remainder(cand, stride, out=cand)
    valid &= e[cand] > s  # the parent must still be open: else no proper nesting
    cand[~valid] = -1
    return depth, cand


def self_durations(store: EventStore, tree: HostTree) -> IntArray:
    """Duration minus direct cpu_op/user_annotation children's durations, per row."""
    n = len(store)
    child = (tree.parent >= 0) & store.mask(Category.CPU_OP, Category.USER_ANNOTATION)
    rows = np.flatnonzero(child)
    children = np.bincount(
        tree.parent[rows], weights=store.dur[rows].astype(np.float64), minlength=n
    )
    return np.maximum(store.dur - np.rint(children).astype(np.int64), 0)


__all__ = ["TREE_CATEGORIES", "HostTree", "build_host_tree", "self_durations", "thread_keys"]
