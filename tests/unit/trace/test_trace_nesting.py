"""The per-thread call tree: self time, innermost op, phase of each event."""

from __future__ import annotations

from pathlib import Path

from trace_helpers import ev, launch, write_trace

from perfkit.trace.index import build_index
from perfkit.trace.reader import read_trace


def test_self_time_innermost_op_and_threads(tmp_path: Path) -> None:
    events = [
        ev("user_annotation", "ProfilerStep#1", 0, 100),
        ev("user_annotation", "perfkit/forward", 0, 60),
        ev("cpu_op", "aten::linear", 10, 40),  # children: addmm (25) → self 15
        ev("cpu_op", "aten::addmm", 12, 25),  # the launch is not a child for self time → 25
        *launch("cudaLaunchKernel", 20, 5, 1, "gemm", 30, 10),
        ev("cpu_op", "aten::relu", 50, 10),  # starts exactly where linear ends: a sibling
        ev("cpu_op", "aten::empty", 55, 0),  # zero-length child of relu
        # Another thread, interleaved in time: its own tree.
        ev("cpu_op", "aten::mm", 15, 30, tid=2),
        *launch("cudaLaunchKernel", 16, 4, 2, "gemm_bwd", 45, 5, tid=2),
        ev("cpu_op", "aten::sum", 70, 5, tid=2),
    ]
    store = read_trace(write_trace(tmp_path / "n.pt.trace.json", events))
    index = build_index(store)
    names = [store.names[i] for i in store.name.tolist()]
    row = {n: i for i, n in enumerate(names)}
    self_us = {
        n: int(index.self_ns[row[n]]) // 1000
        for n in ("aten::linear", "aten::addmm", "aten::relu", "aten::mm")
    }
    assert self_us == {"aten::linear": 15, "aten::addmm": 25, "aten::relu": 10, "aten::mm": 30}
    parent = {
        n: (names[p] if p >= 0 else None)
        for n, p in zip(names, index.tree.parent.tolist(), strict=True)
    }
    assert parent["aten::relu"] == "perfkit/forward"
    assert parent["aten::empty"] == "aten::relu"
    assert parent["aten::mm"] is None and parent["aten::sum"] is None
    # Each kernel belongs to the innermost op around its launch, on the launching thread.
    assert names[index.op[row["gemm"]]] == "aten::addmm"
    assert names[index.op[row["gemm_bwd"]]] == "aten::mm"
    assert all(
        s == 0 for s in index.step[[row["gemm"], row["gemm_bwd"], row["aten::sum"]]].tolist()
    )
