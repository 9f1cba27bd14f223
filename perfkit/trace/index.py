"""Per-event lookups computed once and shared by every analysis module.

For each row of the :class:`~perfkit.trace.events.EventStore`:

* ``launch``: the launch call of device work (:mod:`perfkit.trace.linking`);
* ``step``: the step the event belongs to. A host event belongs to the step whose host
  range contains its start; device work to the step that *launched* it (so a kernel
  that runs after its step's host range still counts for that step), or, when no launch
  was found, to the device-anchored window that contains its start;
* ``op``: the innermost cpu_op enclosing the event on its thread (for device work: the
  op that enclosed its launch) — the op that owns it;
* ``self_ns``: self time of host events (:func:`perfkit.trace.nesting.self_durations`).

Only arrays every analysis needs are kept per row (int64 row ids, int32 step numbers);
ends and launch times are computed for the rows that need them (:meth:`TraceIndex.end_of`,
:meth:`TraceIndex.launch_ts_of`), so that the index of a 4 M-event trace stays near
170 MiB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from perfkit.trace import intervals as iv
from perfkit.trace.events import Category, EventStore
from perfkit.trace.linking import Links, link_launches
from perfkit.trace.nesting import HostTree, build_host_tree, self_durations
from perfkit.trace.steps import Steps, find_steps, step_name_mask

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class TraceIndex:
    store: EventStore
    links: Links
    tree: HostTree
    steps: Steps
    step: npt.NDArray[np.int32]
    op: IntArray
    self_ns: IntArray
    is_work: BoolArray
    is_kernel: BoolArray
    is_host_op: BoolArray

    def rows(self, mask: BoolArray, in_steps: bool = True) -> IntArray:
        """Rows of ``mask`` (restricted to events that belong to a step)."""
        if in_steps:
            mask = mask & (self.step >= 0)
        return np.flatnonzero(mask).astype(np.int64)

    def end_of(self, rows: IntArray) -> IntArray:
        """End times (``ts + dur``) of ``rows``."""
        end = self.store.dur[rows]
        end += self.store.ts[rows]
        return end

    def launch_ts_of(self, rows: IntArray) -> IntArray:
        """Start of each row's launch call, or the row's own start when it has none."""
        launch = self.links.launch[rows]
        linked = launch >= 0
        return np.where(linked, self.store.ts[np.where(linked, launch, 0)], self.store.ts[rows])

    def intervals(self, mask: BoolArray) -> iv.Intervals:
        """The union of the ``[ts, ts + dur)`` intervals of the rows in ``mask`` (all rows,
        not only those of a step: callers clip to the step windows)."""
        rows = np.flatnonzero(mask)
        starts = self.store.ts[rows]
        ends = self.end_of(rows)
        del rows
        return iv.merge(starts, ends, owned=True)


def build_index(store: EventStore) -> TraceIndex:
    links = link_launches(store)
    tree = build_host_tree(store)
    steps = find_steps(store, links)

    is_work = store.mask(Category.KERNEL, Category.MEMCPY, Category.MEMSET)
    is_kernel = store.cat == int(Category.KERNEL)
    host = store.mask(Category.CPU_OP, Category.USER_ANNOTATION, Category.RUNTIME, Category.DRIVER)

    step = np.full(len(store), -1, dtype=np.int32)
    if steps.from_profiler_steps:
        step[host] = steps.by_host_time(store.ts[host])
        linked = np.flatnonzero(is_work & (links.launch >= 0))
        step[linked] = steps.by_host_time(store.ts[links.launch[linked]])
        unlinked = is_work & (links.launch < 0)
        step[unlinked] = steps.by_window(store.ts[unlinked])
        del linked, unlinked
    else:
        step[:] = 0
    del host

    # ProfilerStep# is a step, not an op: old traces (torch < 1.10) record it as a cpu_op,
    # and some traces carry it twice (user_annotation and cpu_op). Every copy is left out.
    is_host_op = store.cat == int(Category.CPU_OP)
    is_host_op &= ~step_name_mask(store)
    own_op = np.where(is_host_op, np.arange(len(store), dtype=np.int64), -1)
    op = tree.propagate(own_op, in_place=True)
    # Device work inherits the op of its launch.
    linked_rows = np.flatnonzero(links.launch >= 0)
    op[linked_rows] = op[links.launch[linked_rows]]

    return TraceIndex(
        store=store,
        links=links,
        tree=tree,
        steps=steps,
        step=step,
        op=op,
        self_ns=self_durations(store, tree),
        is_work=is_work,
        is_kernel=is_kernel,
        is_host_op=is_host_op,
    )


__all__ = ["TraceIndex", "build_index"]
