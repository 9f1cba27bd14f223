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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from perfkit.trace.events import Category, EventStore
from perfkit.trace.linking import Links, link_launches
from perfkit.trace.nesting import HostTree, build_host_tree, self_durations
from perfkit.trace.steps import Steps, find_steps, host_step_rows

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class TraceIndex:
    store: EventStore
    links: Links
    tree: HostTree
    steps: Steps
    end: IntArray
    launch_ts: IntArray
    step: IntArray
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


def build_index(store: EventStore) -> TraceIndex:
    links = link_launches(store)
    tree = build_host_tree(store)
    steps = find_steps(store, links)
    end = store.end
    launch_ts = links.launch_ts(store)

    is_work = store.mask(Category.KERNEL, Category.MEMCPY, Category.MEMSET)
    is_kernel = store.cat == int(Category.KERNEL)
    host = store.mask(Category.CPU_OP, Category.USER_ANNOTATION, Category.RUNTIME, Category.DRIVER)

    step = np.full(len(store), -1, dtype=np.int64)
    if steps.from_profiler_steps:
        step[host] = steps.by_host_time(store.ts[host])
        linked = is_work & (links.launch >= 0)
        step[linked] = steps.by_host_time(launch_ts[linked])
        unlinked = is_work & (links.launch < 0)
        step[unlinked] = steps.by_window(store.ts[unlinked])
    else:
        step[:] = 0

    # Old traces (torch < 1.10) record ProfilerStep# as a cpu_op: it is a step, not an op.
    is_host_op = store.cat == int(Category.CPU_OP)
    is_host_op[host_step_rows(store)] = False
    own_op = np.where(is_host_op, np.arange(len(store)), -1)
    op = tree.propagate(own_op.astype(np.int64))
    # Device work inherits the op of its launch.
    linked_rows = np.flatnonzero(links.launch >= 0)
    op[linked_rows] = op[links.launch[linked_rows]]

    return TraceIndex(
        store=store,
        links=links,
        tree=tree,
        steps=steps,
        end=end,
        launch_ts=launch_ts,
        step=step,
        op=op,
        self_ns=self_durations(store, tree),
        is_work=is_work,
        is_kernel=is_kernel,
        is_host_op=is_host_op,
    )


__all__ = ["TraceIndex", "build_index"]
