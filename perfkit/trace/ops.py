"""Top-N tables: kernels by device time, operators by self device and self CPU time.

All three count only events that belong to a step (see :mod:`perfkit.trace.index`).

* Kernels are grouped by full name: summed duration, count, mean, share of kernel time.
* An operator's **self CPU time** is its duration minus its direct children's
  (:func:`perfkit.trace.nesting.self_durations`), summed over its calls: the same
  definition as ``torch.profiler``'s ``key_averages().self_cpu_time_total``. Its
  ``calls`` do not count an op nested directly in an op of the same name (the dispatcher
  re-entering one call), which key_averages merges too.
* An operator's **self device time** is the kernel time of the launches whose innermost
  enclosing cpu_op is that operator (``aten::linear`` launches nothing itself: its
  ``aten::addmm`` child owns the GEMM).
"""

from __future__ import annotations

import numpy as np

from perfkit.trace.events import ROW_SLICE
from perfkit.trace.index import TraceIndex
from perfkit.trace.model import KernelStat, OpStat


def top_kernels(index: TraceIndex, top: int) -> tuple[KernelStat, ...]:
    store = index.store
    rows = index.rows(index.is_kernel)
    if rows.size == 0 or top <= 0:
        return ()
    names = store.name[rows]
    total = np.bincount(names, weights=store.dur[rows].astype(np.float64))
    count = np.bincount(names)
    kernel_ns = float(store.dur[rows].sum())
    order = _top(total, top)
    return tuple(
        KernelStat(
            name=store.names[i],
            total_ns=round(float(total[i])),
            count=int(count[i]),
            mean_ns=float(total[i] / count[i]),
            share=float(total[i] / kernel_ns) if kernel_ns > 0 else 0.0,
        )
        for i in order
    )


def top_ops(
    index: TraceIndex, top: int, has_device: bool
) -> tuple[tuple[OpStat, ...], tuple[OpStat, ...]]:
    """(top by self device time, top by self CPU time)."""
    store = index.store
    rows = index.rows(index.is_host_op)
    if rows.size == 0 or top <= 0:
        return (), ()
    size = len(store.names)
    calls = np.zeros(size, dtype=np.int64)
    self_cpu = np.zeros(size, dtype=np.float64)
    # A slice of rows at a time: no temporary of the ops' length. The sums are of
    # integers (ns) far below 2**53, so adding the slices' float sums is exact.
    for a in range(0, rows.size, ROW_SLICE):
        part = rows[a : a + ROW_SLICE]
        names = store.name[part]
        # An op directly inside an op of the same name is the dispatcher re-entering the
        # same call (``aten::sum`` → ``aten::sum``): one call, as in torch's key_averages.
        parents = index.tree.parent[part]
        reentry = parents >= 0
        np.maximum(parents, 0, out=parents)
        reentry &= store.name[parents] == names
        reentry &= index.is_host_op[parents]
        del parents
        calls += np.bincount(names[~reentry], minlength=size)
        del reentry
        self_cpu += np.bincount(
            names, weights=index.self_ns[part].astype(np.float64), minlength=size
        )
    del rows
    k_rows = index.rows(index.is_kernel)
    owner = index.op[k_rows]
    owned = owner >= 0
    self_dev = np.bincount(
        store.name[owner[owned]],
        weights=store.dur[k_rows[owned]].astype(np.float64),
        minlength=size,
    )
    del k_rows, owner, owned

    def stat(i: int) -> OpStat:
        return OpStat(
            name=store.names[i],
            calls=int(calls[i]),
            self_cpu_ns=round(float(self_cpu[i])),
            self_device_ns=round(float(self_dev[i])) if has_device else None,
        )

    by_device = tuple(stat(i) for i in _top(self_dev, top)) if has_device else ()
    by_cpu = tuple(stat(i) for i in _top(self_cpu * (calls > 0), top))
    return by_device, by_cpu


def _top(values: np.ndarray, top: int) -> list[int]:
    """Indices of the ``top`` largest positive values, largest first (ties: by index)."""
    positive = np.flatnonzero(values > 0)
    order = positive[np.lexsort((positive, -values[positive]))]
    return [int(i) for i in order[:top]]


__all__ = ["top_kernels", "top_ops"]
