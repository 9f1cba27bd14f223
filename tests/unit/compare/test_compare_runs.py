"""compare_runs on synthetic samples with fixed seeds: verdict rates, designs, incomparables.

Verdicts depend only on the point estimate and the p-value, never on an interval, so
the many-trial tests use few resamples (the bootstrap of the steps design) to stay fast.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import pytest
from compare_synthetic import environment, interleaved_pair, make_run, noisy_steps, single_runs
from numpy.random import default_rng

from perfkit.compare import (
    ComparePolicy,
    Comparison,
    Design,
    MetricComparison,
    RunGroup,
    Status,
    compare_runs,
)
from perfkit.errors import InputError
from perfkit.render.compare_markdown import table_caption

FAST = ComparePolicy(n_resamples=100)
TRIALS = 100


def step_verdicts(trials: int, **kwargs: object) -> Counter[Status]:
    out: Counter[Status] = Counter()
    for seed in range(trials):
        out[compare_runs(interleaved_pair(seed, **kwargs), FAST).get("step_ms").status] += 1  # type: ignore[arg-type]
    return out


def test_identical_distributions_are_unchanged() -> None:
    counts = step_verdicts(TRIALS, rounds=10, ratio=1.0, drift_sd=0.08, run_sd=0.02, step_sd=0.05)
    assert counts[Status.UNCHANGED] >= 0.95 * TRIALS


def test_run_offsets_do_not_fool_the_paired_design() -> None:
    """The trap: ±10% run offsets. Rounds as units keep false regressions rare."""
    counts = step_verdicts(TRIALS, rounds=10, ratio=1.0, drift_sd=0.1, run_sd=0.1, step_sd=0.05)
    assert counts[Status.REGRESSED] <= 0.05 * TRIALS
    assert counts[Status.IMPROVED] <= 0.05 * TRIALS


def test_pooled_steps_would_be_fooled_so_one_run_a_side_never_concludes() -> None:
    """The same noise, one run a side: the per-step test mistakes run offsets for effects,
    so a single-run comparison reports the change as noisy instead of concluding."""
    significant = 0
    for seed in range(40):
        row = compare_runs(single_runs(seed, ratio=1.0, run_sd=0.1), FAST).get("step_ms")
        assert row.design is Design.STEPS
        significant += row.significant and row.status is Status.NOISY
        assert row.status not in (Status.REGRESSED, Status.IMPROVED)
    assert significant >= 0.3 * 40  # the step-level test alone would have flagged these
    row = compare_runs(single_runs(0, ratio=1.5, run_sd=0.01), FAST).get("step_ms")
    assert row.status is Status.NOISY and row.verdict.reason == "one run a side: run-to-run noise unmeasured"
    assert row.ratio is not None and row.ratio > 1.4  # the estimate is still shown


def test_ten_percent_slowdown_is_regressed() -> None:
    counts = step_verdicts(30, rounds=12, ratio=1.10, drift_sd=0.08, run_sd=0.02, step_sd=0.05)
    assert counts[Status.REGRESSED] >= 0.9 * 30


def test_ten_percent_speedup_is_improved() -> None:
    counts = step_verdicts(30, rounds=12, ratio=1 / 1.10, drift_sd=0.08, run_sd=0.02, step_sd=0.05)
    assert counts[Status.IMPROVED] >= 0.9 * 30


def test_shift_buried_in_noise_is_noisy() -> None:
    counts = step_verdicts(30, rounds=10, ratio=1.10, drift_sd=0.1, run_sd=0.35, step_sd=0.2)
    assert counts[Status.NOISY] >= 0.6 * 30
    assert counts[Status.REGRESSED] + counts[Status.IMPROVED] <= 0.2 * 30


def test_throughput_direction() -> None:
    groups = interleaved_pair(1, rounds=12, ratio=1.15, run_sd=0.02)
    cmp = compare_runs(groups, FAST)
    row = cmp.get("throughput.samples_per_s")
    assert row.ratio is not None and row.ratio < 1
    assert row.status is Status.REGRESSED


def _with_env(groups: list[RunGroup], **changes: object) -> list[RunGroup]:
    base, cand = groups
    runs = tuple(replace(r, environment=environment(**changes)) for r in cand.runs)
    return [base, replace(cand, runs=runs)]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"torch": "2.11.0+cpu"}, "torch 2.13.0+cpu vs 2.11.0+cpu"),
        ({"cpu_count": 16}, "CPU count 2 vs 16"),
        ({"device_type": "cuda", "device_name": "NVIDIA H100"}, "device cpu vs cuda (NVIDIA H100)"),
    ],
)
def test_environment_differences_are_incomparable(changes: dict[str, object], reason: str) -> None:
    cmp = compare_runs(_with_env(interleaved_pair(0, rounds=8), **changes), FAST)
    for row in cmp.metrics:
        if row.metric == "parameters":
            assert row.status is Status.UNCHANGED
            continue
        assert row.status is Status.INCOMPARABLE, row.metric
        assert row.verdict.reason == reason
    assert any("different environments" in n for n in cmp.notes)


def test_ignore_environment_compares_anyway() -> None:
    groups = _with_env(interleaved_pair(0, rounds=10, ratio=1.2), torch="2.11.0+cpu")
    cmp = compare_runs(groups, replace(FAST, ignore_environment=True))
    assert cmp.get("step_ms").status is Status.REGRESSED
    assert any("compared anyway" in n for n in cmp.notes)
    assert Comparison.from_dict(cmp.to_dict()).policy.ignore_environment


def test_soft_environment_differences_are_a_note() -> None:
    cmp = compare_runs(_with_env(interleaved_pair(0, rounds=8), hostname="other"), FAST)
    assert cmp.get("step_ms").status is not Status.INCOMPARABLE
    assert any("host ci-box vs other" in n for n in cmp.notes)


def test_batch_size_makes_per_step_metrics_incomparable() -> None:
    rng = default_rng(0)
    base = RunGroup("b8", tuple(make_run(noisy_steps(rng, 10, 20, 0, 0.05), batch=8) for _ in range(8)), tuple(range(8)))
    big = RunGroup("b16", tuple(make_run(noisy_steps(rng, 20, 20, 0, 0.05), batch=16) for _ in range(8)), tuple(range(8)))
    cmp = compare_runs([base, big], FAST)
    for name in ("step_ms", "phase.forward.host_ms", "flops_per_step"):
        row = cmp.get(name)
        assert row.status is Status.INCOMPARABLE
        assert row.verdict.reason == "per step, batch 8 vs 16"
    throughput = cmp.get("throughput.samples_per_s")
    assert throughput.status is Status.UNCHANGED
    assert cmp.get("memory.host_peak_rss_bytes").status is not Status.INCOMPARABLE
    assert any("batch 8 vs 16" in n and "throughput" in n for n in cmp.notes)


def _rss_scope(group: RunGroup, scope: str | None) -> RunGroup:
    runs = tuple(replace(r, memory=replace(r.memory, host_peak_rss_scope=scope)) for r in group.runs)
    return replace(group, runs=runs, in_process=True)


def test_in_process_lifetime_rss_is_incomparable() -> None:
    base, cand = interleaved_pair(0, rounds=8)
    cmp = compare_runs([_rss_scope(base, "process"), _rss_scope(cand, "process")], FAST)
    row = cmp.get("memory.host_peak_rss_bytes")
    assert row.status is Status.INCOMPARABLE
    assert row.verdict.reason == "lifetime peak of this process"
    assert any("ru_maxrss" in n for n in cmp.notes)


def test_in_process_rss_reset_per_run_is_compared() -> None:
    base, cand = interleaved_pair(0, rounds=8)
    cmp = compare_runs([_rss_scope(base, "measured"), _rss_scope(cand, "measured")], FAST)
    assert cmp.get("memory.host_peak_rss_bytes").status is not Status.INCOMPARABLE
    assert not any("ru_maxrss" in n for n in cmp.notes)
    # One lifetime-scoped run (e.g. saved by an older perfkit, scope absent) spoils it again.
    mixed = replace(cand, runs=(replace(cand.runs[0], memory=replace(cand.runs[0].memory, host_peak_rss_scope=None)), *cand.runs[1:]))
    cmp = compare_runs([_rss_scope(base, "measured"), replace(mixed, in_process=True)], FAST)
    assert cmp.get("memory.host_peak_rss_bytes").status is Status.INCOMPARABLE


def test_metric_missing_on_one_side() -> None:
    trace = {"steps": [{"kernels": 10}], "event_counts": {"cpu_op": 50}}
    base = RunGroup("a", (make_run([10.0, 10.0], trace=trace),))
    cand = RunGroup("b", (make_run([10.0, 10.0]),))
    row = compare_runs([base, cand], FAST).get("trace.kernels_per_step")
    assert row.status is Status.INCOMPARABLE
    assert row.verdict.reason == "not measured in b"


def test_counters_exact_and_tolerance() -> None:
    base = RunGroup("a", (make_run([10.0, 10.0], flops=1_000_000),))
    cand = RunGroup("b", (make_run([10.0, 10.0], flops=1_000_500),))
    exact = compare_runs([base, cand], FAST).get("flops_per_step")
    assert exact.status is Status.REGRESSED and exact.test == "exact" and exact.design is Design.COUNTER
    assert exact.p_value is None
    loose = compare_runs([base, cand], replace(FAST, counter_mode="tolerance", counter_tolerance=0.001)).get("flops_per_step")
    assert loose.status is Status.UNCHANGED and loose.test == "tolerance"


def test_thresholds_pattern_sets_a_counters_tolerance() -> None:
    base = RunGroup("a", (make_run([10.0, 10.0], flops=1_000_000),))
    cand = RunGroup("b", (make_run([10.0, 10.0], flops=1_015_000),))  # +1.5%

    def flops(policy: ComparePolicy) -> MetricComparison:
        return compare_runs([base, cand], policy).get("flops_per_step")

    exact = flops(replace(FAST, threshold=0.5))  # the global threshold never applies to counters
    assert (exact.status, exact.threshold, exact.test) == (Status.REGRESSED, 0.0, "exact")
    loose = flops(replace(FAST, thresholds=(("flops_per_step", 0.02),)))
    assert (loose.status, loose.threshold, loose.test) == (Status.UNCHANGED, 0.02, "tolerance")
    tight = flops(replace(FAST, thresholds=(("flops_*", 0.01),), counter_mode="tolerance", counter_tolerance=0.05))
    assert (tight.status, tight.threshold) == (Status.REGRESSED, 0.01)  # the explicit pattern wins
    other = flops(replace(FAST, thresholds=(("step_ms", 0.5),), counter_mode="tolerance", counter_tolerance=0.001))
    assert (other.status, other.threshold) == (Status.REGRESSED, 0.001)  # no pattern: the counter mode
    assert flops(replace(FAST, thresholds=(("*", 0.02),))).status is Status.UNCHANGED
    caption = table_caption(compare_runs([base, cand], replace(FAST, thresholds=(("flops_per_step", 0.02),))), "b")
    assert "counters compared exactly (FLOPs/step within 2%)" in caption


def test_intervals_agree_with_p_values_in_compare_runs() -> None:
    """Paired and runs rows: the interval excludes 1 exactly when the row is significant."""
    checked = Counter()
    for seed in range(12):
        groups = interleaved_pair(seed, rounds=10, ratio=1.0 + 0.02 * seed, drift_sd=0.08, run_sd=0.04)
        for cmp in (compare_runs(groups, FAST), compare_runs([replace(g, rounds=None) for g in groups], FAST)):
            for row in cmp.metrics:
                if row.design in (Design.PAIRED, Design.RUNS) and row.p_value is not None:
                    excludes = row.ci_low is not None and row.ci_high is not None and not row.ci_low <= 1.0 <= row.ci_high
                    assert excludes == row.significant, (seed, row)
                    checked[row.design, row.significant] += 1
    assert set(checked) == {(Design.PAIRED, True), (Design.PAIRED, False), (Design.RUNS, True), (Design.RUNS, False)}


def test_designs_and_their_notes() -> None:
    paired = compare_runs(interleaved_pair(0, rounds=10), FAST)
    assert paired.get("step_ms").design is Design.PAIRED
    assert paired.get("step_ms").n_baseline == 10
    few = compare_runs(interleaved_pair(0, rounds=5, ratio=1.5), FAST)
    assert few.get("step_ms").status is Status.NOISY
    assert any("with 5 rounds" in n and "--repeats 8" in n for n in few.notes)
    unpaired = [replace(g, rounds=None) for g in interleaved_pair(0, rounds=6)]
    runs = compare_runs(unpaired, FAST)
    assert runs.get("step_ms").design is Design.RUNS and runs.get("step_ms").test == "mannwhitneyu"
    single = compare_runs(single_runs(0), FAST)
    assert single.get("step_ms").design is Design.STEPS
    assert single.get("step_ms").n_baseline == 30
    assert any("run-to-run noise" in n and "not captured" in n for n in single.notes)


def test_negligible_phase_is_unchanged() -> None:
    cmp = compare_runs(interleaved_pair(0, rounds=10, ratio=1.3), FAST)
    h2d = cmp.get("phase.h2d.host_ms")
    assert h2d.status is Status.UNCHANGED and h2d.verdict.reason == "< 1% of step"
    assert cmp.get("phase.forward.host_ms").status is Status.REGRESSED


def test_gating_and_per_metric_thresholds() -> None:
    groups = interleaved_pair(2, rounds=10, ratio=1.12)
    cmp = compare_runs(groups, FAST)
    assert [r.metric for r in cmp.regressions] == ["step_ms", "throughput.samples_per_s"]
    relaxed = compare_runs(groups, replace(FAST, thresholds=(("step_ms", 0.5),), gated=("step_ms", "phase.*")))
    assert relaxed.get("step_ms").status is Status.UNCHANGED
    assert relaxed.get("step_ms").threshold == 0.5
    assert {r.metric for r in relaxed.regressions} >= {"phase.forward.host_ms"}
    assert not relaxed.get("throughput.samples_per_s").gated


def test_noise_notes() -> None:
    cmp = compare_runs(interleaved_pair(0, rounds=8, step_sd=0.2, run_sd=0.2), FAST)
    assert any("step-to-step noise" in n for n in cmp.notes)
    assert any("run-to-run noise" in n for n in cmp.notes)
    quiet = compare_runs(interleaved_pair(0, rounds=8, step_sd=0.01, run_sd=0.01, drift_sd=0.01), FAST)
    assert not any("noise" in n for n in quiet.notes)


def test_three_inputs() -> None:
    a, b = interleaved_pair(0, rounds=8, labels=("a", "b"))
    _, c = interleaved_pair(1, rounds=8, ratio=1.2, labels=("x", "c"))
    cmp = compare_runs([a, b, c], FAST)
    assert cmp.candidates == ("b", "c")
    assert cmp.get("step_ms", "c").baseline == "a"
    assert len(cmp.rows("b")) == len(cmp.rows("c"))


def test_bad_inputs() -> None:
    a, b = interleaved_pair(0, rounds=2)
    with pytest.raises(InputError, match="at least two inputs"):
        compare_runs([a])
    with pytest.raises(InputError, match="duplicate input label"):
        compare_runs([a, replace(b, label=a.label)])
    with pytest.raises(InputError, match="no runs"):
        RunGroup("x", ())
    with pytest.raises(InputError, match="alpha"):
        ComparePolicy(alpha=0)


def test_deterministic_and_round_trips() -> None:
    groups = interleaved_pair(4, rounds=8, ratio=1.1)
    one = compare_runs(groups)
    two = compare_runs(groups)
    assert one == two
    text = json.dumps(one.to_dict())
    back = Comparison.from_dict(json.loads(text))
    assert back == one
    with pytest.raises(InputError, match="not a perfkit comparison"):
        Comparison.from_dict({"kind": "perfkit.run"})
