"""`perfkit compare` end to end: two tiny configs, saved runs, bad input, no torch import."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from scipy import stats
from typer.testing import CliRunner

from perfkit.cli import app
from perfkit.results import RunResult

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "compare"))
from compare_synthetic import make_run

TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 0,
    "device": "cpu",
    "model": {"name": "convnet", "params": {"width": 4, "depth": 1, "num_classes": 4}},
    "data": {"name": "synthetic-images", "params": {"num_samples": 32, "image_size": 16, "num_classes": 4}, "batch_size": 4},
    "loop": {"steps": 3, "warmup_steps": 1},
}

runner = CliRunner()


def write_config(path: Path, **changes: Any) -> Path:
    data = json.loads(json.dumps(TINY))
    for key, value in changes.items():
        section, _, field = key.partition("__")
        data[section][field] = value
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def write_run(path: Path, run: RunResult, **changes: Any) -> Path:
    doc = run.to_dict()
    doc.update(changes)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def invoke(*args: str) -> Any:
    return runner.invoke(app, ["compare", *args])


def test_two_tiny_configs_interleaved(tmp_path: Path) -> None:
    a = write_config(tmp_path / "a.yaml")
    b = write_config(tmp_path / "b.yaml", data__batch_size=8)
    out = tmp_path / "cmp.json"
    result = invoke(str(a), str(b), "--repeats", "2", "--format", "json", "--output", str(out), "-q")
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["kind"] == "perfkit.compare"
    assert [g["label"] for g in doc["groups"]] == ["a", "b"]
    assert [g["rounds"] for g in doc["groups"]] == [2, 2]
    rows = {m["metric"]: m for m in doc["metrics"]}
    assert rows["step_ms"]["verdict"] == {"status": "incomparable", "reason": "per step, batch 4 vs 8"}
    assert rows["throughput.samples_per_s"]["design"] == "paired"
    # Linux: each run's RSS high-water mark is reset at the end of its warm-up, so the
    # peaks are per run and compared, even though one process made every run.
    if Path("/proc/self/clear_refs").exists():
        assert rows["memory.host_peak_rss_bytes"]["verdict"]["status"] != "incomparable"
    assert rows["flops_per_step"]["verdict"]["status"] == "incomparable"
    assert any("with 2 rounds" in n for n in doc["notes"])


def test_vs_shorthand_console(tmp_path: Path) -> None:
    exp = write_config(tmp_path / "exp.yaml")
    result = invoke(str(exp), "--vs", "optimizer.momentum=0.5", "-n", "1", "--warmup-rounds", "0", "-q")
    assert result.exit_code == 0, result.output
    assert "optimizer.momentum=0.5 vs exp" in result.output
    assert "run-to-run noise" in result.output


def saved_pair(tmp_path: Path, slower: float = 1.0) -> tuple[Path, Path]:
    base = [10.0 + 0.1 * (i % 5) for i in range(30)]
    a = write_run(tmp_path / "base.json", make_run(base))
    b = write_run(tmp_path / "new.json", make_run([v * slower for v in base]))
    return a, b


def test_saved_runs_markdown(tmp_path: Path) -> None:
    a, b = saved_pair(tmp_path, slower=1.04)
    result = invoke(str(a), str(b), "--format", "md", "--label", "before", "--label", "after")
    assert result.exit_code == 0, result.output
    assert "| metric | before | after | ratio | 99% CI | p | verdict | why |" in result.output
    # The step medians of the two files, their quotient, and a 4% change within the 5% threshold.
    base = [10.0 + 0.1 * (i % 5) for i in range(30)]
    low, high = statistics.median(base), statistics.median(v * 1.04 for v in base)
    row = next(line for line in result.output.splitlines() if line.startswith("| step (ms)* |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:4] == [f"{low:.2f}", f"{high:.2f}", f"{high / low:.2f}×"]
    assert cells[6] == "unchanged"


def saved_groups(tmp_path: Path, slower: float, runs: int = 5) -> tuple[str, str]:
    """Two comma lists of saved runs (several runs a side: run-to-run noise measured)."""
    base, new = [], []
    for r in range(runs):
        steps = [10.0 * (1 + 0.01 * r) + 0.1 * (i % 5) for i in range(30)]
        base.append(str(write_run(tmp_path / f"base{r}.json", make_run(steps))))
        new.append(str(write_run(tmp_path / f"new{r}.json", make_run([v * slower for v in steps]))))
    return ",".join(base), ",".join(new)


def test_fail_on_regression(tmp_path: Path) -> None:
    a, b = saved_groups(tmp_path, slower=1.5)
    plain = invoke(a, b, "--label", "base", "--label", "new", "--format", "json")
    assert plain.exit_code == 0, plain.output
    step = next(m for m in json.loads(plain.stdout)["metrics"] if m["metric"] == "step_ms")
    # 5 saved runs a side (no rounds): Mann–Whitney U over the runs' median steps, here
    # recomputed with scipy from the files' own step times.
    medians = [
        [statistics.median(s["step_host_ms"] for s in json.loads(Path(f).read_text())["steps"] if not s["warmup"]) for f in side.split(",")]
        for side in (a, b)
    ]
    assert step["design"] == "runs" and step["verdict"]["status"] == "regressed"
    assert step["p_value"] == pytest.approx(stats.mannwhitneyu(medians[1], medians[0], alternative="two-sided").pvalue)
    assert step["p_value"] == pytest.approx(2 / 252)  # every new run slower than every base run
    assert step["ratio"] == pytest.approx(1.5)
    gated = invoke(a, b, "--label", "base", "--label", "new", "--fail-on-regression")
    assert gated.exit_code == 1
    assert "regressed: step_ms (new)" in gated.output
    relaxed = invoke(a, b, "--fail-on-regression", "--metric-threshold", "step_ms=60%", "--gate", "step_ms")
    assert relaxed.exit_code == 0, relaxed.output


def test_one_run_a_side_never_fails_the_build(tmp_path: Path) -> None:
    a, b = saved_pair(tmp_path, slower=1.5)
    result = invoke(str(a), str(b), "--fail-on-regression", "--format", "json")
    assert result.exit_code == 0, result.output
    step = next(m for m in json.loads(result.stdout)["metrics"] if m["metric"] == "step_ms")
    assert step["verdict"] == {"status": "noisy", "reason": "one run a side: run-to-run noise unmeasured"}
    assert step["ratio"] == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{a}", "{tmp}/missing.json"], "missing.json: no such file"),
        (["{a}", "{tmp}/missing.yaml"], "missing.yaml: no such file"),
        (["{a}", "{old}"], "written with result schema_version 0"),
        (["{a}", "{other}"], "not a perfkit run result"),
        (["{a}"], "compare needs at least two inputs"),
        (["{a}", "{b}", "--repeats", "0"], "--repeats must be at least 1"),
        (["{a}", "{b}", "--threshold", "5"], "did you mean 5%?"),
        (["{a}", "{b}", "--output", "{tmp}/x.txt"], "--output needs --format json or md"),
        (["{a}", "{b}", "--label", "x", "--label", "x"], "--label x is given to more than one input"),
        (["{a}", "{b}", "--gate", "step_mss"], "--gate: 'step_mss' matches no metric; did you mean 'step_ms'?"),
        (["{a}", "{b}", "--metric-threshold", "phase.*.hots_ms=10%"], "did you mean 'phase.*.host_ms'?"),
        (["{a}", "{b}", "-f", "json", "-o", "{b}"], "is one of the inputs (new)"),
        (["{a}", "{b}", "--metric-threshold", "step_ms=abc"], "--metric-threshold step_ms=abc: expected a fraction"),
        (["{cfg}", "--vs", "toggles.amp"], "--vs toggles.amp: expected KEY=VALUE"),
        (["{cfg}", "--vs", "data.num_workers=-1"], "--vs data.num_workers=-1: data.num_workers"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    a, b = saved_pair(tmp_path)
    old = write_run(tmp_path / "old.json", make_run([1.0]), schema_version=0)
    other = tmp_path / "other.json"
    other.write_text('{"traceEvents": []}', encoding="utf-8")
    values = {"a": a, "b": b, "old": old, "other": other, "tmp": tmp_path, "cfg": write_config(tmp_path / "cfg.yaml")}
    result = invoke(*(arg.format(**values) for arg in args))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert message in lines[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-f", "json", "-o", "{tmp}"], "is a directory"),
        (["-f", "md", "-o", "{tmp}/a.yaml/out.md"], "is a file, not a folder"),
        (["-f", "json", "-o", "{tmp}/out.json", "--label", "same", "--label", "same"], "--label same"),
        (["--gate", "trace.*", "--gate", "flops"], "--gate: 'flops' matches no metric"),
        (["--warmup-rounds", "-1"], "--warmup-rounds must be >= 0"),
    ],
)
def test_input_errors_stop_before_any_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str], message: str) -> None:
    """Checks that need no run fail (exit 2) before the configs are loaded or run."""
    import perfkit.compare.inputs as inputs_module

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("a run started")

    monkeypatch.setattr(inputs_module, "collect_groups", must_not_run)
    a = write_config(tmp_path / "a.yaml")
    b = write_config(tmp_path / "b.yaml")
    result = invoke(str(a), str(b), "-n", "40", "-q", *(arg.format(tmp=tmp_path) for arg in extra))
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in result.output
    # control: with a good output path the patched collect_groups is reached
    reached = invoke(str(a), str(b), "-n", "40", "-q", "-f", "json", "-o", str(tmp_path / "ok.json"))
    assert isinstance(reached.exception, AssertionError) and "a run started" in str(reached.exception)


def test_saved_runs_do_not_import_torch(tmp_path: Path) -> None:
    a, b = saved_pair(tmp_path, slower=1.1)
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from perfkit.cli import app\n"
        f"r = CliRunner().invoke(app, ['compare', {str(a)!r}, {str(b)!r}, '--format', 'json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout.strip().endswith("ok")


def test_unknown_component_fails_before_training(tmp_path: Path) -> None:
    a = write_config(tmp_path / "a.yaml")
    b = write_config(tmp_path / "b.yaml", model__name="no_such_module_xyz:build")
    result = invoke(str(a), str(b), "-n", "2", "-q")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and "no_such_module_xyz" in result.output


def test_cli_defaults_match_the_library() -> None:
    from perfkit.cli import compare as cli_compare
    from perfkit.compare import DEFAULT_REPEATS

    assert cli_compare.DEFAULT_REPEATS == DEFAULT_REPEATS
    assert cli_compare.parse_fraction("5%", "--threshold") == pytest.approx(0.05)
    assert cli_compare.parse_fraction("0.1", "--threshold") == pytest.approx(0.1)


def test_interrupted_compare_says_so_in_its_report(tmp_path: Path, monkeypatch: Any) -> None:
    from perfkit.runtime import runner as runtime_runner

    real = runtime_runner.run_experiment
    calls = {"n": 0}

    def ctrl_c_on_the_fifth_run(*args: Any, **kwargs: Any) -> RunResult:
        calls["n"] += 1
        if calls["n"] == 5:  # warm-up round (2 runs), round 1 (2 runs), then Ctrl-C
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runtime_runner, "run_experiment", ctrl_c_on_the_fifth_run)
    a = write_config(tmp_path / "a.yaml")
    b = write_config(tmp_path / "b.yaml")
    out = tmp_path / "cmp.json"
    result = invoke(str(a), str(b), "--repeats", "4", "--format", "json", "--output", str(out), "-q")
    assert result.exit_code == 130
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["interrupted"] == "interrupted after 1 of 4 rounds"
    assert doc["notes"][0].startswith("Incomplete: interrupted after 1 of 4 rounds")
    assert [g["rounds"] for g in doc["groups"]] == [1, 1]
