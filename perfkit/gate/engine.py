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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from perfkit.compare.compat import environment_differences
from perfkit.compare.engine import compare_runs
from perfkit.compare.groups import RunGroup
from perfkit.compare.model import Comparison, MetricComparison, Status
from perfkit.compare.policy import ComparePolicy
from perfkit.errors import IncomparableError
from perfkit.gate.baseline import Baseline
from perfkit.results import RunResult

GATE_KIND = "perfkit.gate"


@dataclass(frozen=True)
class GateResult:
    """The gate's decision and the comparison behind it. Renderers print its fields."""

    name: str
    baseline_source: str
    comparison: Comparison
    passed: bool
    failures: tuple[str, ...]
    stale: tuple[str, ...]
    environment_changes: tuple[str, ...]

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
        )


def evaluate_gate(
    baseline: Baseline,
    candidate: Sequence[RunResult],
    policy: ComparePolicy,
    allow_env_change: bool = False,
) -> GateResult:
    """Compare ``candidate`` with ``baseline`` and decide.

    Raises :class:`IncomparableError` (exit 2) when the environments differ without
    ``allow_env_change``, or when a gated metric cannot be compared.
    """
    env_changes = environment_differences(baseline.runs, candidate)
    if env_changes and not allow_env_change:
        raise IncomparableError(
            f"{baseline.source or 'baseline'}: recorded on another environment ({'; '.join(env_changes)}); "
            "re-record the baseline on this machine, or pass --allow-env-change to compare anyway"
        )
    groups = [
        RunGroup(label="baseline", runs=baseline.runs, source=baseline.source),
        RunGroup(label="candidate", runs=tuple(candidate), source="this run", in_process=True),
    ]
    comparison = compare_runs(groups, policy)
    gated = [m for m in comparison.metrics if m.gated]
    blocked = [m for m in gated if m.verdict.status is Status.INCOMPARABLE]
    if blocked:
        reasons = "; ".join(f"{m.metric}: {m.verdict.reason}" for m in blocked)
        raise IncomparableError(
            f"{baseline.source or 'baseline'}: gated metrics cannot be compared ({reasons}); "
            "re-record the baseline with the same settings"
        )
    failures = tuple(m.metric for m in gated if m.verdict.status is Status.REGRESSED)
    stale = tuple(m.metric for m in gated if m.kind == "counter" and m.verdict.status is Status.IMPROVED)
    return GateResult(
        name=candidate[0].name if candidate else baseline.name,
        baseline_source=baseline.source,
        comparison=comparison,
        passed=not failures,
        failures=failures,
        stale=stale,
        environment_changes=tuple(env_changes),
    )
