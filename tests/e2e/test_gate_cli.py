"""End-to-end: `perfkit baseline save` then `perfkit gate` on a tiny CPU experiment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from junitparser import JUnitXml
from typer.testing import CliRunner

from perfkit.cli import app

runner = CliRunner()

TINY: dict[str, Any] = {
    "name": "gtiny",
    "device": "cpu",
    "model": {"name": "convnet", "params": {"width": 4, "depth": 1, "num_classes": 4}},
    "data": {"name": "synthetic-images", "params": {"num_samples": 64, "image_size": 8, "num_classes": 4}, "batch_size": 4},
    "loop": {"steps": 8, "warmup_steps": 2},
    # Times: fail only past +50 % and significant over 5 runs a side — this machine is shared
    # and the baseline is recorded minutes before the candidate. Counters: exact.
    "gate": {"repeats": 5, "threshold": 0.5},
}


def invoke(*args: Any, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("gate")
    config = folder / "exp.yaml"
    config.write_text(yaml.safe_dump(TINY))
    stored = folder / "baseline.json"
    result = invoke("baseline", "save", config, "--output", stored, "-q")
    assert result.exit_code == 0, result.output
    assert "baseline: 5 run(s) of gtiny saved" in result.stdout
    return config, stored


def test_unchanged_run_passes_and_writes_every_report(workspace: tuple[Path, Path], tmp_path: Path) -> None:
    config, stored = workspace
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    md, junit, js = tmp_path / "gate.md", tmp_path / "gate.xml", tmp_path / "gate.json"
    result = invoke("gate", config, "--baseline", stored, "--md", md, "--junit", junit, "--json", js, "-q", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.exit_code == 0, result.output
    assert "perf gate PASSED: gtiny" in result.stdout
    assert md.read_text().startswith("# ✅ perf gate PASSED")
    assert summary.read_text().startswith("earlier step\n# ✅ perf gate PASSED")  # appended, not replaced
    doc = json.loads(js.read_text())
    assert doc["passed"] is True and doc["kind"] == "perfkit.gate"
    suite = next(iter(JUnitXml.fromfile(str(junit))))
    names = {case.name for case in suite}
    # Counters from the short trace in every run are gated too.
    assert {"step_ms", "throughput.samples_per_s", "flops_per_step", "parameters", "trace.ops_per_step"} <= names
    assert suite.failures == 0


def test_a_wider_layer_fails_on_counters(workspace: tuple[Path, Path]) -> None:
    config, stored = workspace
    result = invoke("gate", config, "--baseline", stored, "--set", "model.params.width=8", "-q", "--format", "md")
    assert result.exit_code == 1, result.output
    assert "perf gate FAILED" in result.stdout
    assert "**flops_per_step**" in result.stdout and "**parameters**" in result.stdout


def test_an_injected_slowdown_fails(workspace: tuple[Path, Path], tmp_path: Path) -> None:
    config, stored = workspace
    junit = tmp_path / "slow.xml"
    # 2 ms of busy work per sample, 4 samples per step: several times the tiny step.
    result = invoke("gate", config, "--baseline", stored, "--set", "data.params.cpu_cost_us=2000", "--junit", junit, "-q")
    assert result.exit_code == 1, result.output
    suite = next(iter(JUnitXml.fromfile(str(junit))))
    failed = {case.name for case in suite if case.result}
    assert "step_ms" in failed and "flops_per_step" not in failed


def assert_usage_error(result, *fragments: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in err


def test_bad_baselines_exit_2_before_training(workspace: tuple[Path, Path], tmp_path: Path) -> None:
    config, stored = workspace
    assert_usage_error(invoke("gate", config, "--baseline", tmp_path / "none.json"), "no such baseline", "perfkit baseline save")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text(stored.read_text()[:500])
    assert_usage_error(invoke("gate", config, "--baseline", corrupt), "corrupt.json: not valid JSON")
    doc = json.loads(stored.read_text())
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**doc, "schema_version": 0}))
    assert_usage_error(invoke("gate", config, "--baseline", old), "baseline schema_version 0, this perfkit reads 1")
    assert_usage_error(invoke("gate", config, "--baseline", stored, "--policy", tmp_path / "nope.yaml"), "nope.yaml: no such file")


def test_environment_change_needs_the_flag(workspace: tuple[Path, Path], tmp_path: Path) -> None:
    config, stored = workspace
    doc = json.loads(stored.read_text())
    for run in doc["runs"]:
        run["environment"]["cpu_count"] = 64
    moved = tmp_path / "other-machine.json"
    moved.write_text(json.dumps(doc))
    assert_usage_error(invoke("gate", config, "--baseline", moved, "-q"), "recorded on another environment", "CPU count 64 vs", "--allow-env-change")
    allowed = invoke("gate", config, "--baseline", moved, "--allow-env-change", "-q", "--format", "md")
    assert allowed.exit_code == 0, allowed.output
    assert "Compared across environments (--allow-env-change): CPU count 64 vs" in allowed.stdout


def test_failing_gate_appends_the_summary_and_survives_a_bad_summary_path(workspace: tuple[Path, Path], tmp_path: Path) -> None:
    config, stored = workspace
    summary = tmp_path / "summary.md"
    failed = invoke("gate", config, "--baseline", stored, "--set", "model.params.width=8", "-q", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert failed.exit_code == 1
    assert summary.read_text().startswith("# ❌ perf gate FAILED")
    junit = tmp_path / "g.xml"
    broken = invoke("gate", config, "--baseline", stored, "--junit", junit, "-q", env={"GITHUB_STEP_SUMMARY": str(tmp_path)})
    assert broken.exit_code == 0, broken.output
    assert "warning: could not append to $GITHUB_STEP_SUMMARY" in broken.stderr
    assert junit.exists()  # the reports were written before the summary was tried


def test_an_undecided_gate_writes_an_error_junit(workspace: tuple[Path, Path], tmp_path: Path) -> None:
    config, _ = workspace
    junit = tmp_path / "error.xml"
    result = invoke("gate", config, "--baseline", tmp_path / "missing.json", "--junit", junit)
    assert result.exit_code == 2
    suite = next(iter(JUnitXml.fromfile(str(junit))))
    assert suite.errors == 1


def test_another_torch_build_is_refused_before_training(workspace: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, stored = workspace
    doc = json.loads(stored.read_text())
    for run in doc["runs"]:
        run["environment"]["torch"] = "1.0.0"
    other = tmp_path / "old-torch.json"
    other.write_text(json.dumps(doc))
    import perfkit.gate.runs as gate_runs

    def must_not_run(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("trained although the baseline could not be compared")

    monkeypatch.setattr(gate_runs, "run_repeats", must_not_run)
    assert_usage_error(invoke("gate", config, "--baseline", other, "-q"), "recorded on another environment (torch 1.0.0 vs")


def test_saved_runs_can_be_gated_paired(workspace: tuple[Path, Path], tmp_path: Path) -> None:
    config, stored = workspace
    from perfkit.gate import load_baseline
    from perfkit.report import save_run

    runs = load_baseline(stored).runs
    files = [save_run(run, tmp_path / f"run{i}.json") for i, run in enumerate(runs)]
    baseline_args = [a for f in files for a in ("--baseline", f)]
    candidate_args = [a for f in files for a in ("--candidate", f)]
    # Identical runs on both sides: every change is exactly zero, so the gate passes...
    same = invoke("gate", config, *baseline_args, *candidate_args, "--paired", "-q", "-f", "json")
    assert same.exit_code == 2, same.output  # ...but 5 paired rounds cannot reach alpha 0.01
    assert "use at least 8 paired rounds" in same.stderr
    unpaired = invoke("gate", config, *baseline_args, *candidate_args, "-q", "-f", "json")
    assert unpaired.exit_code == 0, unpaired.output
    assert json.loads(unpaired.stdout)["passed"] is True
    mismatch = invoke("gate", config, *baseline_args, "--candidate", files[0], "--paired", "-q")
    assert_usage_error(mismatch, "--paired needs as many candidate runs as baseline runs (1 vs 5)")


def test_a_baseline_the_gate_could_never_use_is_refused_before_recording(workspace: tuple[Path, Path], tmp_path: Path) -> None:
    config, _ = workspace
    out = tmp_path / "b.json"
    # 3 baseline runs against the gate's 5 candidate runs: p ≥ 0.036 > alpha 0.01 always.
    assert_usage_error(invoke("baseline", "save", config, "-o", out, "--repeats", "3", "-q"), "can never show a significant change")
    assert not out.exists()


def test_ctrl_c_during_the_runs_says_nothing_was_saved(workspace: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from perfkit.runtime import runner as runtime_runner

    def ctrl_c(*_: Any, **__: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(runtime_runner, "run_experiment", ctrl_c)
    config, _ = workspace
    out = tmp_path / "b.json"
    result = invoke("baseline", "save", config, "-o", out, "-q")
    assert result.exit_code == 130
    assert result.stderr.strip() == "error: interrupted (Ctrl-C) before a result was complete; nothing was saved"
    assert not out.exists()


def _saved_runs(stored: Path, folder: Path, **changes: Any) -> list[Path]:
    """The baseline's runs saved as run files, each document updated with ``changes``."""
    from perfkit.gate import load_baseline
    from perfkit.report import save_run

    files = []
    for i, run in enumerate(load_baseline(stored).runs):
        path = save_run(run, folder / f"cand{i}.json")
        doc = json.loads(path.read_text())
        for key, value in changes.items():
            if key == "config":
                doc["config"] = {**doc["config"], **value}
            else:
                doc[key] = value
        path.write_text(json.dumps(doc))
        files.append(path)
    return files


def test_candidate_runs_of_another_experiment_or_config_are_warned_about(workspace: tuple[Path, Path], tmp_path: Path) -> None:
    config, stored = workspace
    baseline_args = ["--baseline", stored]
    same = [a for f in _saved_runs(stored, tmp_path) for a in ("--candidate", f)]
    quiet = invoke("gate", config, *baseline_args, *same, "-q", "-f", "md")
    assert quiet.exit_code == 0, quiet.output
    assert "warning:" not in quiet.stderr and "Warning:" not in quiet.stdout
    other_folder = tmp_path / "other"
    other_folder.mkdir()
    files = _saved_runs(stored, other_folder, name="other-exp", config={"name": "other-exp", "seed": 7})
    other = [a for f in files for a in ("--candidate", f)]
    result = invoke("gate", config, *baseline_args, *other, "-q", "-f", "md")
    assert result.exit_code == 0, result.output  # a warning, not a verdict
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2, result.stderr
    assert f"the candidate runs are of experiment 'other-exp', not 'gtiny' of {config}" in warnings[0]
    assert "the candidate runs were made with another config (hash " in warnings[1] and "differs in seed)" in warnings[1]
    assert warnings[0].startswith(f"warning: {files[0]} … (5 runs): ")
    assert "> Warning: " in result.stdout  # and in the Markdown summary


def test_a_counter_missing_from_the_candidate_runs_points_at_them(workspace: tuple[Path, Path], tmp_path: Path) -> None:
    config, stored = workspace
    files = _saved_runs(stored, tmp_path, trace=None)  # saved without --trace
    candidates = [a for f in files for a in ("--candidate", f)]
    result = invoke("gate", config, "--baseline", stored, *candidates, "-q")
    assert_usage_error(
        result,
        # CPU runs launch no kernels: the op count is the trace counter the baseline has.
        f"{files[0]} … (5 runs): the candidate runs did not measure gated trace.ops_per_step, which the baseline did",
        "make them with a trace (perfkit profile --trace -o run.json)",
    )
    assert str(stored) not in result.stderr


def test_gating_saved_runs_does_not_import_torch(tmp_path: Path) -> None:
    """`gate --candidate` trains nothing, so it starts without torch."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from typer.testing import CliRunner
        from perfkit.cli import app
        from perfkit.gate import save_baseline
        from perfkit.report import save_run
        from tests.unit.gate.gate_synthetic import baseline, runs

        folder = Path({str(tmp_path)!r})
        (folder / "exp.yaml").write_text("name: exp\\ndata: {{batch_size: 8}}\\n")
        save_baseline(baseline(), folder / "b.json")
        args = [a for i, run in enumerate(runs(2)) for a in ("--candidate", str(save_run(run, folder / f"c{{i}}.json")))]
        result = CliRunner().invoke(app, ["gate", str(folder / "exp.yaml"), "-b", str(folder / "b.json"), *args, "-q", "-f", "json"])
        assert result.exit_code == 0, result.output
        print("torch" in sys.modules)
        """
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False, cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"
