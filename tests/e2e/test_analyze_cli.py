"""`perfkit analyze` end to end: a trace recorded by plain torch.profiler, bad input, no torch."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from perfkit.cli import app

REPO = Path(__file__).resolve().parents[2]
CUDA_FIXTURE = REPO / "tests" / "data" / "traces" / "cuda_fixture.pt.trace.json"

#: A plain torch.profiler script: a DataLoader whose dataset sleeps 3 ms per item, so the
#: loop waits ~12 ms per batch of 4 inside every ProfilerStep.
RECORD_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import torch
    from torch.profiler import ProfilerActivity, profile, schedule, tensorboard_trace_handler

    torch.set_num_threads(1)

    class Sleepy(torch.utils.data.Dataset):
        def __len__(self):
            return 64

        def __getitem__(self, i):
            time.sleep(0.003)
            return torch.randn(16), i % 4

    loader = torch.utils.data.DataLoader(Sleepy(), batch_size=4)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with profile(
        activities=[ProfilerActivity.CPU],
        schedule=schedule(wait=1, warmup=1, active=3, repeat=1),
        on_trace_ready=tensorboard_trace_handler(sys.argv[1], worker_name="worker0"),
    ) as prof:
        for step, (x, y) in enumerate(loader):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
            prof.step()
            if step == 5:
                break
    """
)


@pytest.fixture(scope="module")
def recorded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("recorded")
    script = root / "record.py"
    script.write_text(RECORD_SCRIPT)
    out = root / "traces"
    subprocess.run(
        [sys.executable, str(script), str(out)], check=True, capture_output=True, timeout=120
    )
    return out


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["analyze", *args])
    return result.exit_code, result.stdout, result.stderr


def test_dataloader_wait_is_measured_and_the_breakdown_adds_up(recorded_dir: Path) -> None:
    code, out, err = invoke(str(recorded_dir), "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["kind"] == "perfkit.trace_analyses"
    (analysis,) = doc["analyses"]
    steps = analysis["steps"]
    assert len(steps) == 3
    for step in steps:
        assert sum(step["breakdown"].values()) == step["duration_ns"]
        assert step["breakdown"]["DataLoader"] > 0
        assert step["breakdown"]["Kernel"] == 0
    loader = next(c for c in analysis["breakdown"] if c["name"] == "DataLoader")
    assert loader["total_ns"] > 0 and analysis["dataloader_share"] == loader["share"]
    assert analysis["phase_mapping"] == "torch" and analysis["phases"]["data"]["host_ns"] > 0
    assert analysis["device"] is None
    assert analysis["device_not_applicable"] == "not applicable (no device activity in trace)"


def test_forward_and_backward_of_a_plain_torch_trace(recorded_dir: Path) -> None:
    """Forward and backward come from autograd's own events. Independently, from the raw
    JSON: on CPU autograd runs its nodes on the loop thread; the forward runs from the
    step-level op holding the step's first fwdbwd flow to the first node, the backward
    from the first node to the last node's end (no torch range lies in between)."""
    code, out, err = invoke(str(recorded_dir), "--format", "json")
    assert code == 0, err
    (analysis,) = json.loads(out)["analyses"]
    assert list(analysis["phases"]) == ["data", "forward", "backward", "optimizer", "other"]

    (trace,) = recorded_dir.rglob("*.pt.trace.json")
    raw = json.loads(trace.read_text())["traceEvents"]
    ops = [e for e in raw if e.get("ph") == "X" and e.get("cat") in ("cpu_op", "user_annotation")]
    marks = [e["ts"] for e in raw if e.get("cat") == "fwdbwd" and e.get("ph") == "s"]
    expected = []
    for step in sorted((e for e in ops if e["name"].startswith("ProfilerStep#")), key=lambda e: e["ts"]):
        lo, hi = step["ts"], step["ts"] + step["dur"]
        nodes = [e for e in ops if lo <= e["ts"] < hi and e["name"].startswith("autograd::engine::evaluate_function: ")]
        first_mark = min(m for m in marks if lo <= m < hi)
        # The step's direct children: ops in the step not inside another op of the step.
        mine = [e for e in ops if lo <= e["ts"] < hi and e is not step]
        top = [e for e in mine if not any(o["ts"] <= e["ts"] and e["ts"] + e["dur"] <= o["ts"] + o["dur"] and o is not e for o in mine)]
        (holder,) = [e for e in top if e["ts"] <= first_mark < e["ts"] + e["dur"]]
        first = min(e["ts"] for e in nodes)
        last = max(e["ts"] + e["dur"] for e in nodes)
        expected.append((first - holder["ts"], last - first))
    got = [(s["phases"]["forward"]["host_ns"], s["phases"]["backward"]["host_ns"]) for s in analysis["steps"]]
    assert len(got) == len(expected) == 3
    for (fwd, bwd), (fwd_us, bwd_us) in zip(got, expected, strict=True):
        assert fwd == pytest.approx(1000 * fwd_us, abs=2) and fwd > 0
        assert bwd == pytest.approx(1000 * bwd_us, abs=2) and bwd > 0
    for s in analysis["steps"]:
        assert sum(p["host_ns"] for p in s["phases"].values()) == s["host_duration_ns"]


def test_console_and_markdown_reports(recorded_dir: Path, tmp_path: Path) -> None:
    code, out, _ = invoke(str(recorded_dir), "--top", "3")
    assert code == 0
    assert "DataLoader" in out and "Top 3 operators by self CPU time" in out
    assert "tensorboard --logdir" in out and "ui.perfetto.dev" in out
    assert "device-anchored" not in out and "Kernel busy" not in out  # a CPU-only trace

    target = tmp_path / "report" / "trace.md"
    code, out, err = invoke(str(CUDA_FIXTURE), "--format", "md", "--output", str(target))
    assert code == 0 and out == "" and err == ""
    text = target.read_text()
    assert text.startswith("### Trace analysis") and "| Kernel |" in text
    assert sorted(p.name for p in target.parent.iterdir()) == ["trace.md"]  # no temp file left


def bad_inputs(tmp_path: Path) -> dict[str, Path]:
    good = CUDA_FIXTURE.read_bytes()
    files = {
        "not_json": b"hello, world\n",
        "truncated": good[: len(good) // 2],
        "not_a_trace": json.dumps({"kind": "perfkit.run"}).encode(),
        "no_events": json.dumps({"traceEvents": []}).encode(),
        "truncated_gz": gzip.compress(good)[:500],
    }
    out = {}
    for name, data in files.items():
        path = tmp_path / f"{name}.pt.trace.json"
        path.write_bytes(data)
        out[name] = path
    (tmp_path / "empty_dir").mkdir()
    out["empty_dir"] = tmp_path / "empty_dir"
    out["missing"] = tmp_path / "no" / "such.pt.trace.json"
    return out


EXPECTED = {
    "not_json": "not JSON",
    "truncated": "truncated",
    "not_a_trace": "not a torch.profiler trace",
    "no_events": "no events",
    "truncated_gz": "truncated",
    "empty_dir": "directory is empty",
    "missing": "no such file or directory",
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_bad_input_is_one_error_line_and_exit_code_2(tmp_path: Path, case: str) -> None:
    path = bad_inputs(tmp_path)[case]
    result = CliRunner().invoke(app, ["analyze", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert EXPECTED[case] in lines[0] and str(path) in lines[0]
    assert "Traceback" not in result.output


def test_console_format_refuses_output_file(tmp_path: Path) -> None:
    code, _, err = invoke(str(CUDA_FIXTURE), "--output", str(tmp_path / "x.txt"))
    assert code == 2 and err.startswith("error: --output needs --format json or md")


def test_analyze_and_help_do_not_import_torch() -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from typer.testing import CliRunner
        from perfkit.cli import app
        runner = CliRunner()
        assert runner.invoke(app, ["analyze", "--help"]).exit_code == 0
        result = runner.invoke(app, ["analyze", {str(CUDA_FIXTURE)!r}, "--format", "json"])
        assert result.exit_code == 0, result.output
        for fmt in ("console", "md"):
            assert runner.invoke(app, ["analyze", {str(CUDA_FIXTURE)!r}, "--format", fmt]).exit_code == 0
        print("torch" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    logdir = tmp_path / "logdir"
    (logdir / "run1").mkdir(parents=True)
    (logdir / "run2").mkdir()
    good = logdir / "run1" / "w.pt.trace.json"
    good.write_bytes(CUDA_FIXTURE.read_bytes())
    bad = logdir / "run2" / "w.pt.trace.json"
    bad.write_text("hello world")
    result = CliRunner().invoke(app, ["analyze", str(logdir), "--format", "json"])
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert [a["source"] for a in doc["analyses"]] == [str(good)]
    assert doc["errors"] == [{"path": str(bad), "error": result.stderr.strip().removeprefix("error: ")}]
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {bad}: not JSON")

    target = tmp_path / "report.md"
    result = CliRunner().invoke(app, ["analyze", str(logdir), "--format", "md", "-o", str(target)])
    assert result.exit_code == 2 and target.read_text().startswith("### Trace analysis")


def test_an_unexpected_failure_is_one_line_unless_debugging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from perfkit.trace import analysis

    def broken(*_: object, **__: object) -> None:
        raise ZeroDivisionError("division by zero\nin the analysis")

    monkeypatch.setattr(analysis, "analyze_events", broken)
    monkeypatch.delenv("PERFKIT_DEBUG", raising=False)
    result = CliRunner().invoke(app, ["analyze", str(CUDA_FIXTURE)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        f"error: {CUDA_FIXTURE}: cannot analyze (ZeroDivisionError: division by zero in the analysis)\n"
    )
    monkeypatch.setenv("PERFKIT_DEBUG", "1")
    result = CliRunner().invoke(app, ["analyze", str(CUDA_FIXTURE)])
    assert isinstance(result.exception, ZeroDivisionError)  # the traceback stays visible


ODD = {
    "u64_ids": '{"ph": "X", "cat": "kernel", "name": "k", "ts": 101, "dur": 1, "pid": 0, "tid": 18446744073709551615, '
    '"args": {"correlation": 18446744073709551615, "device": 0, "grid": [1e30, 1, 1]}}',
    "huge_pid": '{"ph": "X", "cat": "cpu_op", "name": "b", "ts": 101, "dur": 1, "pid": 1e30, "tid": 1}',
    "huge_span": '{"ph": "X", "cat": "cpu_op", "name": "b", "ts": 1.5e18, "dur": 5, "pid": 1, "tid": 2}',
    "string_times": '{"ph": "X", "cat": "cpu_op", "name": "b", "ts": "102", "dur": "1", "pid": 1, "tid": 1}',
    "null_dur": '{"ph": "X", "cat": "cpu_op", "name": "b", "ts": 102, "dur": null, "pid": 1, "tid": 1}',
}


@pytest.mark.parametrize("case", sorted(ODD))
def test_odd_numbers_are_analyzed_without_a_traceback(tmp_path: Path, case: str) -> None:
    path = tmp_path / f"{case}.pt.trace.json"
    op = '{"ph": "X", "cat": "cpu_op", "name": "a", "ts": 100, "dur": 5, "pid": 1, "tid": 1}'
    path.write_text('{"traceEvents": [' + op + ", " + ODD[case] + "]}")
    result = CliRunner().invoke(app, ["analyze", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    (analysis,) = json.loads(result.stdout)["analyses"]
    skipped = [n for n in analysis["notes"] if "1 complete event was skipped" in n]
    assert bool(skipped) == (case in ("huge_span", "null_dur"))
