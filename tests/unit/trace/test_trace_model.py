"""TraceAnalysis survives JSON (it is stored in RunResult.trace) and refuses other schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trace_helpers import CUDA_FIXTURE, ev, write_trace

from perfkit.errors import SchemaError
from perfkit.trace import TRACE_SCHEMA, TraceAnalysis, analyze_file


def round_trip(a: TraceAnalysis) -> TraceAnalysis:
    return TraceAnalysis.from_dict(json.loads(json.dumps(a.to_dict(), allow_nan=False)))


def test_round_trip_gpu_and_cpu_analyses(tmp_path: Path) -> None:
    gpu = analyze_file(CUDA_FIXTURE)
    assert round_trip(gpu) == gpu
    cpu = analyze_file(write_trace(tmp_path / "c.pt.trace.json", [ev("cpu_op", "aten::mm", 0, 10)]))
    assert not cpu.steps_from_profiler and cpu.device is None
    assert round_trip(cpu) == cpu
    assert cpu.to_dict()["schema"] == TRACE_SCHEMA


def test_other_schema_is_refused() -> None:
    data = analyze_file(CUDA_FIXTURE).to_dict()
    data["schema"] = "perfkit.trace_analysis/999"
    with pytest.raises(SchemaError, match="re-run 'perfkit analyze'"):
        TraceAnalysis.from_dict(data)
    with pytest.raises(SchemaError):
        TraceAnalysis.from_dict({"steps": []})


def test_no_profiler_steps_is_one_span_with_a_note(tmp_path: Path) -> None:
    a = analyze_file(
        write_trace(
            tmp_path / "n.pt.trace.json",
            [ev("cpu_op", "aten::mm", 5, 10), ev("cpu_op", "aten::add", 20, 5)],
        )
    )
    (step,) = a.steps
    assert step.duration_ns == 20_000  # first event start to last event end
    assert step.breakdown["CPU Exec"] == 15_000 and step.breakdown["Other"] == 5_000
    assert any("No ProfilerStep#" in n for n in a.notes)
    assert a.phase_mapping == "none" and a.phases == {}
