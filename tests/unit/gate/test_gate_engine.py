"""The gate decision on synthetic runs: pass when unchanged, fail on a counter change or a
real slowdown, refuse incomparable baselines."""

from __future__ import annotations

import pytest

from perfkit.compare.model import Status
from perfkit.config.schema import GateConfig
from perfkit.errors import IncomparableError
from perfkit.gate import compare_policy, evaluate_gate
from tests.unit.compare.compare_synthetic import environment
from tests.unit.gate.gate_synthetic import baseline, runs

POLICY = compare_policy(GateConfig())


def test_unchanged_run_passes() -> None:
    for seed in range(2, 12):
        result = evaluate_gate(baseline(), runs(seed), POLICY)
        assert result.passed, (seed, result.failures)
        assert result.failures == ()


def test_counter_change_fails_exactly() -> None:
    # Twice the parameters (a layer twice as wide): no statistics needed, no tolerance.
    result = evaluate_gate(baseline(), runs(3, parameters=1020, flops=3_546_624), POLICY)
    assert not result.passed
    assert set(result.failures) == {"parameters", "flops_per_step"}
    params = next(m for m in result.gated if m.metric == "parameters")
    assert params.kind == "counter" and params.verdict.status is Status.REGRESSED


def test_tiny_counter_change_within_tolerance_passes() -> None:
    candidate = runs(3, flops=1_773_312 + 100)
    assert not evaluate_gate(baseline(), candidate, POLICY).passed
    tolerant = compare_policy(GateConfig(counter_tolerance=0.001))
    assert evaluate_gate(baseline(), candidate, tolerant).passed


def test_injected_slowdown_fails() -> None:
    result = evaluate_gate(baseline(), runs(4, base_ms=12.5), POLICY)
    assert not result.passed
    assert "step_ms" in result.failures and "throughput.samples_per_s" in result.failures
    step = next(m for m in result.gated if m.metric == "step_ms")
    assert step.ratio is not None and step.ratio > 1.2 and step.ci_low is not None and step.ci_low > 1.1


def test_small_slowdown_below_threshold_passes() -> None:
    assert evaluate_gate(baseline(), runs(5, base_ms=10.4), POLICY).passed


def test_improved_counter_marks_the_baseline_stale() -> None:
    result = evaluate_gate(baseline(), runs(6, flops=1_000_000), POLICY)
    assert result.passed and result.stale == ("flops_per_step",)


def test_environment_change_is_refused_unless_allowed() -> None:
    other = runs(7, env=environment(torch="2.11.0+cpu"))
    with pytest.raises(IncomparableError, match=r"baselines/exp\.json: recorded on another environment \(torch 2\.13\.0\+cpu vs 2\.11\.0\+cpu\).*--allow-env-change"):
        evaluate_gate(baseline(), other, POLICY)
    result = evaluate_gate(baseline(), other, compare_policy(GateConfig(), ignore_environment=True), allow_env_change=True)
    assert result.passed and result.environment_changes == ("torch 2.13.0+cpu vs 2.11.0+cpu",)
    assert all(m.verdict.status is not Status.INCOMPARABLE for m in result.gated)


def test_batch_change_makes_gated_metrics_incomparable() -> None:
    with pytest.raises(IncomparableError, match=r"gated metrics cannot be compared \(step_ms: per step, batch 8 vs 16"):
        evaluate_gate(baseline(), runs(8, batch=16), POLICY)


def test_result_round_trips() -> None:
    from perfkit.gate.engine import GateResult

    result = evaluate_gate(baseline(), runs(9, parameters=1020), POLICY)
    assert GateResult.from_dict(result.to_dict()) == result


def test_too_few_runs_to_ever_be_significant_is_refused() -> None:
    from perfkit.errors import InputError
    from perfkit.gate.baseline import Baseline

    one = Baseline(name="exp", created_at="", runs=runs(1, n=1), source="run.json")
    with pytest.raises(InputError, match=r"gate: 1 baseline and 5 candidate run\(s\) can never show a significant change at alpha 0\.01; use at least 5 runs a side"):
        evaluate_gate(one, runs(2), POLICY)
    # Counters alone need no statistics: one run a side is enough to gate them.
    counters_only = compare_policy(GateConfig(metrics=("flops_per_step", "parameters")))
    assert evaluate_gate(one, runs(2, n=1), counters_only).passed


def test_paired_rounds_use_the_signed_rank_test() -> None:
    from perfkit.compare.model import Design
    from perfkit.errors import InputError

    stored = baseline(n=8)
    with pytest.raises(InputError, match=r"use at least 8 paired rounds"):
        evaluate_gate(baseline(n=5), runs(3, n=5), POLICY, paired=True)
    result = evaluate_gate(stored, runs(3, n=8, base_ms=13.0), POLICY, paired=True)
    step = next(m for m in result.gated if m.metric == "step_ms")
    assert step.design is Design.PAIRED and not result.passed


def test_gated_metrics_nobody_measured_are_listed() -> None:
    result = evaluate_gate(baseline(), runs(2), POLICY)
    assert "step_device_ms" in result.not_measured  # CPU runs have no device time
    assert "step_ms" not in result.not_measured


def test_saved_candidate_runs_are_not_treated_as_made_by_this_process() -> None:
    """Runs read from files (``--candidate``) each had a process of their own: their host
    RSS is theirs, even where it is a lifetime peak, so it stays comparable."""
    from dataclasses import replace

    from perfkit.config.schema import GateConfig as Gate

    policy = compare_policy(Gate(metrics=["flops_per_step", "memory.host_peak_rss_bytes"]))
    lifetime = tuple(replace(r, memory=replace(r.memory, host_peak_rss_scope="process")) for r in runs(3))
    saved = evaluate_gate(baseline(), lifetime, policy, candidate_in_process=False)
    assert saved.passed
    assert not any("ru_maxrss" in n for n in saved.comparison.notes)
    with pytest.raises(IncomparableError, match="lifetime peak of this process"):
        evaluate_gate(baseline(), lifetime, policy, candidate_in_process=True)
