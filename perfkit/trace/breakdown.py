"""The step-time breakdown: where each step's wall time went, summing to the step exactly.

Like the TensorBoard plugin's overview, categories claim time in priority order:

================  ==============================================================
Kernel            compute kernels (every kernel except communication ones)
Memcpy            ``gpu_memcpy``
Memset            ``gpu_memset``
Communication     NCCL kernels, and host ``gloo:*`` ranges (CPU collectives)
Runtime           ``cuda_runtime`` and ``cuda_driver`` calls (launches, syncs, ...)
DataLoader        ``enumerate(DataLoader)#…__next__`` ranges of any category, and the
                  loop's ``perfkit/data`` range. The plugin drops the former when they
                  carry ``cat: user_annotation`` (torch >= 2) and shows 0; we do not.
CPU Exec          ``cpu_op`` events (host operators on any thread)
Other             whatever is left (Python between ops, idle waiting, ...)
================  ==============================================================

Each category's intervals (all threads, all streams) are merged; the category gets the
length of its union minus everything already claimed by higher-priority categories,
computed as ``|claimed ∪ category| - |claimed|``. Telescoping makes the categories plus
Other add up to the step's length to the nanosecond (integer arithmetic).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import numpy.typing as npt

from perfkit.trace import intervals as iv
from perfkit.trace.events import Category
from perfkit.trace.index import TraceIndex
from perfkit.trace.kernels import is_communication_kernel, is_communication_range
from perfkit.trace.model import BREAKDOWN_CATEGORIES
from perfkit.trace.names import DATALOADER_RE, PHASE_RANGES
from perfkit.trace.steps import StepWindow

BoolArray = npt.NDArray[np.bool_]


def category_masks(index: TraceIndex) -> dict[str, BoolArray]:
    """Row masks of every category but Other, in priority order."""
    return dict(_category_masks(index))


def _category_masks(index: TraceIndex) -> Iterator[tuple[str, BoolArray]]:
    """:func:`category_masks` one at a time (only one full-length mask alive at once)."""
    store = index.store
    comm_kernel_names = store.name_ids(is_communication_kernel)
    gloo_names = store.name_ids(is_communication_range)
    loader_names = store.name_ids(
        lambda n: DATALOADER_RE.match(n) is not None or n == PHASE_RANGES["data"]
    )
    comm_kernel = index.is_kernel & store.has_name(comm_kernel_names)
    yield "Kernel", index.is_kernel & ~comm_kernel
    yield "Memcpy", store.cat == int(Category.MEMCPY)
    yield "Memset", store.cat == int(Category.MEMSET)
    host = store.mask(Category.CPU_OP, Category.USER_ANNOTATION)
    comm_kernel |= host & store.has_name(gloo_names)
    yield "Communication", comm_kernel
    del comm_kernel
    yield "Runtime", store.mask(Category.RUNTIME, Category.DRIVER)
    host &= store.has_name(loader_names)
    yield "DataLoader", host
    del host
    yield "CPU Exec", index.is_host_op


def step_breakdowns(index: TraceIndex) -> list[dict[str, int]]:
    """One ``{category: ns}`` per step; each sums to its step's duration."""
    merged = {name: index.intervals(mask) for name, mask in _category_masks(index)}
    return [breakdown_of(w, merged) for w in index.steps.windows]


def breakdown_of(window: StepWindow, merged: Mapping[str, iv.Intervals]) -> dict[str, int]:
    """Claim ``window`` by priority from the merged category intervals (see module doc)."""
    claimed = iv.empty()
    claimed_ns = 0
    out: dict[str, int] = {}
    for name in BREAKDOWN_CATEGORIES[:-1]:
        mine = iv.clip(merged[name], window.start, window.end)
        claimed = iv.union(claimed, mine)
        now = iv.length(claimed)
        out[name] = now - claimed_ns
        claimed_ns = now
    out["Other"] = window.duration - claimed_ns
    return out


__all__ = ["breakdown_of", "category_masks", "step_breakdowns"]
