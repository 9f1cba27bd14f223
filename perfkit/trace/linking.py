"""Linking device work to the host call that launched it.

Kineto writes the same ``correlation`` id (CUPTI's on NVIDIA, roctracer's on AMD) on a
device event (kernel, memcpy, memset) and on the runtime or driver call that enqueued
it (``cudaLaunchKernel``, ``cudaMemcpyAsync``, ``hipLaunchKernel``, and
``cuLaunchKernel`` in the ``cuda_driver`` category, which Triton and torch.compile use
and the TensorBoard plugin ignores). Checked on the A100, V100, MI250, NCCL and Triton
traces in ``shared/traces``: every device event finds its launch this way, and the
``External id`` of both sides agrees. The ``ac2g`` flow events carry the same id and
add nothing, so the reader drops them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfkit.trace.events import Category, EventStore, RowArray, row_dtype


@dataclass(frozen=True, eq=False)
class Links:
    """For every row of the store: the row of its launch call (``-1``: none).

    Only device work rows (kernel, memcpy, memset) have a launch; every other row is -1.
    Row numbers are int32 unless the store has 2**31 rows or more (:func:`row_dtype`).
    """

    launch: RowArray


def link_launches(store: EventStore) -> Links:
    """Match device work to launch calls by ``correlation`` (first launch wins on a tie)."""
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
    keys = store.correlation[launch_rows]
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    del keys
    wanted = store.correlation[work_rows]
    pos = np.searchsorted(sorted_keys, wanted, side="left")
    np.minimum(pos, sorted_keys.size - 1, out=pos)
    hit = sorted_keys[pos] == wanted
    del wanted, sorted_keys
    launch[work_rows[hit]] = launch_rows[order[pos[hit]]]
    return Links(launch=launch)


__all__ = ["Links", "link_launches"]
