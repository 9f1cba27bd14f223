"""perfkit.Session on a user's own loop: exact attribution on a fake clock, agreement with
the YAML loop, warm-up, misuse errors, partial results, FLOPs and the saved result."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from torch.utils.data import DataLoader

import perfkit
from perfkit.config import load_config
from perfkit.report import load_run
from perfkit.results import ALL_PHASES, PHASES
from perfkit.runtime.clock import FakeClock
from perfkit.runtime.runner import run_experiment
from perfkit.summary import summarize

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
sys.path.insert(0, str(HELPERS))
phase_costs = importlib.import_module("phase_costs")
sys.path.remove(str(HELPERS))


def _costly_parts(item_ms: float, fwd: float, bwd: float) -> tuple[DataLoader[Any], torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    data = phase_costs.CostlyData(item_ms=item_ms, mode="fake")
    loader = DataLoader(data, batch_size=2, shuffle=False, drop_last=True)
    model = phase_costs.CostlyModel(forward_ms=fwd, backward_ms=bwd, mode="fake")
    return loader, model, torch.optim.SGD(model.parameters(), lr=0.01)


def _own_loop(session: perfkit.Session, loader: DataLoader[Any], model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
    while not session.done:
        for x, y in session.data(loader):
            with session.phase("h2d"):
                x, y = x.to("cpu"), y.to("cpu")
            with session.phase("forward"):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            with session.phase("backward"):
                loss.backward()
            with session.phase("optimizer"):
                opt.step()
                opt.zero_grad(set_to_none=True)
            session.step(loss=loss.detach())


def test_a_plain_loop_is_attributed_exactly_on_a_fake_clock() -> None:
    loader, model, opt = _costly_parts(item_ms=3.0, fwd=10.0, bwd=20.0)
    with perfkit.Session("api", device="cpu", warmup_steps=2, steps=4, clock=phase_costs.CLOCK, model=model) as s:
        _own_loop(s, loader, model, opt)
    result = s.result
    assert [st.warmup for st in result.steps] == [True, True, False, False, False, False]
    for step in result.steps:
        assert step.host_ms["data"] == pytest.approx(6.0)  # two items × 3 ms
        assert step.host_ms["forward"] == pytest.approx(10.0)
        assert step.host_ms["backward"] == pytest.approx(20.0)
        assert step.host_ms["other"] == pytest.approx(0.0, abs=1e-9)
        assert step.step_host_ms == pytest.approx(36.0)
        assert sum(step.host_ms[p] for p in ALL_PHASES) == pytest.approx(step.step_host_ms, rel=1e-12)
        assert step.samples == 2  # counted from the batches data() yielded
        assert step.loss is not None and step.loss > 0
    summary = summarize(result)
    assert summary.measured_steps == 4 and summary.warmup_steps == 2
    assert summary.samples_per_s == pytest.approx(2 / 0.036)
    assert result.config["source"] == "api"
    assert result.config["data"]["batch_size"] == 2
    assert result.config["optimizer"]["name"] == "sgd"
    assert result.measurement.optimizer_variant == "for-loop"
    assert result.counters.parameters == sum(p.numel() for p in model.parameters())


def test_the_api_agrees_with_the_yaml_loop_on_the_same_model(tmp_path: Path) -> None:
    """The YAML loop is a user of the Session: on the same model, data and fake costs the
    per-phase medians are identical (the same core measured both)."""
    config = {
        "name": "yaml",
        "device": "cpu",
        "model": {"name": "phase_costs:CostlyModel", "params": {"forward_ms": 7.0, "backward_ms": 11.0, "mode": "fake"}},
        "data": {"name": "phase_costs:CostlyData", "params": {"item_ms": 2.5, "mode": "fake"}, "batch_size": 2, "shuffle": False},
        "optimizer": {"name": "sgd", "lr": 0.01},
        "loop": {"steps": 5, "warmup_steps": 1, "track_grad_norm": False},
    }
    path = tmp_path / "agree.yaml"  # "phase_costs" resolves to the module imported above
    path.write_text(yaml.safe_dump(config))
    yaml_run = summarize(run_experiment(load_config(path), clock=phase_costs.CLOCK))
    loader, model, opt = _costly_parts(item_ms=2.5, fwd=7.0, bwd=11.0)
    with perfkit.Session("api", device="cpu", warmup_steps=1, steps=5, clock=phase_costs.CLOCK) as s:
        _own_loop(s, loader, model, opt)
    api_run = summarize(s.result)
    for phase in ALL_PHASES:
        a, b = api_run.phase(phase), yaml_run.phase(phase)
        assert a is not None and b is not None
        assert a.host.median == pytest.approx(b.host.median, abs=1e-9), phase
    assert api_run.step is not None and yaml_run.step is not None
    assert api_run.step.median == pytest.approx(yaml_run.step.median)


def test_time_outside_named_phases_is_other_and_steps_are_contiguous() -> None:
    clock = FakeClock()
    with perfkit.Session("gaps", device="cpu", warmup_steps=0, clock=clock) as s:
        for _ in range(3):
            clock.advance(0.004)  # before the first phase: this step's `other`
            with s.phase("forward"):
                clock.advance(0.010)
            clock.advance(0.002)  # between phases: `other`
            with s.phase("optimizer"):
                clock.advance(0.001)
            s.step(samples=8)
            clock.advance(0.003)  # after step(): the next step's `other`
    steps = s.result.steps
    # The first step starts at its first phase; later ones where step() returned.
    assert steps[0].host_ms["other"] == pytest.approx(2.0)
    assert steps[1].host_ms["other"] == pytest.approx(3.0 + 4.0 + 2.0)
    assert steps[1].step_host_ms == pytest.approx(20.0)
    for step in steps:
        assert step.host_ms["forward"] == pytest.approx(10.0)
        assert sum(step.host_ms[p] for p in ALL_PHASES) == pytest.approx(step.step_host_ms)


def test_misuse_is_one_clear_error() -> None:
    with perfkit.Session("bad", device="cpu", warmup_steps=0) as s:
        with pytest.raises(perfkit.SessionError, match=r"unknown phase 'fwd'; use one of data, h2d, forward, backward, optimizer"):
            s.phase("fwd")
        with s.phase("forward"), pytest.raises(perfkit.SessionError, match="phases do not nest"), s.phase("backward"):
            pass
        with s.phase("forward"), pytest.raises(perfkit.SessionError, match="inside phase 'forward'"):
            s.step()
    with pytest.raises(perfkit.SessionError, match="finished"):
        s.step()
    with pytest.raises(perfkit.SessionError, match="warmup_steps"):
        perfkit.Session(warmup_steps=-1)


def test_ctrl_c_keeps_the_finished_steps_and_saves_them(tmp_path: Path) -> None:
    clock = FakeClock()
    out = tmp_path / "partial.json"
    with pytest.raises(KeyboardInterrupt), perfkit.Session("int", device="cpu", warmup_steps=1, clock=clock, output=out) as s:
        for i in range(10):
            with s.phase("forward"):
                clock.advance(0.005)
                if i == 4:
                    raise KeyboardInterrupt
            s.step(samples=1)
    result = s.result
    assert result.partial and len(result.steps) == 4  # the interrupted step is discarded
    saved = load_run(out)
    assert saved.partial and [st.index for st in saved.steps] == [0, 1, 2, 3]


def test_steps_limit_ends_data_iteration() -> None:
    loader, _, _ = _costly_parts(item_ms=0.0, fwd=0.0, bwd=0.0)
    with perfkit.Session("limit", device="cpu", warmup_steps=1, steps=3, clock=phase_costs.CLOCK) as s:
        seen = 0
        for _ in s.data(loader):
            seen += 1
            s.step()
        assert s.done
    assert seen == 4 and len(s.result.steps) == 4


def test_flops_are_counted_in_the_last_warmup_step() -> None:
    """A linear layer trained on a plain loop: FLOPs per step = forward 2·B·in·out plus the
    weight gradient of the same size (the input needs no gradient), counted by hand."""
    b, n_in, n_out = 8, 32, 16
    layer = torch.nn.Linear(n_in, n_out)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    with perfkit.Session("flops", device="cpu", warmup_steps=2, steps=2, model=layer) as s:
        for _ in range(4):
            with s.phase("forward"):
                loss = layer(torch.randn(b, n_in)).square().mean()
            with s.phase("backward"):
                loss.backward()
            with s.phase("optimizer"):
                opt.step()
                opt.zero_grad()
            s.step(samples=b)
    counters = s.result.counters
    assert counters.flops_per_step == 2 * (2 * b * n_in * n_out)
    assert counters.flops_dtype == "fp32"
    assert counters.parameters == n_in * n_out + n_out
    assert counters.samples_per_step == b


def test_a_saved_session_round_trips_and_reports(tmp_path: Path) -> None:
    loader, model, opt = _costly_parts(item_ms=1.0, fwd=2.0, bwd=3.0)
    with perfkit.Session("saved", device="cpu", warmup_steps=1, steps=3, clock=phase_costs.CLOCK) as s:
        _own_loop(s, loader, model, opt)
    path = s.save(tmp_path / "run.json")
    raw = json.loads(path.read_text())
    assert raw["kind"] == "perfkit.run" and raw["config"]["source"] == "api"
    loaded = load_run(path)
    assert loaded.to_dict() == s.result.to_dict()
    for step in raw["steps"]:  # an independent check of the saved numbers
        assert sum(step["host_ms"][p] for p in (*PHASES, "other")) == pytest.approx(step["step_host_ms"])
