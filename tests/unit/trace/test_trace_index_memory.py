"""The per-event index arrays stay narrow: memory of a trace grows with its event count.

A compact trace of 1 GB holds ~10 M events; every int64 per-event array costs ~80 MiB.
These checks pin the dtypes (cheaply, on a small trace) instead of measuring RSS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from trace_helpers import ev, launch, write_trace

from perfkit.trace import intervals as iv
from perfkit.trace.events import row_dtype
from perfkit.trace.index import build_index
from perfkit.trace.phases import attribute_phases, find_phase_ranges
from perfkit.trace.reader import read_trace


def _events(corr: int = 1) -> list[dict[str, object]]:
    return [
        ev("user_annotation", "ProfilerStep#1", 0, 100),
        ev("user_annotation", "perfkit/forward", 0, 60),
        ev("cpu_op", "aten::linear", 10, 40),
        ev("cpu_op", "aten::addmm", 12, 25),
        *launch("cudaLaunchKernel", 20, 5, corr, "gemm", 30, 10),
        ev("cpu_op", "aten::mm", 15, 30, tid=2),
        *launch("cudaLaunchKernel", 16, 4, corr + 1, "gemm_bwd", 45, 5, tid=2),
    ]


def test_index_row_arrays_are_32_bit(tmp_path: Path) -> None:
    store = read_trace(write_trace(tmp_path / "t.pt.trace.json", _events()))
    index = build_index(store)
    narrow = {
        "store.correlation": store.correlation,
        "links.launch": index.links.launch,
        "tree.parent": index.tree.parent,
        "tree.top_down": index.tree.top_down,
        "op": index.op,
        "rows()": index.rows(index.is_host_op),
    }
    assert {k: v.dtype for k, v in narrow.items()} == dict.fromkeys(narrow, np.dtype(np.int32))
    assert index.step.dtype == np.int16  # fewer than 2**15 steps
    assert index.self_ns.dtype == np.int32  # every self time below 2.1 s
    phase = attribute_phases(index, find_phase_ranges(index))
    assert phase.dtype == np.int8
    names = [store.names[i] for i in store.name.tolist()]
    row = {n: i for i, n in enumerate(names)}
    assert names[index.links.launch[row["gemm"]]] == "cudaLaunchKernel"
    assert names[index.op[row["gemm"]]] == "aten::addmm"
    assert names[index.op[row["gemm_bwd"]]] == "aten::mm"
    assert phase[row["gemm"]] == phase[row["aten::addmm"]] >= 0  # forward, via the launch


def test_correlation_column_widens_when_an_id_does_not_fit(tmp_path: Path) -> None:
    big = 2**40
    store = read_trace(write_trace(tmp_path / "t.pt.trace.json", _events(corr=big)))
    assert store.correlation.dtype == np.int64
    assert sorted(set(store.correlation.tolist()) - {-1}) == [big, big + 1]
    index = build_index(store)
    names = [store.names[i] for i in store.name.tolist()]
    linked = [names[r] for r in np.flatnonzero(index.links.launch >= 0).tolist()]
    assert linked == ["gemm", "gemm_bwd"]


@pytest.mark.parametrize(
    ("rows", "dtype"), [(0, np.int32), (2**31 - 1, np.int32), (2**31, np.int64)]
)
def test_row_dtype_falls_back_to_int64(rows: int, dtype: type[np.generic]) -> None:
    assert row_dtype(rows) is dtype


def test_merge_owned_consumes_its_inputs_and_matches_merge() -> None:
    starts = np.asarray([5, 0, 3, 20, 20, 9], dtype=np.int64)
    ends = np.asarray([8, 4, 3, 25, 21, 10], dtype=np.int64)
    expected = iv.merge(starts.copy(), ends.copy())
    parts = [starts.copy(), ends.copy()]
    got = iv.merge_owned(parts)
    assert parts == []
    assert (
        [a.tolist() for a in got]
        == [a.tolist() for a in expected]
        == [[0, 5, 9, 20], [4, 8, 10, 25]]
    )
    disjoint = np.asarray([0, 2], dtype=np.int64), np.asarray([1, 3], dtype=np.int64)
    assert iv.merge(*disjoint)[0] is not disjoint[0]  # not owned: never the caller's array
    assert iv.merge(starts, ends, owned=False) is not None
    assert starts.tolist() == [5, 0, 3, 20, 20, 9] and ends.tolist() == [8, 4, 3, 25, 21, 10]
