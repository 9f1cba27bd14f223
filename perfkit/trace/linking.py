"""Linking device work to the host call that launched it.

Kineto writes the same ``correlation`` id (CUPTI's on NVIDIA, roctracer's on AMD) on a
device event (kernel, memcpy, memset) and on the runtime or driver call that enqueued
it (``cudaLaunchKernel``, ``cudaMemcpyAsync``, ``hipLaunchKernel``, and
``cuLaunchKernel`` in the ``cuda_driver`` category, which Triton and torch.compile use
and the TensorBoard plugin ignores). Checked on the A100, V100, MI250, NCCL and Triton
traces in ``shared/traces``: every device event finds its launch this way, and the
``External id`` of both sides agrees. The ``ac2g`` flow events carry the same id and
add nothing, so the reader drops them.

**Scope.** A correlation id is unique only within one process and one profiler session.
A file may hold several of either (traces merged by a tool, perfkit's cycles analyzed
together), so the same id can sit on several launch calls. Device work is matched as
follows:

1. the launch calls carrying its id in its **session scope**: profiler sessions
   (:attr:`~perfkit.trace.events.EventStore.sessions`) whose spans overlap form one scope,
   and an event belongs to the last scope that began at or before its start. Device work
   whose scope has no launch with its id looks in the previous scope (work queued at the
   end of one recording that ran after the next one began);
2. exactly one candidate: linked;
3. several (a **collision**): the candidates of the **process that uses the device**
   the work ran on (the one process that the device's unambiguous links point to); if
   exactly one remains it is linked, otherwise the work stays unlinked and is counted in
   :attr:`Links.ambiguous`, never linked to the first launch by default.

:attr:`Links.colliding_ids` counts the ids carried by more than one launch call within a
scope, and :attr:`Links.resolved` the device events matched through their device's
process; the analysis notes both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from perfkit.trace.events import Category, EventStore, RowArray, row_dtype

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Links:
    """For every row of the store: the row of its launch call (``-1``: none).

    Only device work rows (kernel, memcpy, memset) have a launch; every other row is -1.
    Row numbers are int32 unless the store has 2**31 rows or more (:func:`row_dtype`).
    ``colliding_ids``: correlation ids carried by several launch calls of one session
    scope; ``ambiguous``: device events left unlinked because of such a collision;
    ``resolved``: device events of a colliding id matched through their device's process.
    """

    launch: RowArray
    colliding_ids: int = 0
    ambiguous: int = 0
    resolved: int = 0


def session_scopes(store: EventStore) -> IntArray:
    """Start times of the session scopes: the store's sessions, overlapping ones merged
    (see the module doc). Empty when the store has at most one session."""
    sessions = store.sessions
    if len(sessions) < 2:
        return np.zeros(0, dtype=np.int64)
    starts: list[int] = []
    end = None
    for s, e in sessions.tolist():  # sorted by start; a handful of rows
        if end is None or s >= end:
            starts.append(s)
            end = e
        else:
            end = max(end, e)
    return np.asarray(starts if len(starts) > 1 else [], dtype=np.int64)


def scope_of(scopes: IntArray, ts: IntArray) -> IntArray:
    """Scope index of each time: the last scope that began at or before it (0 before all)."""
    if scopes.size == 0:
        return np.zeros(ts.shape, dtype=np.int64)
    out = np.searchsorted(scopes, ts, side="right") - 1
    np.maximum(out, 0, out=out)
    return out.astype(np.int64)


def link_launches(store: EventStore) -> Links:
    """Match device work to launch calls by ``correlation`` within session and process."""
    n = len(store)
    launch = np.full(n, -1, dtype=row_dtype(n))
    has_id = store.correlation >= 0
    launch_rows = np.flatnonzero(store.mask(Category.RUNTIME, Category.DRIVER) & has_id)
    work_rows = np.flatnonzero(
        store.mask(Category.KERNEL, Category.MEMCPY, Category.MEMSET) & has_id
    )
    del has_id
    if launch_rows.size == 0 or work_rows.size == 0:
        return Links(launch=launch)
    scopes = session_scopes(store)
    corr = store.correlation[launch_rows].astype(np.int64)
    ids = np.unique(corr)
    n_ids = ids.size
    rank = np.searchsorted(ids, corr)
    del corr
    scope_l = scope_of(scopes, store.ts[launch_rows])
    key = scope_l * n_ids + rank
    del rank, scope_l
    pids, pid_rank = np.unique(store.pid[launch_rows], return_inverse=True)
    order = np.lexsort((pid_rank, key))
    key, pid_rank = key[order], pid_rank.reshape(-1)[order]
    sorted_rows = launch_rows[order]
    del order, launch_rows
    colliding = _count_repeated(key)

    wanted = store.correlation[work_rows].astype(np.int64)
    w_rank = np.searchsorted(ids, wanted)
    np.minimum(w_rank, n_ids - 1, out=w_rank)
    known = ids[w_rank] == wanted
    del wanted
    work_rows, w_rank = work_rows[known], w_rank[known]
    w_scope = scope_of(scopes, store.ts[work_rows])
    lo, hi = _range(key, w_scope * n_ids + w_rank)
    if scopes.size:  # nothing in its own scope: the previous one (queued before a new session)
        retry = (hi == lo) & (w_scope > 0)
        if retry.any():
            w_scope[retry] -= 1
            lo[retry], hi[retry] = _range(key, w_scope[retry] * n_ids + w_rank[retry])
    count = hi - lo
    unique = count == 1
    launch[work_rows[unique]] = sorted_rows[lo[unique]]
    several = np.flatnonzero(count > 1)
    if several.size == 0:
        return Links(launch=launch, colliding_ids=colliding)

    # Collisions: keep the candidates of the process that uses the work's device.
    device = store.device[work_rows]
    owner = _device_owners(device[unique], pid_rank[lo[unique]])
    rows = several
    dev_owner = np.array([owner.get(int(d), -1) for d in device[rows].tolist()], dtype=np.int64)
    n_pids = pids.size
    key2 = key * n_pids + pid_rank
    target = (w_scope[rows] * n_ids + w_rank[rows]) * n_pids + np.maximum(dev_owner, 0)
    lo2, hi2 = _range(key2, target)
    ok = (dev_owner >= 0) & (hi2 - lo2 == 1)
    launch[work_rows[rows[ok]]] = sorted_rows[lo2[ok]]
    resolved = int(np.count_nonzero(ok))
    return Links(
        launch=launch,
        colliding_ids=colliding,
        ambiguous=int(rows.size) - resolved,
        resolved=resolved,
    )


def _range(sorted_keys: IntArray, wanted: IntArray) -> tuple[IntArray, IntArray]:
    """``[lo, hi)`` of the entries equal to each wanted key."""
    lo = np.searchsorted(sorted_keys, wanted, side="left")
    hi = np.searchsorted(sorted_keys, wanted, side="right")
    return lo.astype(np.int64), hi.astype(np.int64)


def _count_repeated(sorted_keys: IntArray) -> int:
    """How many distinct values occur more than once in a sorted array."""
    if sorted_keys.size < 2:
        return 0
    same = sorted_keys[1:] == sorted_keys[:-1]
    # A run of equal keys starts where ``same`` turns true.
    starts = same & np.concatenate(([True], ~same[:-1]))
    return int(np.count_nonzero(starts))


def _device_owners(device: npt.NDArray[np.signedinteger[Any]], pid_rank: IntArray) -> dict[int, int]:
    """Device id → the one process (rank into the launch pids) its unambiguous links
    point to; devices used by several processes are left out."""
    if device.size == 0:
        return {}
    pairs = np.unique(np.stack([device.astype(np.int64), pid_rank.astype(np.int64)], axis=1), axis=0)
    devs, counts = np.unique(pairs[:, 0], return_counts=True)
    single = set(devs[counts == 1].tolist())
    return {int(d): int(p) for d, p in pairs.tolist() if d in single}


__all__ = ["Links", "link_launches", "scope_of", "session_scopes"]
