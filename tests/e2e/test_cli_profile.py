"""End-to-end CLI tests (typer's CliRunner) for profile, validate, init and report."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from perfkit.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args])


def assert_clean_error(result, *fragments: str) -> None:  # type: ignore[no-untyped-def]
    """Exit 2, one line on stderr starting with 'error:', naming what is wrong, no traceback."""
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.startswith("error: "), err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in err, err


def test_profile_console_and_saved_json(write_yaml, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run.json"
    result = invoke("profile", write_yaml(tiny_config), "--steps", "4", "-o", out)
    assert result.exit_code == 0, result.output
    assert "Step breakdown" in result.stdout and "forward" in result.stdout
    doc = json.loads(out.read_text())
    assert doc["config"]["loop"]["steps"] == 4  # the shorthand reached the config
    assert len([s for s in doc["steps"] if not s["warmup"]]) == 4
    assert doc["summary"]["step_ms"]["median"] > 0
    assert set(doc["summary"]["phases"]) == {"data", "h2d", "forward", "backward", "optimizer", "other"}


def test_profile_json_and_markdown_to_stdout(write_yaml, tiny_config) -> None:  # type: ignore[no-untyped-def]
    path = write_yaml(tiny_config)
    as_json = invoke("profile", path, "--format", "json", "--set", "optimizer.name=adam", "--set", "optimizer.momentum=null")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["config"]["optimizer"]["name"] == "adam"
    as_md = invoke("profile", path, "-f", "md", "--amp", "bf16", "--channels-last")
    assert as_md.exit_code == 0, as_md.output
    assert "amp `bf16` · channels_last `True`" in as_md.stdout
    assert "| phase |" in as_md.stdout


def test_quiet_prints_nothing(write_yaml, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = invoke("profile", write_yaml(tiny_config), "-q", "-o", tmp_path / "r.json")
    assert result.exit_code == 0 and result.stdout == ""
    assert (tmp_path / "r.json").exists()


def test_report_renders_a_saved_run_again(write_yaml, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run.json"
    assert invoke("profile", write_yaml(tiny_config), "-q", "-o", out).exit_code == 0
    console = invoke("report", out)
    assert console.exit_code == 0 and "Step breakdown" in console.stdout
    md_file = tmp_path / "run.md"
    assert invoke("report", out, "--format", "md", "-o", md_file).exit_code == 0
    assert md_file.read_text().startswith("## perfkit: tiny")
    again = invoke("report", out, "--format", "json")
    assert json.loads(again.stdout)["summary"] == json.loads(out.read_text())["summary"]


def test_validate_and_init(tmp_path: Path) -> None:
    target = tmp_path / "exp.yaml"
    created = invoke("init", target)
    assert created.exit_code == 0 and target.exists()
    assert "model:" in target.read_text() and "#" in target.read_text()
    valid = invoke("validate", target)
    assert valid.exit_code == 0, valid.output
    assert "valid · model convnet" in valid.stdout
    shorthand = invoke("validate", target, "--amp", "bf16", "--workers", "1", "--steps", "7")
    assert shorthand.exit_code == 0, shorthand.output
    assert "(batch 32, 1 workers)" in shorthand.stdout and "7 steps" in shorthand.stdout and "amp bf16" in shorthand.stdout
    assert_clean_error(invoke("validate", target, "--amp", "fp16", "--device", "cpu"), "--amp fp16", "toggles.amp: fp16 needs a CUDA device")
    assert_clean_error(invoke("init", target), "already exists", "--force")
    assert invoke("init", target, "--force").exit_code == 0


@pytest.mark.parametrize("name", ["quickstart", "resnet", "transformer_lm", "mlp"])
def test_validate_shipped_configs(name: str) -> None:
    path = REPO / "configs" / f"{name}.yaml"
    result = invoke("validate", path)
    assert result.exit_code == 0, result.output
    # The summary line restates the file's own values (read here with plain YAML).
    doc = yaml.safe_load(path.read_text())
    loop = doc.get("loop", {})
    expected = (
        f"valid · model {doc['model']['name']} · data {doc['data']['name']} "
        f"(batch {doc['data']['batch_size']}, {doc['data'].get('num_workers', 0)} workers) · "
        f"optimizer {doc['optimizer']['name']} · {loop['steps']} steps + {loop['warmup_steps']} warm-up"
    )
    assert expected in result.stdout


def test_bad_inputs_are_one_clean_line(write_yaml, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert_clean_error(invoke("profile", tmp_path / "missing.yaml"), "missing.yaml: no such file")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [\n")
    assert_clean_error(invoke("validate", broken), "broken.yaml:2: malformed YAML")
    for key, value, fragments in [
        ("model", {"name": "resnet9000"}, ("model.name: unknown model 'resnet9000'",)),
        ("data", {"name": "imagenet"}, ("data.name: unknown dataset 'imagenet'",)),
        ("optimizer", {"name": "lamb"}, ("optimizer.name: unknown optimizer 'lamb'", "choose one of sgd")),
        ("data", {"num_workers": -1}, ("data.num_workers: must be >= 0",)),
        ("toggles", {"amp": "fp16"}, ("toggles.amp: fp16 needs a CUDA device", "use amp: bf16 on CPU")),
        ("model", {"name": "torchvision:resnet18"}, ("model.name: torchvision:resnet18 needs torchvision",)),
        ("model", {"name": "not_a_module_xyz:build"}, ("model.name: cannot import module 'not_a_module_xyz'",)),
    ]:
        config = dict(tiny_config)
        config[key] = {**tiny_config.get(key, {}), **value}
        if value.get("name") == "torchvision:resnet18" and HAS_TORCHVISION:
            continue  # the missing-extra error can only be seen without torchvision
        path = write_yaml(config, f"bad_{key}")
        for command in ("validate", "profile"):
            assert_clean_error(invoke(command, path), str(path), *fragments)


def test_set_override_errors_name_the_flag(write_yaml, tiny_config) -> None:  # type: ignore[no-untyped-def]
    assert_clean_error(invoke("profile", write_yaml(tiny_config), "--set", "loop.stepz=3"), "--set loop.stepz=3", "did you mean 'steps'")
    assert_clean_error(invoke("profile", write_yaml(tiny_config), "--workers", "-2"), "data.num_workers: must be >= 0")


def test_ctrl_c_saves_a_partial_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "tests" / "helpers"))  # phase_costs:…, config in tmp_path
    config = {
        "device": "cpu",
        "model": {"name": "phase_costs:CostlyModel", "params": {"forward_ms": 0, "backward_ms": 0}},
        "data": {"name": "phase_costs:CostlyData", "params": {"item_ms": 0, "interrupt_at": 6}, "batch_size": 2, "shuffle": False},
        "loop": {"steps": 5, "warmup_steps": 1},
    }
    path = tmp_path / "partial.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "partial.json"
    result = invoke("profile", path, "-o", out)
    assert result.exit_code == 130
    assert "PARTIAL" in result.stdout
    assert "interrupted: reported the 3 finished steps" in result.stderr
    doc = json.loads(out.read_text())
    assert doc["partial"] is True and len(doc["steps"]) == 3


@pytest.mark.parametrize("args", [["--help"], ["report", "{run}"], ["report", "{run}", "-f", "md"]])
def test_commands_without_training_do_not_import_torch(args: list[str], tmp_path: Path) -> None:
    from perfkit.report import save_run
    from tests.factories import steady_run

    run_path = save_run(steady_run(), tmp_path / "run.json")
    argv = [a.replace("{run}", str(run_path)) for a in args]
    code = (
        "import sys\n"
        "from perfkit.cli import app\n"
        "try:\n"
        f"    app({argv!r})\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr


def test_every_command_has_a_readme_example() -> None:
    readme = (REPO / "README.md").read_text()
    names = []
    for command in app.registered_commands:
        names.append(command.name or command.callback.__name__)  # type: ignore[union-attr]
    for group in app.registered_groups:
        names.append(group.name)
    for name in names:
        assert f"perfkit {name}" in readme, f"README lacks an example of 'perfkit {name}'"


def test_traced_profile_writes_a_trace_and_reports_it(write_yaml, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    trace_dir = tmp_path / "traces"
    out = tmp_path / "run.json"
    tiny_config["loop"] = {"steps": 6, "warmup_steps": 1}
    result = invoke("profile", write_yaml(tiny_config), "--trace-dir", trace_dir, "--set", "profiler.active=2", "-o", out)
    assert result.exit_code == 0, result.output
    files = list(trace_dir.glob("tiny/*.pt.trace.json"))
    assert len(files) == 1
    assert f"tensorboard --logdir {trace_dir}" in result.stdout
    assert "Step-time breakdown" in result.stdout
    doc = json.loads(out.read_text())
    traced = [s["index"] for s in doc["steps"] if s["traced"]]
    # skip_first = warm-up (1), then wait 1, profiler warm-up 1, active 2: steps 2..4 carry overhead.
    assert traced == [2, 3, 4]
    assert doc["summary"]["steps"]["traced"] == 3 and doc["summary"]["steps"]["measured"] == 3
    assert doc["measurement"]["trace_path"] == str(files[0])
    assert len(doc["trace"]["steps"]) == 2
    # The saved run re-renders with its trace section, and without importing torch.
    again = invoke("report", out)
    assert again.exit_code == 0 and "Step-time breakdown" in again.stdout
    analyzed = invoke("analyze", trace_dir, "--format", "json")
    assert analyzed.exit_code == 0, analyzed.output
    assert json.loads(analyzed.stdout)["analyses"][0]["phase_mapping"] == "perfkit"


def test_unwritable_output_fails_before_training(write_yaml, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = invoke("profile", write_yaml(tiny_config), "-o", tmp_path)
    assert_clean_error(result, "is a directory; give a file name")
    assert "Step breakdown" not in result.stdout  # nothing ran


def test_typed_shorthands_keep_their_text(write_yaml, tiny_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert_clean_error(invoke("profile", write_yaml(tiny_config), "--steps", "0"), "--steps 0: loop.steps: must be at least 1")


@pytest.mark.parametrize("name", ["quickstart", "resnet", "transformer_lm", "mlp"])
def test_shipped_configs_run(name: str, tmp_path: Path) -> None:
    # Short runs: the full `--steps 20` versions are exercised by hand and by gpu_check.sh.
    out = tmp_path / "run.json"
    result = invoke("profile", REPO / "configs" / f"{name}.yaml", "--steps", "2", "--set", "loop.warmup_steps=1", "-q", "-o", out)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["summary"]["steps"]["measured"] == 2
    assert doc["counters"]["flops_per_step"] > 0
    if name == "transformer_lm":
        assert doc["summary"]["throughput"]["tokens_per_s"] > 0


def test_report_plots_every_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from perfkit.report import save_run
    from tests.factories import steady_run

    run_path = save_run(steady_run(), tmp_path / "run.json")
    if importlib.util.find_spec("matplotlib") is not None:
        image = tmp_path / "steps.png"
        result = invoke("report", run_path, "--plot", image, "-f", "md")
        assert result.exit_code == 0, result.output
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        svg = tmp_path / "steps.svg"
        assert invoke("report", run_path, "--plot", svg, "-f", "md").exit_code == 0
        assert b"<svg" in svg.read_bytes()[:400]
        assert_clean_error(invoke("report", run_path, "--plot", tmp_path / "steps.xyz"), "steps.xyz", ".png")
        assert not (tmp_path / "steps.xyz").exists()
        assert_clean_error(invoke("report", run_path, "--plot", tmp_path / "run.json" / "p.png"), "p.png", "choose another path")
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert_clean_error(invoke("report", run_path, "--plot", tmp_path / "x.png"), "--plot needs matplotlib", "perfkit[plot]")
