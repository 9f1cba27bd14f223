"""Per-event lookups computed once and shared by every analysis module.

For each row of the :class:`~perfkit.trace.events.EventStore`:

* ``launch``: the launch call of device work (:mod:`perfkit.trace.linking`);
* ``step``: the step the event belongs to. A host event belongs to the step whose host
  range contains its start; device work to the step that *launched* it (so a kernel
  that runs after its step's host range still counts for that step), or, when no launch
  was found, to the device-anchored window that contains its start (for time-based
  figures: a step's kernel count only takes the work it launched);
* ``op``: the innermost cpu_op enclosing the event on its thread (for device work: the
  op that enclosed its launch) — the op that owns it;
* ``self_ns``: self time of host events (:func:`perfkit.trace.nesting.self_durations`).

Only arrays every analysis needs are kept per row, each as narrow as its values allow:
row ids (``links.launch``, ``tree.parent``, ``op``) are int32 (int64 only for a store of
2**31 rows or more, see :func:`~perfkit.trace.events.row_dtype`), step numbers int16
(int32 past 32767 steps), ``self_ns`` int32 when every self time fits (below 2.1 s),
else int64. Consumers only index these arrays, compare them or cast them to float (no
arithmetic in the narrow dtype). Ends and launch times are computed for the rows that
need them (:meth:`TraceIndex.end_of`, :meth:`TraceIndex.launch_ts_of`), and the lookups
that fill ``step`` run a slice of rows at a time, so that building the index never holds
a full-length int64 temporary beside it: a 10 M-event trace's index is about 300 MiB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from perfkit.trace import intervals as iv
from perfkit.trace.events import ROW_SLICE, Category, EventStore, RowArray, row_dtype
from perfkit.trace.linking import Links, link_launches
from perfkit.trace.nesting import HostTree, build_host_tree, rows_of, self_durations
from perfkit.trace.steps import Steps, find_steps, step_name_mask

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]



@dataclass(frozen=True, eq=False)
class TraceIndex:
    store: EventStore
    links: Links
    tree: HostTree
    steps: Steps
    step: npt.NDArray[np.signedinteger[Any]]
    op: RowArray
    self_ns: npt.NDArray[np.signedinteger[Any]]
    is_work: BoolArray
    is_kernel: BoolArray
    is_host_op: BoolArray

    def rows(self, mask: BoolArray, in_steps: bool = True) -> RowArray:
        """Rows of ``mask`` (restricted to events that belong to a step), ascending, as
        :func:`~perfkit.trace.events.row_dtype` (int32 for any store under 2**31 rows)."""
        if in_steps:
            mask = mask & (self.step >= 0)
        return rows_of(mask, row_dtype(len(self.store)))

    def end_of(self, rows: RowArray) -> IntArray:
        """End times (``ts + dur``) of ``rows``."""
        end = self.store.dur[rows]
        end += self.store.ts[rows]
        return end

    def launch_ts_of(self, rows: RowArray) -> IntArray:
        """Start of each row's launch call, or the row's own start when it has none."""
        launch = self.links.launch[rows]
        linked = launch >= 0
        return np.where(linked, self.store.ts[np.where(linked, launch, 0)], self.store.ts[rows])

    def intervals(self, mask: BoolArray) -> iv.Intervals:
        """The union of the ``[ts, ts + dur)`` intervals of the rows in ``mask`` (all rows,
        not only those of a step: callers clip to the step windows).

        The rows are put in start order before the ends are gathered (a stable sort, as
        :func:`~perfkit.trace.intervals.merge` would do), so that at most three arrays of
        the rows' length are alive at once.
        """
        starts = self.store.ts[mask]
        if starts.size > 1 and not bool((starts[1:] >= starts[:-1]).all()):
            order = np.argsort(starts, kind="stable")
            starts = starts[order]
            rows = rows_of(mask, row_dtype(len(self.store)))[order]
            del order
            ends = self.store.dur[rows]
            del rows
        else:
            ends = self.store.dur[mask]
        ends += starts
        parts = [starts, ends]
        del starts, ends
        return iv.merge_owned(parts)


def build_index(store: EventStore) -> TraceIndex:
    links = link_launches(store)
    tree = build_host_tree(store)
    steps = find_steps(store, links)
    n = len(store)
    rdt = row_dtype(n)

    is_work = store.mask(Category.KERNEL, Category.MEMCPY, Category.MEMSET)
    is_kernel = store.cat == int(Category.KERNEL)

    step = np.full(n, -1, dtype=np.int16 if len(steps.windows) < 2**15 else np.int32)
    if steps.from_profiler_steps:
        host = store.mask(
            Category.CPU_OP, Category.USER_ANNOTATION, Category.RUNTIME, Category.DRIVER
        )
        _fill(step, rows_of(host, rdt), lambda r: steps.by_host_time(store.ts[r]))
        del host
        linked = is_work & (links.launch >= 0)
        _fill(step, rows_of(linked, rdt), lambda r: steps.by_host_time(store.ts[links.launch[r]]))
        np.logical_xor(linked, is_work, out=linked)  # the work without a launch
        _fill(step, rows_of(linked, rdt), lambda r: steps.by_window(store.ts[r]))
        del linked
    else:
        step[:] = 0

    # ProfilerStep# is a step, not an op: old traces (torch < 1.10) record it as a cpu_op,
    # and some traces carry it twice (user_annotation and cpu_op). Every copy is left out.
    is_host_op = store.cat == int(Category.CPU_OP)
    is_host_op &= ~step_name_mask(store)
    op = np.full(n, -1, dtype=rdt)
    own = rows_of(is_host_op, rdt)
    op[own] = own
    del own
    op = tree.propagate(op, in_place=True)
    # Device work inherits the op of its launch.
    linked_rows = rows_of(links.launch >= 0, rdt)
    op[linked_rows] = op[links.launch[linked_rows]]
    del linked_rows

    return TraceIndex(
        store=store,
        links=links,
        tree=tree,
        steps=steps,
        step=step,
        op=op,
        self_ns=_narrow(self_durations(store, tree)),
        is_work=is_work,
        is_kernel=is_kernel,
        is_host_op=is_host_op,
    )


def _narrow(values: IntArray) -> npt.NDArray[np.signedinteger[Any]]:
    """``values`` as int32 when they all fit (half the memory), else unchanged."""
    info = np.iinfo(np.int32)
    if values.size and (int(values.min()) < info.min or int(values.max()) > info.max):
        return values
    return values.astype(np.int32)


def _fill(
    step: npt.NDArray[np.signedinteger[Any]],
    rows: RowArray,
    lookup: Callable[[RowArray], IntArray],
) -> None:
    """``step[rows] = lookup(rows)``, a slice of rows at a time (bounded temporaries)."""
    for a in range(0, rows.size, ROW_SLICE):
        part = rows[a : a + ROW_SLICE]
        step[part] = lookup(part)


__all__ = ["TraceIndex", "build_index"]
