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


def test_a_nested_step_does_not_cut_its_enclosing_step(tmp_path: Path) -> None:
    a = analyze_file(
        write_trace(
            tmp_path / "nested.pt.trace.json",
            [
                ev("user_annotation", "ProfilerStep#1", 0, 100),
                ev("user_annotation", "ProfilerStep#2", 10, 20),  # a nested prof.step()
                ev("cpu_op", "aten::mm", 40, 30),  # after the inner step ended
            ],
        )
    )
    assert [s.name for s in a.steps] == ["ProfilerStep#1"]
    assert a.steps_total_ns == 100_000
    assert [o.name for o in a.top_ops_by_cpu] == ["aten::mm"]  # not lost
    assert any("inside another step" in n for n in a.notes)


def test_a_step_recorded_twice_counts_once_but_a_later_repeat_is_a_step(tmp_path: Path) -> None:
    a = analyze_file(
        write_trace(
            tmp_path / "dup.pt.trace.json",
            [
                ev("user_annotation", "ProfilerStep#1", 0, 50),
                ev("cpu_op", "ProfilerStep#1", 0, 50),  # the same step as a cpu_op
                ev("cpu_op", "aten::mm", 10, 10),
                ev("user_annotation", "ProfilerStep#1", 500, 50),  # a second session, same number
                ev("cpu_op", "aten::add", 510, 10),
            ],
        )
    )
    assert [s.duration_ns for s in a.steps] == [50_000, 50_000]
    assert {o.name for o in a.top_ops_by_cpu} == {"aten::mm", "aten::add"}
    assert any("repeat a step over the same time" in n for n in a.notes)


def test_host_work_between_steps_is_noted_when_it_matters(tmp_path: Path) -> None:
    events = [ev("user_annotation", "ProfilerStep#1", 0, 100), ev("user_annotation", "ProfilerStep#2", 200, 100)]
    busy = analyze_file(write_trace(tmp_path / "gap.pt.trace.json", [*events, ev("cpu_op", "aten::mm", 120, 50)]))
    assert any(n.startswith("1 host events (0.050 ms) ran between the first and last step") for n in busy.notes)
    tiny = analyze_file(write_trace(tmp_path / "tiny.pt.trace.json", [*events, ev("cpu_op", "aten::zeros", 120, 1)]))
    assert not any("between the first and last step" in n for n in tiny.notes)  # profiler bookkeeping
