"""``compare_runs``: groups of runs → a :class:`~perfkit.compare.model.Comparison`.

The first group is the baseline; every other group is compared with it, metric by
metric (:data:`perfkit.compare.metrics.CATALOGUE` order). For each measured metric the
*design* is chosen from how the runs were made (see :class:`~perfkit.compare.model.Design`):

1. both groups ran interleaved and share at least two rounds → ``paired`` (one unit per
   round; the strongest design: drift cancels within a round);
2. both have at least two runs → ``runs`` (one unit per run, Mann–Whitney U);
3. otherwise → ``steps``: per-step samples, and a note that run-to-run noise is not
   captured; a change past the threshold is then *noisy*, never concluded (one run's
   offset would read as an effect).

The ``paired`` and ``runs`` intervals invert the rank test that gives the p-value (so the
interval excludes 1 exactly when p < alpha, up to ties); ``steps`` uses a seeded
bootstrap (:mod:`perfkit.compare.significance`).

Counters are compared exactly (or within ``counter_tolerance``), without statistics; a
``thresholds`` pattern that matches a counter sets that counter's relative tolerance.
Verdicts follow :mod:`perfkit.compare.verdicts`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perfkit.compare.compat import (
    batch_difference,
    device_label,
    environment_differences,
    incomparable_reason,
    soft_differences,
)
from perfkit.compare.groups import RunGroup
from perfkit.compare.metrics import (
    CATALOGUE,
    STEP,
    STEP_DEVICE,
    MetricSpec,
    MetricValue,
    extract_metrics,
)
from perfkit.compare.model import Comparison, Design, GroupInfo, MetricComparison, Status, Verdict
from perfkit.compare.policy import ComparePolicy
from perfkit.compare.significance import (
    Estimate,
    min_p_paired,
    min_p_unpaired,
    paired_estimate,
    relative_iqr,
    rng_for,
    spread,
    two_sample_estimate,
    unpaired_estimate,
)
from perfkit.compare.verdicts import counter_verdict, measured_verdict, needed_units
from perfkit.errors import InputError
from perfkit.stats import NOISE_WARN_RATIO

RunMetrics = dict[str, MetricValue]


def compare_runs(groups: Sequence[RunGroup], policy: ComparePolicy | None = None) -> Comparison:
    """Compare every group with the first (the baseline) under ``policy``.

    Raises :class:`~perfkit.errors.InputError` for fewer than two groups or duplicate
    labels. Deterministic: the same runs and policy give the same Comparison.
    """
    policy = policy or ComparePolicy()
    if len(groups) < 2:
        raise InputError(f"compare needs at least two inputs, got {len(groups)}")
    labels = [g.label for g in groups]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise InputError(f"duplicate input label(s): {', '.join(duplicates)}; give each input its own --label")
    extracted = {g.label: [extract_metrics(r) for r in g.runs] for g in groups}
    baseline = groups[0]
    rows: list[MetricComparison] = []
    notes: list[str] = []
    for candidate in groups[1:]:
        design = choose_design(baseline, candidate)
        for spec in CATALOGUE:
            base_values = _values(extracted[baseline.label], spec)
            cand_values = _values(extracted[candidate.label], spec)
            if not base_values and not cand_values:
                continue
            rows.append(
                _compare_metric(
                    spec, baseline, candidate, extracted, design, policy,
                )
            )
        notes += _pair_notes(baseline, candidate, design, policy, extracted)
    infos = tuple(group_info(g, extracted[g.label]) for g in groups)
    for group, info in zip(groups, infos, strict=True):
        notes += _group_notes(group, info, extracted[group.label])
    if any(g.lifetime_rss_shared for g in groups):
        notes.append(
            "Peak host RSS is the process's lifetime peak (ru_maxrss), shared by every run this compare "
            "made, so it is incomparable; compare runs saved by separate 'perfkit profile --output' calls."
        )
    return Comparison(
        baseline=baseline.label,
        groups=infos,
        metrics=tuple(rows),
        policy=policy,
        notes=tuple(dict.fromkeys(notes)),
    )


def choose_design(baseline: RunGroup, candidate: RunGroup) -> Design:
    """``paired`` with ≥ 2 common rounds, ``runs`` with ≥ 2 runs a side, else ``steps``."""
    if len(common_rounds(baseline, candidate)) >= 2:
        return Design.PAIRED
    if len(baseline.runs) >= 2 and len(candidate.runs) >= 2:
        return Design.RUNS
    return Design.STEPS


def common_rounds(baseline: RunGroup, candidate: RunGroup) -> list[int]:
    if baseline.rounds is None or candidate.rounds is None:
        return []
    return sorted(set(baseline.rounds) & set(candidate.rounds))


def _values(per_run: Sequence[RunMetrics], spec: MetricSpec) -> list[MetricValue]:
    return [m[spec.name] for m in per_run if spec.name in m]


def _center(values: Sequence[MetricValue], design: Design) -> tuple[float, float | None, list[float]]:
    """The group's centre, its spread and the units behind them, for ``design``."""
    if design is Design.STEPS:
        samples = [s for v in values for s in v.samples]
        if samples:
            return float(np.median(samples)), spread(samples), samples
    units = [v.value for v in values]
    return float(np.median(units)), spread(units), units


def _paired_units(
    spec: MetricSpec, baseline: RunGroup, candidate: RunGroup, extracted: dict[str, list[RunMetrics]]
) -> tuple[list[float], list[float]]:
    assert baseline.rounds is not None and candidate.rounds is not None
    base_by_round = dict(zip(baseline.rounds, extracted[baseline.label], strict=True))
    cand_by_round = dict(zip(candidate.rounds, extracted[candidate.label], strict=True))
    a: list[float] = []
    b: list[float] = []
    for r in common_rounds(baseline, candidate):
        if spec.name in base_by_round[r] and spec.name in cand_by_round[r]:
            a.append(base_by_round[r][spec.name].value)
            b.append(cand_by_round[r][spec.name].value)
    return a, b


def _reference_ms(spec: MetricSpec, extracted: Sequence[RunMetrics]) -> float | None:
    """The baseline step a phase's share is measured against (device step for device phases)."""
    names = [STEP_DEVICE.name, STEP.name] if spec.name.endswith(".device_ms") else [STEP.name]
    for name in names:
        values = [m[name].value for m in extracted if name in m]
        if values:
            return float(np.median(values))
    return None


def _compare_metric(
    spec: MetricSpec,
    baseline: RunGroup,
    candidate: RunGroup,
    extracted: dict[str, list[RunMetrics]],
    design: Design,
    policy: ComparePolicy,
) -> MetricComparison:
    base_values = _values(extracted[baseline.label], spec)
    cand_values = _values(extracted[candidate.label], spec)
    gated = policy.is_gated(spec.name)
    kind_design = Design.COUNTER if spec.kind == "counter" else design
    base_center = _center(base_values, kind_design) if base_values else None
    cand_center = _center(cand_values, kind_design) if cand_values else None

    def row(estimate: Estimate, test: str, row_design: Design, threshold: float, significant: bool, verdict: Verdict) -> MetricComparison:
        return MetricComparison(
            metric=spec.name,
            title=spec.title,
            unit=spec.unit,
            direction=spec.direction,
            kind=spec.kind,
            baseline=baseline.label,
            candidate=candidate.label,
            baseline_value=None if base_center is None else base_center[0],
            candidate_value=None if cand_center is None else cand_center[0],
            baseline_spread=None if base_center is None else base_center[1],
            candidate_spread=None if cand_center is None else cand_center[1],
            ratio=estimate.ratio,
            ci_low=estimate.ci_low,
            ci_high=estimate.ci_high,
            confidence=policy.confidence,
            p_value=estimate.p_value,
            min_p=estimate.min_p,
            test=test,
            design=row_design,
            n_baseline=estimate.n_baseline,
            n_candidate=estimate.n_candidate,
            threshold=threshold,
            significant=significant,
            gated=gated,
            verdict=verdict,
        )

    empty = Estimate(None, None, None, None, None, "none", len(base_values), len(cand_values))
    if base_center is None or cand_center is None:
        missing = baseline.label if base_center is None else candidate.label
        verdict = Verdict(Status.INCOMPARABLE, f"not measured in {missing}")  # e.g. no trace
        return row(empty, "none", Design.NONE, policy.threshold_for(spec.name), False, verdict)
    reason = incomparable_reason(spec, baseline, candidate, policy.ignore_environment)
    if reason is not None:
        verdict = Verdict(Status.INCOMPARABLE, reason)
        return row(empty, "none", Design.NONE, policy.threshold_for(spec.name), False, verdict)

    if spec.kind == "counter":
        base, cand = base_center[0], cand_center[0]
        allowance = policy.counter_allowance(spec.name)
        ratio = cand / base if base != 0 else None
        status, significant = counter_verdict(base, cand, allowance, spec.direction)
        estimate = Estimate(ratio, None, None, None, None, "exact", len(base_values), len(cand_values))
        test = "exact" if allowance == 0 else "tolerance"
        return row(estimate, test, Design.COUNTER, allowance, significant, Verdict(status))

    threshold = policy.threshold_for(spec.name)
    if design is Design.PAIRED:
        a, b = _paired_units(spec, baseline, candidate, extracted)
        estimate = paired_estimate(a, b, alpha=policy.alpha)
    elif design is Design.RUNS:
        estimate = two_sample_estimate(base_center[2], cand_center[2], alpha=policy.alpha)
    else:
        rng = rng_for(policy.seed, spec.name, baseline.label, candidate.label)
        estimate = unpaired_estimate(
            base_center[2], cand_center[2], confidence=policy.confidence, n_resamples=policy.n_resamples, rng=rng
        )
    reference = _reference_ms(spec, extracted[baseline.label]) if spec.name.startswith("phase.") else None
    negligible = (
        reference is not None
        and max(base_center[0], cand_center[0]) < policy.negligible_share * reference
    )
    status, significant, why = measured_verdict(
        estimate, threshold=threshold, alpha=policy.alpha, direction=spec.direction, negligible=negligible,
        negligible_share=policy.negligible_share, candidate_center=cand_center[0],
    )
    if design is Design.STEPS and status in (Status.IMPROVED, Status.REGRESSED):
        # Steps of one run share that run's offset: a p-value over steps cannot tell a
        # change from run-to-run noise (3–10% run-to-run noise flags 24–66% of A/A
        # single-run pairs), so such a change is reported, never concluded.
        status, why = Status.NOISY, "one run a side: run-to-run noise unmeasured"
    return row(estimate, estimate.test, design, threshold, significant, Verdict(status, why))


def group_info(group: RunGroup, extracted: Sequence[RunMetrics]) -> GroupInfo:
    """The per-input summary printed above or under the table."""
    first = group.runs[0]
    env = first.environment
    step_values = _values(extracted, STEP)
    run_medians = [v.value for v in step_values]
    step_noises = [n for n in (relative_iqr(v.samples) for v in step_values) if n is not None]
    return GroupInfo(
        label=group.label,
        source=group.source,
        name=first.name,
        runs=len(group.runs),
        rounds=0 if group.rounds is None else len(set(group.rounds)),
        steps_per_run=int(np.median([len(r.measured_steps) for r in group.runs])),
        samples_per_step=first.counters.samples_per_step,
        tokens_per_step=first.counters.tokens_per_step,
        device=device_label(env),
        torch=str(env.torch),
        cpu_count=int(env.cpu_count),
        partial=any(r.partial for r in group.runs),
        step_median_ms=float(np.median(run_medians)) if run_medians else None,
        step_noise=float(np.median(step_noises)) if step_noises else None,
        run_noise=relative_iqr(run_medians),
    )


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _group_notes(group: RunGroup, info: GroupInfo, extracted: Sequence[RunMetrics]) -> list[str]:
    notes: list[str] = []
    if info.step_noise is not None and info.step_noise > NOISE_WARN_RATIO:
        notes.append(
            f"{group.label}: step-to-step noise is {_pct(info.step_noise)} of the median step "
            f"(IQR/median above {_pct(NOISE_WARN_RATIO)}); the machine was busy or the steps vary."
        )
    if info.run_noise is not None and info.run_noise > NOISE_WARN_RATIO:
        notes.append(
            f"{group.label}: run-to-run noise is {_pct(info.run_noise)} (IQR/median of the runs' median "
            f"steps, above {_pct(NOISE_WARN_RATIO)})."
        )
    if info.partial:
        notes.append(f"{group.label}: includes an interrupted (partial) run.")
    for spec in CATALOGUE:
        if spec.kind != "counter":
            continue
        values = sorted({v.value for v in _values(extracted, spec)})
        if len(values) > 1:
            notes.append(
                f"{group.label}: {spec.title} varies between runs ({values[0]:g}–{values[-1]:g}); "
                "the median is compared."
            )
    return notes


def _pair_notes(
    baseline: RunGroup,
    candidate: RunGroup,
    design: Design,
    policy: ComparePolicy,
    extracted: dict[str, list[RunMetrics]],
) -> list[str]:
    notes: list[str] = []
    pair = f"{candidate.label} vs {baseline.label}"
    env = environment_differences(baseline.runs, candidate.runs)
    if env and policy.ignore_environment:
        notes.append(
            f"{pair}: different environments ({', '.join(env)}), compared anyway "
            "(ignore_environment): part of any change may be the environment's."
        )
    elif env:
        notes.append(
            f"{pair}: different environments ({', '.join(env)}); every metric but the parameter "
            "count is incomparable."
        )
    soft = soft_differences(baseline.runs[0], candidate.runs[0])
    if soft:
        notes.append(f"{pair}: the setups also differ in {', '.join(soft)}.")
    batch = batch_difference(baseline.runs, candidate.runs)
    if batch is not None:
        notes.append(
            f"{pair}: {batch}; per-step metrics (step, phases, FLOPs and counts per step) are "
            "incomparable, throughput (per sample) is compared."
        )
    if design is Design.STEPS:
        notes.append(
            f"{pair}: one run on a side, so p-values and intervals reflect step-to-step noise only; "
            "run-to-run noise (often ±10% on a shared machine) is not captured, so changes are shown "
            "as noisy, never concluded. Compare configs with interleaved repeats instead (--repeats; "
            f"at least {needed_units(policy.alpha, paired=True)} rounds can reach p < {policy.alpha:g})."
        )
    elif design is Design.PAIRED:
        n = len(common_rounds(baseline, candidate))
        min_p = min_p_paired(n)
        if min_p is not None and min_p >= policy.alpha:
            notes.append(
                f"{pair}: with {n} rounds the smallest p-value the paired test can reach is "
                f"{min_p:.3g} ≥ α = {policy.alpha:g}, so no measured metric can be significant; "
                f"use --repeats {needed_units(policy.alpha, paired=True)} or more."
            )
    else:
        n, m = len(baseline.runs), len(candidate.runs)
        min_p = min_p_unpaired(n, m)
        if min_p is not None and min_p >= policy.alpha:
            notes.append(
                f"{pair}: with {n} and {m} runs the smallest p-value Mann–Whitney U can reach is "
                f"{min_p:.3g} ≥ α = {policy.alpha:g}, so no measured metric can be significant."
            )
    return notes


__all__ = ["choose_design", "common_rounds", "compare_runs", "group_info"]
