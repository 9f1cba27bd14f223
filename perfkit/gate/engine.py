"""The gate decision: baseline runs + candidate runs + policy → :class:`GateResult`.

* A gated metric that **regressed** fails the gate (exit 1): a counter that moved in its
  bad direction past the tolerance, or a time past its threshold *and* significant.
* A gated counter that **improved** passes, with a note that the baseline is stale.
* A gated time that is **noisy** (past the threshold but not significant) passes: the
  data cannot tell, and failing on it is exactly the false alarm that makes teams raise
  thresholds to 200 %.
* A gated metric that is **incomparable** cannot be judged: the gate stops with a usage
  error (exit 2) naming why (another device, torch or CPU count — unless
  ``--allow-env-change`` — or another batch size, or a counter one side did not measure).
* Too few runs: with a gated time, each side needs enough runs for the test to be able to
  reach ``alpha`` at all (Mann–Whitney U over runs: 5 a side at α = 0.01; the paired
  signed-rank test: 8 rounds). Fewer is a usage error, never a per-step test: steps of one
  run share its offset, and a per-step test of 1 run a side false-fails on noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from perfkit.compare.compat import environment_differences
from perfkit.compare.engine import compare_runs
from perfkit.compare.groups import RunGroup
from perfkit.compare.metrics import CATALOGUE
from perfkit.compare.model import Comparison, MetricComparison, Status
from perfkit.compare.policy import ComparePolicy
from perfkit.compare.significance import min_p_paired, min_p_unpaired
from perfkit.errors import IncomparableError, InputError
from perfkit.gate.baseline import Baseline
from perfkit.results import RunResult

GATE_KIND = "perfkit.gate"


@dataclass(frozen=True)
class GateResult:
    """The gate's decision and the comparison behind it. Renderers print its fields.

    ``failures``: gated metrics that regressed. ``inconclusive``: gated measured metrics
    past their threshold but not significant (the gate passes; the headline says so).
    ``stale``: gated counters that improved (the baseline should be re-recorded).
    ``not_measured``: gated metrics neither side measured (e.g. device time on CPU).
    ``warnings``: what the reader should know about the inputs, e.g. saved candidate runs
    made from another experiment or config than the one given (the gate still decided).
    """

    name: str
    baseline_source: str
    comparison: Comparison
    passed: bool
    failures: tuple[str, ...]
    stale: tuple[str, ...]
    environment_changes: tuple[str, ...]
    inconclusive: tuple[str, ...] = ()
    not_measured: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def gated(self) -> tuple[MetricComparison, ...]:
        return tuple(m for m in self.comparison.metrics if m.gated)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": GATE_KIND,
            "name": self.name,
            "baseline": self.baseline_source,
            "passed": self.passed,
            "failures": list(self.failures),
            "stale": list(self.stale),
            "environment_changes": list(self.environment_changes),
            "inconclusive": list(self.inconclusive),
            "not_measured": list(self.not_measured),
            "warnings": list(self.warnings),
            "comparison": self.comparison.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        return cls(
            name=str(data["name"]),
            baseline_source=str(data["baseline"]),
            comparison=Comparison.from_dict(data["comparison"]),
            passed=bool(data["passed"]),
            failures=tuple(data.get("failures", ())),
            stale=tuple(data.get("stale", ())),
            environment_changes=tuple(data.get("environment_changes", ())),
            inconclusive=tuple(data.get("inconclusive", ())),
            not_measured=tuple(data.get("not_measured", ())),
            warnings=tuple(data.get("warnings", ())),
        )


def gates_measured_metric(policy: ComparePolicy) -> bool:
    """Whether any gated pattern names a measured (noisy) metric rather than a counter."""
    return any(spec.kind == "measured" and policy.is_gated(spec.name) for spec in CATALOGUE)


def check_run_counts(n_baseline: int, n_candidate: int, policy: ComparePolicy, paired: bool, how: str | None = None) -> None:
    """Refuse run counts with which a gated time could never be significant at ``alpha``.
    ``how`` names the setting that controls the counts, for the message."""
    if not gates_measured_metric(policy):
        return
    if paired:
        reachable = n_baseline == n_candidate and (min_p_paired(n_baseline) or 1.0) < policy.alpha
        need = next(n for n in range(2, 200) if (min_p_paired(n) or 1.0) < policy.alpha)
        unit = "paired rounds"
    else:
        reachable = (min_p_unpaired(n_baseline, n_candidate) or 1.0) < policy.alpha
        need = next(n for n in range(2, 200) if (min_p_unpaired(n, n) or 1.0) < policy.alpha)
        unit = "runs a side"
    if not reachable:
        raise InputError(
            f"gate: {n_baseline} baseline and {n_candidate} candidate run(s) can never show a significant "
            f"change at alpha {policy.alpha:g}; use at least {need} {unit} ({how or ('rounds of saved runs, e.g. PERF_GATE_ROUNDS' if paired else 'gate.repeats')}), or gate only counters"
        )


def evaluate_gate(
    baseline: Baseline,
    candidate: Sequence[RunResult],
    policy: ComparePolicy,
    allow_env_change: bool = False,
    paired: bool = False,
    candidate_source: str = "this run",
    candidate_in_process: bool = True,
) -> GateResult:
    """Compare ``candidate`` with ``baseline`` and decide.

    ``paired``: run ``i`` of each side ran next to each other (interleaved, e.g. by
    ``scripts/ci_perf_gate.sh``), so the comparison is paired round by round.
    ``candidate_in_process``: this process made the candidate runs (``perfkit gate`` ran
    the config), as opposed to reading saved runs (``--candidate``); see
    :attr:`perfkit.compare.groups.RunGroup.in_process`.

    Raises :class:`IncomparableError` (exit 2) when the environments differ without
    ``allow_env_change``, or when a gated metric cannot be compared, and
    :class:`InputError` when the run counts cannot reach significance.
    """
    check_run_counts(len(baseline.runs), len(candidate), policy, paired)
    env_changes = environment_differences(baseline.runs, candidate)
    if env_changes and not allow_env_change:
        raise IncomparableError(
            f"{baseline.source or 'baseline'}: recorded on another environment ({'; '.join(env_changes)}); "
            "re-record the baseline on this machine, or pass --allow-env-change to compare anyway"
        )
    rounds = tuple(range(len(candidate))) if paired else None
    groups = [
        RunGroup(label="baseline", runs=baseline.runs, rounds=rounds, source=baseline.source),
        RunGroup(label="candidate", runs=tuple(candidate), rounds=rounds, source=candidate_source, in_process=candidate_in_process),
    ]
    comparison = compare_runs(groups, policy)
    gated = [m for m in comparison.metrics if m.gated]
    blocked = [m for m in gated if m.verdict.status is Status.INCOMPARABLE]
    unmeasured = [m.metric for m in blocked if m.candidate_value is None and m.baseline_value is not None]
    if unmeasured:
        raise IncomparableError(_not_measured_by_candidate(unmeasured, candidate_source, candidate_in_process))
    if blocked:
        reasons = "; ".join(f"{m.metric}: {m.verdict.reason}" for m in blocked)
        raise IncomparableError(
            f"{baseline.source or 'baseline'}: gated metrics cannot be compared ({reasons}); "
            "re-record the baseline with the same settings"
        )
    failures = tuple(m.metric for m in gated if m.verdict.status is Status.REGRESSED)
    stale = tuple(m.metric for m in gated if m.kind == "counter" and m.verdict.status is Status.IMPROVED)
    inconclusive = tuple(m.metric for m in gated if m.verdict.status is Status.NOISY)
    compared = {m.metric for m in comparison.metrics}
    not_measured = tuple(s.name for s in CATALOGUE if policy.is_gated(s.name) and s.name not in compared)
    return GateResult(
        name=candidate[0].name if candidate else baseline.name,
        baseline_source=baseline.source,
        comparison=comparison,
        passed=not failures,
        failures=failures,
        stale=stale,
        environment_changes=tuple(env_changes),
        inconclusive=inconclusive,
        not_measured=not_measured,
    )


def _not_measured_by_candidate(metrics: Sequence[str], source: str, in_process: bool) -> str:
    """The candidate runs lack gated metrics the baseline has: the message points at the
    candidate runs, and says how to get those metrics (a trace, for the trace counters)."""
    traced = [m for m in metrics if m.startswith("trace.")]
    if traced and in_process:
        fix = "set gate.trace: true so that each run records a short trace"
    elif traced:
        fix = "make them with a trace (perfkit profile --trace -o run.json)"
    else:
        fix = "make them with the baseline's settings (same device and options)"
    what = f"did not measure gated {', '.join(metrics)}, which the baseline did; {fix}, or leave {'them' if len(metrics) > 1 else 'it'} out of gate.metrics"
    return f"the runs made now {what}" if in_process else f"{source}: the candidate runs {what}"
