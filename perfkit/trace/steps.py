"""Training steps: ``ProfilerStep#N`` host ranges, re-anchored to the device.

``torch.profiler`` records ``ProfilerStep#N`` on the host from one ``prof.step()`` to the
next. On a GPU the host runs ahead, so a step's kernels may finish after its host range
ends. Like the TensorBoard plugin, each step is re-anchored:

* ``start = max(previous step's end, host start)``;
* ``end = max(host end, latest end of the device work launched from inside the host
  range)``, where "launched from inside" means the launch call (runtime or driver
  event, on any thread) starts within the host range;
* ``end`` is never before ``start`` (a step whose host part ran entirely while the
  previous step's kernels were still executing gets length 0, as in the plugin).

Without any ``ProfilerStep`` event the whole trace (first to last event) is one span,
and the analysis says so in a note.

Odd step ranges, each counted in :attr:`Steps.dropped_duplicates`/``dropped_nested`` so
the analysis can say so:

* the same ``ProfilerStep#N`` twice over overlapping times (recorded as user_annotation
  *and* cpu_op, or on two threads) is one step: the first is kept. The same name again
  at a later, disjoint time (two profiling sessions in one file) is a step of its own;
* a step range lying entirely inside another one (a nested ``prof.step()``) is dropped,
  so the outer step keeps everything it contains. Cutting the outer step at the inner
  one's start would silently lose the outer step's remaining events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from perfkit.trace.events import Category, EventStore
from perfkit.trace.linking import Links
from perfkit.trace.names import PROFILER_STEP_PREFIX

IntArray = npt.NDArray[np.int64]
_STEP_RE = re.compile(re.escape(PROFILER_STEP_PREFIX) + r"(\d+)$")

WHOLE_TRACE = "whole trace"


@dataclass(frozen=True)
class StepWindow:
    """One step's host range and its device-anchored window (ns, store clock)."""

    name: str
    host_start: int
    host_end: int
    start: int
    end: int

    @property
    def duration(self) -> int:
        return self.end - self.start

    @property
    def host_duration(self) -> int:
        return self.host_end - self.host_start


@dataclass(frozen=True, eq=False)
class Steps:
    """The step windows, plus vectorised lookups from a time to its step."""

    windows: tuple[StepWindow, ...]
    from_profiler_steps: bool
    dropped_duplicates: int = 0
    dropped_nested: int = 0
    #: The ``ProfilerStep#N`` row of each window (empty without ProfilerStep events).
    rows: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def host_starts(self) -> IntArray:
        return np.asarray([w.host_start for w in self.windows], dtype=np.int64)

    @property
    def host_ends(self) -> IntArray:
        return np.asarray([w.host_end for w in self.windows], dtype=np.int64)

    def by_host_time(self, ts: IntArray) -> IntArray:
        """Index of the step whose host range contains each time (``-1``: none)."""
        return _lookup(self.host_starts, self.host_ends, ts)

    def by_window(self, ts: IntArray) -> IntArray:
        """Index of the step whose anchored window contains each time (``-1``: none)."""
        starts = np.asarray([w.start for w in self.windows], dtype=np.int64)
        ends = np.asarray([w.end for w in self.windows], dtype=np.int64)
        return _lookup(starts, ends, ts)

    @property
    def total(self) -> int:
        return sum(w.duration for w in self.windows)


def _lookup(starts: IntArray, ends: IntArray, ts: IntArray) -> IntArray:
    if starts.size == 0:
        return np.full(ts.shape, -1, dtype=np.int64)
    idx = np.searchsorted(starts, ts, side="right") - 1
    ok = (idx >= 0) & (ts < ends[np.maximum(idx, 0)])
    return np.where(ok, idx, -1).astype(np.int64)


def step_name_mask(store: EventStore) -> npt.NDArray[np.bool_]:
    """Host rows named ``ProfilerStep#N`` (cpu_op or user_annotation), duplicates included.

    None of them is an operator: torch < 1.10 records the step as a cpu_op, and some
    traces carry it twice (as user_annotation and as cpu_op).
    """
    host = store.mask(Category.CPU_OP, Category.USER_ANNOTATION)
    ids = store.name_ids(lambda n: _STEP_RE.match(n) is not None)
    return host & store.has_name(ids)


def host_step_rows(store: EventStore) -> IntArray:
    """Rows of host ``ProfilerStep#N`` events in time order, duplicates and nested ranges
    dropped (see the module doc)."""
    return _step_rows(store)[0]


def _step_rows(store: EventStore) -> tuple[IntArray, int, int]:
    """``(rows, duplicates dropped, nested dropped)``."""
    rows = np.flatnonzero(step_name_mask(store))
    rows = rows[np.lexsort((-store.dur[rows], store.ts[rows]))]  # by start; the longer first
    kept: list[int] = []
    end_of_name: dict[int, int] = {}
    duplicates = nested = 0
    outer_end: int | None = None
    for row in rows.tolist():
        name, start = int(store.name[row]), int(store.ts[row])
        end = start + int(store.dur[row])
        if name in end_of_name and start < end_of_name[name]:
            duplicates += 1  # the same step again, overlapping its first record
            continue
        end_of_name[name] = max(end, end_of_name.get(name, end))
        if outer_end is not None and start < outer_end and end <= outer_end:  # inside a kept step
            nested += 1
            continue
        kept.append(row)
        outer_end = end if outer_end is None else max(outer_end, end)
    return np.asarray(kept, dtype=np.int64), duplicates, nested


def find_steps(store: EventStore, links: Links) -> Steps:
    """The re-anchored step windows (see the module doc)."""
    rows, duplicates, nested = _step_rows(store)
    if rows.size == 0:
        start = int(store.ts.min())
        end = int((store.ts + store.dur).max())
        window = StepWindow(WHOLE_TRACE, start, end, start, end)
        return Steps(windows=(window,), from_profiler_steps=False)

    host_start = store.ts[rows]
    host_end = host_start + store.dur[rows]
    # Host steps follow each other; a step that overlaps the next is cut at its start.
    host_end = np.minimum(host_end, np.append(host_start[1:], np.iinfo(np.int64).max))

    work = np.flatnonzero(links.launch >= 0)
    launch_ts = store.ts[links.launch[work]]
    step_of = _lookup(host_start, host_end, launch_ts)
    device_end = np.full(rows.size, np.iinfo(np.int64).min, dtype=np.int64)
    hit = step_of >= 0
    hit_rows = work[hit]
    np.maximum.at(device_end, step_of[hit], store.ts[hit_rows] + store.dur[hit_rows])

    windows: list[StepWindow] = []
    prev_end: int | None = None
    for i, row in enumerate(rows.tolist()):
        hs, he = int(host_start[i]), int(host_end[i])
        start = hs if prev_end is None else max(prev_end, hs)
        end = max(he, int(device_end[i]), start)
        windows.append(StepWindow(store.names[store.name[row]], hs, he, start, end))
        prev_end = end
    return Steps(
        windows=tuple(windows),
        from_profiler_steps=True,
        dropped_duplicates=duplicates,
        dropped_nested=nested,
        rows=rows,
    )


__all__ = ["WHOLE_TRACE", "StepWindow", "Steps", "find_steps", "host_step_rows", "step_name_mask"]
