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
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    """Rows of host ``ProfilerStep#N`` events, in time order, duplicates dropped."""
    rows = np.flatnonzero(step_name_mask(store))
    rows = rows[np.argsort(store.ts[rows], kind="stable")]
    if rows.size:
        # A step recorded twice (two threads/processes) keeps its first occurrence.
        _, first = np.unique(store.name[rows], return_index=True)
        rows = rows[np.sort(first)]
    return rows.astype(np.int64)


def find_steps(store: EventStore, links: Links) -> Steps:
    """The re-anchored step windows (see the module doc)."""
    rows = host_step_rows(store)
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
    return Steps(windows=tuple(windows), from_profiler_steps=True)


__all__ = ["WHOLE_TRACE", "StepWindow", "Steps", "find_steps", "host_step_rows", "step_name_mask"]
