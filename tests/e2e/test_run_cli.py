"""`perfkit run` on unmodified scripts (examples/), end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from perfkit.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PHASES = ("data", "h2d", "forward", "backward", "optimizer", "other")


def _run(*args: str) -> object:
    return CliRunner().invoke(app, ["run", *args])


def _steps(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return json.loads(path.read_text())["steps"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("script", "samples"),
    [("plain_loop.py", 32), ("grad_accumulation.py", 4 * 16), ("dict_model.py", 8), ("gan.py", 32)],
)
def test_examples_give_phases_that_add_up_and_runs_compare_accepts(tmp_path: Path, script: str, samples: int) -> None:
    runs = []
    for i in range(2):
        out = tmp_path / f"{i}.json"
        result = _run("--warmup", "1", "--steps", "3", "-q", "-o", str(out), str(EXAMPLES / script))
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        runs.append(out)
        steps = _steps(out)
        assert len(steps) == 4
        for step in steps:
            # An independent check on the raw file: phases + other = step.
            assert sum(step["host_ms"][p] for p in PHASES) == pytest.approx(step["step_host_ms"], rel=1e-9)
            assert step["samples"] == samples  # one step per optimizer cycle
            assert step["host_ms"]["forward"] > 0 and step["host_ms"]["backward"] > 0
            assert step["host_ms"]["optimizer"] > 0 and step["host_ms"]["data"] > 0
    compared = CliRunner().invoke(app, ["compare", str(runs[0]), str(runs[1])])
    assert compared.exit_code == 0, compared.output


def test_gan_steps_hold_both_optimizers(tmp_path: Path) -> None:
    out = tmp_path / "gan.json"
    assert _run("--warmup", "1", "--steps", "2", "-q", "-o", str(out), str(EXAMPLES / "gan.py")).exit_code == 0  # type: ignore[attr-defined]
    config = json.loads(out.read_text())["config"]
    assert config["optimizer"]["count"] == 2 and config["source"] == "script"
    assert config["script"].endswith("gan.py")


def _truth_minima(path: Path) -> dict[str, float]:
    truth = json.loads(path.read_text())
    return {phase: min(values) for phase, values in truth.items()}


def test_known_costs_land_in_their_phases_through_perfkit_run(tmp_path: Path) -> None:
    """data, forward and backward each busy-wait a known time; the script records how long
    each wait really took (its own clock), and perfkit's phase must be within 5%. Minima
    over steps on both sides: a busy machine's preemptions only ever add time, so the
    least-disturbed step is the one that shows attribution, not load."""
    out, truth = tmp_path / "run.json", tmp_path / "truth.json"
    result = _run(
        "--warmup", "2", "--steps", "6", "-q", "-o", str(out), str(EXAMPLES / "known_costs.py"),
        "--data-ms", "30", "--forward-ms", "40", "--backward-ms", "35", "--truth", str(truth),
    )  # fmt: skip
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    expected = _truth_minima(truth)
    measured = [s for s in _steps(out) if not s["warmup"]]
    for phase, ms in expected.items():
        least = min(s["host_ms"][phase] for s in measured)
        assert least == pytest.approx(ms, rel=0.05), phase


def test_known_costs_land_in_their_phases_through_the_api(tmp_path: Path) -> None:
    import time

    import torch

    import perfkit

    def spin(ms: float, record: list[float]) -> None:
        start = time.perf_counter()
        while time.perf_counter() - start < ms / 1e3:
            pass
        record.append((time.perf_counter() - start) * 1e3)

    truth: dict[str, list[float]] = {"data": [], "forward": [], "backward": []}

    class Slow(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            return x.clone()

        @staticmethod
        def backward(ctx, grad):  # type: ignore[no-untyped-def]
            spin(35, truth["backward"])
            return grad

    def batches():  # type: ignore[no-untyped-def]
        while True:
            spin(30, truth["data"])
            yield torch.ones(2, 4)

    layer = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(layer.parameters(), lr=0.01)
    with perfkit.Session("known", device="cpu", warmup_steps=2, steps=6) as s:
        for x in s.data(batches()):
            with s.phase("forward"):
                spin(40, truth["forward"])
                loss = Slow.apply(layer(x)).sum()
            with s.phase("backward"):
                loss.backward()
            with s.phase("optimizer"):
                opt.step()
                opt.zero_grad()
            s.step()
    measured = s.result.measured_steps
    for phase, values in truth.items():  # minima: see the perfkit run test above
        least = min(st.host_ms[phase] for st in measured)
        assert least == pytest.approx(min(values), rel=0.05), phase


def test_a_script_error_is_the_scripts_own(tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text(
        "import torch\nfrom torch.utils.data import DataLoader\n"
        "m = torch.nn.Linear(2, 2); o = torch.optim.SGD(m.parameters(), lr=0.1)\n"
        "for i, x in enumerate(DataLoader(torch.ones(64, 2), batch_size=2)):\n"
        "    m(x).sum().backward(); o.step()\n"
        "    if i == 4:\n"
        "        raise ValueError('bad batch in user code')\n"
    )
    out = tmp_path / "run.json"
    result = CliRunner().invoke(app, ["run", "--warmup", "1", "--steps", "50", "-q", "-o", str(out), str(script)])
    assert result.exit_code == 1
    assert "ValueError: bad batch in user code" in result.output
    assert str(script) in result.output and "perfkit/runtime" not in result.output  # the script's traceback
    saved = json.loads(out.read_text())
    assert saved["partial"] is True and len(saved["steps"]) == 4  # the finished steps are kept


def test_a_script_that_never_steps_an_optimizer_says_which_hook(tmp_path: Path) -> None:
    script = tmp_path / "eval_only.py"
    script.write_text("import torch\nm = torch.nn.Linear(2, 2)\nfor _ in range(3):\n    m(torch.ones(1, 2))\n")
    result = CliRunner().invoke(app, ["run", str(script)])
    assert result.exit_code == 2
    assert "no optimizer step ran" in result.output and "Traceback" not in result.output


def test_no_stop_lets_the_script_finish_and_its_output_passes_through(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--warmup", "1", "--steps", "2", "--no-stop", "-q", str(EXAMPLES / "plain_loop.py"), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert "epoch 0: loss" in result.output and "epoch 1: loss" in result.output
    stopped = CliRunner().invoke(app, ["run", "--warmup", "1", "--steps", "2", "-q", str(EXAMPLES / "plain_loop.py"), "--epochs", "2"])
    assert stopped.exit_code == 0 and "epoch 1: loss" not in stopped.output  # stopped after 3 of 32 steps


def test_a_missing_script_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(tmp_path / "nope.py")])
    assert result.exit_code == 2 and "nope.py: no such script" in result.output
