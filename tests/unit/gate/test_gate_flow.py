"""The gate's rules around the decision (:mod:`perfkit.gate.flow`), on synthetic runs:
--repeats, the baseline plan, --paired, the checks before training, and the warnings
when saved candidate runs were made from another experiment or config."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from perfkit.config.loader import LoadedConfig
from perfkit.config.schema import ExperimentConfig, GateConfig
from perfkit.errors import IncomparableError, InputError
from perfkit.gate import flow
from perfkit.gate.baseline import Baseline
from perfkit.results import RunResult
from tests.unit.gate.gate_synthetic import baseline, runs

CONFIG_PATH = Path("configs/exp.yaml")
TRACE = {"steps": [{"kernels": 40, "ops": 100}], "event_counts": {"cpu_op": 100, "kernel": 40}}


def loaded(**changes: Any) -> LoadedConfig:
    """The config the synthetic runs were made from (name 'exp', batch 8), changed."""
    data = {"name": "exp", "data": {"batch_size": 8}, **changes}
    return LoadedConfig(config=ExperimentConfig.model_validate(data), path=CONFIG_PATH)


def with_config(run_list: tuple[RunResult, ...], **changes: Any) -> tuple[RunResult, ...]:
    return tuple(replace(run, config={**run.config, **changes}) for run in run_list)


GATE = GateConfig()


# --- --repeats and the baseline plan ------------------------------------------------------


def test_repeats_replace_the_policy_and_must_be_positive() -> None:
    assert flow.with_repeats(GATE, None) is GATE
    assert flow.with_repeats(GATE, 8).repeats == 8
    with pytest.raises(InputError, match=r"^--repeats 0: must be at least 1$"):
        flow.with_repeats(GATE, 0)


def test_a_baseline_the_gate_could_never_use_is_refused() -> None:
    flow.check_baseline_plan(GATE, GATE)  # 5 against 5: reachable at alpha 0.01
    with pytest.raises(InputError, match=r"gate: 3 baseline and 5 candidate run\(s\) can never show a significant change.*\(--repeats and gate\.repeats\)"):
        flow.check_baseline_plan(flow.with_repeats(GATE, 3), GATE)
    # A policy of counters only needs no statistics: one baseline run is enough.
    counters = GateConfig(metrics=("flops_per_step", "parameters"))
    flow.check_baseline_plan(flow.with_repeats(counters, 1), counters)


# --- saved candidate runs -------------------------------------------------------------------


def test_saved_runs_from_the_given_config_pass_without_warnings() -> None:
    result = flow.gate_saved_runs(loaded(), baseline(), runs(2), "runs/head-1.json", GATE)
    assert result.passed and result.warnings == ()


def test_paired_saved_runs_need_one_candidate_per_baseline_run() -> None:
    with pytest.raises(InputError, match=r"^--paired needs as many candidate runs as baseline runs \(3 vs 5\)$"):
        flow.gate_saved_runs(loaded(), baseline(), runs(2, n=3), "c.json", GATE, paired=True)


def test_another_experiment_name_is_warned_about() -> None:
    other = tuple(replace(run, name="other-exp") for run in with_config(runs(2), name="other-exp"))
    result = flow.gate_saved_runs(loaded(), baseline(), other, "runs/head-1.json … (5 runs)", GATE)
    assert result.passed  # the gate still decides
    assert result.warnings == (
        "runs/head-1.json … (5 runs): the candidate runs are of experiment 'other-exp', not 'exp' of "
        "configs/exp.yaml; pass the config the runs were made with",
    )


def test_another_config_is_warned_about_with_its_hash_and_keys() -> None:
    changed = with_config(runs(2), optimizer={"name": "adam", "lr": 0.5})
    result = flow.gate_saved_runs(loaded(), baseline(), changed, "c.json", GATE)
    assert len(result.warnings) == 1
    warning = result.warnings[0]
    ours = flow.config_hash(flow.comparable_config(loaded().config.model_dump(mode="json")))
    theirs = flow.config_hash(flow.comparable_config(changed[0].config))
    assert ours != theirs
    assert warning.startswith(f"c.json: the candidate runs were made with another config (hash {theirs}, configs/exp.yaml: {ours}; ")
    assert "differs in optimizer.lr, optimizer.name)" in warning
    # The name is not part of the hash: a renamed experiment gives only the name warning.
    renamed = flow.gate_saved_runs(loaded(name="renamed"), baseline(), runs(2), "c.json", GATE)
    assert len(renamed.warnings) == 1 and "of experiment 'exp', not 'renamed'" in renamed.warnings[0]


def test_where_traces_go_and_the_gate_policy_are_not_part_of_the_hash() -> None:
    """ci_perf_gate.sh makes each run with its own --trace-dir; the gate's policy may come
    from --policy: neither changes what was measured."""
    traced = with_config(runs(2), profiler={"enabled": True, "dir": "/tmp/traces/head-1"}, gate={"threshold": 0.5})
    assert flow.gate_saved_runs(loaded(), baseline(), traced, "c.json", GATE).warnings == ()
    # Keys added to the schema since a run was saved are compared at their defaults.
    assert flow.comparable_config({"name": "exp", "data": {"batch_size": 8}}) == flow.comparable_config(
        loaded().config.model_dump(mode="json")
    )


def test_differing_keys_are_dotted() -> None:
    a = {"model": {"name": "convnet", "params": {"width": 4}}, "seed": 0}
    b = {"model": {"name": "convnet", "params": {"width": 8, "depth": 2}}, "seed": 0}
    assert flow.differing_keys(a, b) == ["model.params.depth", "model.params.width"]
    assert flow.differing_keys(a, a) == []


def test_warnings_round_trip_and_are_rendered() -> None:
    from perfkit.gate.engine import GateResult
    from perfkit.render.gate_report import gate_junit, gate_markdown

    other = tuple(replace(run, name="other-exp") for run in runs(2))
    result = flow.gate_saved_runs(loaded(), baseline(), other, "c.json", GATE)
    assert GateResult.from_dict(result.to_dict()) == result
    assert f"> Warning: {result.warnings[0]}" in gate_markdown(result)
    assert f'name="warning.1" value="{result.warnings[0]}"' in gate_junit(result)


def test_a_counter_missing_from_the_candidate_runs_blames_them() -> None:
    traced_baseline = Baseline(name="exp", created_at="", runs=runs(1, trace=TRACE), source="baselines/exp.json")
    with pytest.raises(IncomparableError) as caught:
        flow.gate_saved_runs(loaded(), traced_baseline, runs(2), "runs/head-1.json … (5 runs)", GATE)
    message = caught.value.message
    assert message.startswith(
        "runs/head-1.json … (5 runs): the candidate runs did not measure gated trace.kernels_per_step, "
        "trace.ops_per_step, which the baseline did; make them with a trace (perfkit profile --trace -o run.json)"
    ), message
    assert "baselines/exp.json" not in message and "re-record the baseline" not in message


def test_a_counter_missing_from_the_baseline_still_blames_the_baseline() -> None:
    with pytest.raises(IncomparableError, match=r"^baselines/exp\.json: gated metrics cannot be compared \(trace\.kernels_per_step: not measured in baseline"):
        flow.gate_saved_runs(loaded(), baseline(), runs(2, trace=TRACE), "c.json", GATE)


# --- runs made now ------------------------------------------------------------------------------


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the runs with synthetic ones, and record what would have trained."""
    import perfkit.gate.runs as gate_runs

    calls: list[str] = []

    def fake_runs(loaded_config: LoadedConfig, gate: GateConfig, progress: Any = None) -> list[RunResult]:
        calls.append("run_repeats")
        return list(runs(3, n=gate.repeats))

    monkeypatch.setattr(gate_runs, "run_repeats", fake_runs)
    monkeypatch.setattr(gate_runs, "precheck", lambda *args: calls.append("precheck"))
    return calls


def test_runs_made_now_are_checked_then_judged(no_training: list[str]) -> None:
    result = flow.gate_new_runs(loaded(), baseline(), GATE)
    assert no_training == ["precheck", "run_repeats"]
    assert result.passed and result.warnings == ()


def test_runs_made_now_cannot_be_paired(no_training: list[str]) -> None:
    with pytest.raises(InputError, match=r"--paired applies to saved runs \(--candidate\)"):
        flow.gate_new_runs(loaded(), baseline(), GATE, paired=True)
    assert no_training == []


def test_too_few_baseline_runs_are_refused_before_training(no_training: list[str]) -> None:
    one = Baseline(name="exp", created_at="", runs=runs(1, n=1), source="run.json")
    with pytest.raises(InputError, match=r"gate: 1 baseline and 5 candidate run\(s\) can never show a significant change"):
        flow.gate_new_runs(loaded(), one, GATE)
    assert no_training == []


def test_a_counter_missing_from_runs_made_now_points_at_gate_trace(no_training: list[str]) -> None:
    traced_baseline = Baseline(name="exp", created_at="", runs=runs(1, trace=TRACE), source="baselines/exp.json")
    with pytest.raises(IncomparableError, match=r"^the runs made now did not measure gated trace\.kernels_per_step, trace\.ops_per_step, which the baseline did; set gate\.trace: true"):
        flow.gate_new_runs(loaded(), traced_baseline, GATE.model_copy(update={"trace": False}))
