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
stretch of the time axis. This assumes ranges on one thread nest properly, which
record_function and op ranges do; an event that only overlaps its would-be parent gets
no parent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from perfkit.trace.events import Category, EventStore

IntArray = npt.NDArray[np.int64]

#: Categories that form the host call tree.
TREE_CATEGORIES = (Category.CPU_OP, Category.USER_ANNOTATION, Category.RUNTIME, Category.DRIVER)


@dataclass(frozen=True, eq=False)
class HostTree:
    """Parent and depth of every host row (``-1`` for device rows and roots)."""

    parent: IntArray
    depth: IntArray
    #: Host rows ordered by depth (roots first), for top-down propagation.
    top_down: IntArray

    def propagate(self, own: IntArray) -> IntArray:
        """Each row's nearest value >= 0 among itself and its ancestors (``-1``: none).

        ``own`` has one value per store row; ``-1`` means "inherit from the parent".
        """
        value: IntArray = own.astype(np.int64, copy=True)
        rows = self.top_down
        if rows.size == 0:
            return value
        depths = self.depth[rows]
        bounds = np.flatnonzero(np.diff(depths)) + 1
        for level in np.split(rows, bounds):
            parents = self.parent[level]
            has_parent = parents >= 0
            inherit = (value[level] < 0) & has_parent
            if inherit.any():
                value[level[inherit]] = value[parents[inherit]]
        return value


def thread_keys(store: EventStore, rows: IntArray) -> IntArray:
    """A dense id per (pid, tid) pair of the given rows."""
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    pid, tid = store.pid[rows], store.tid[rows]
    order = np.lexsort((tid, pid))
    p, t = pid[order], tid[order]
    new_pair = np.empty(rows.size, dtype=bool)
    new_pair[0] = True
    new_pair[1:] = (p[1:] != p[:-1]) | (t[1:] != t[:-1])
    keys = np.empty(rows.size, dtype=np.int64)
    keys[order] = np.cumsum(new_pair) - 1
    return keys


def build_host_tree(store: EventStore) -> HostTree:
    """Compute the per-thread call tree of cpu_op, user_annotation and launch events."""
    n = len(store)
    parent = np.full(n, -1, dtype=np.int64)
    depth = np.full(n, -1, dtype=np.int64)
    rows = np.flatnonzero(store.mask(*TREE_CATEGORIES)).astype(np.int64)
    m = rows.size
    if m == 0:
        return HostTree(parent=parent, depth=depth, top_down=rows)
    ts = store.ts[rows]
    end = np.maximum(ts + store.dur[rows], ts + 1)  # zero-length events still occupy 1 ns
    t0 = int(ts.min())
    span = int(end.max()) - t0 + 1
    shift = thread_keys(store, rows) * span - t0
    start_k, end_k = ts + shift, end + shift

    order = np.lexsort((-end_k, start_k))
    s_o, e_o = start_k[order], end_k[order]
    closed = np.searchsorted(np.sort(e_o), s_o, side="right")
    d = np.arange(m, dtype=np.int64) - closed

    stride = m + 1
    keys = np.sort(d * stride + np.arange(m, dtype=np.int64))
    targets = (d - 1) * stride + np.arange(m, dtype=np.int64)
    idx = np.searchsorted(keys, targets, side="left") - 1
    valid = (d > 0) & (idx >= 0)
    cand_key = keys[np.maximum(idx, 0)]
    valid &= cand_key // stride == d - 1
    parent_pos = np.where(valid, cand_key % stride, 0)
    valid &= e_o[parent_pos] > s_o  # the parent must still be open: else no proper nesting
    p_sorted = np.where(valid, order[parent_pos], -1)

    host_rows = rows[order]
    parent[host_rows] = np.where(p_sorted >= 0, rows[np.maximum(p_sorted, 0)], -1)
    depth[host_rows] = d
    by_depth = host_rows[np.argsort(d, kind="stable")]
    return HostTree(parent=parent, depth=depth, top_down=by_depth)


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
