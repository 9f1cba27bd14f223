"""The result of a comparison: :class:`Comparison`, :class:`MetricComparison`, :class:`Verdict`.

Plain frozen data with a JSON round trip (``to_dict``/``from_dict``). Renderers print
fields of these objects and compute nothing; the CI gate reads them back from JSON.

What the numbers of a :class:`MetricComparison` include:

* ``baseline_value``/``candidate_value``: the input's centre, in the metric's unit. With
  several runs, the median of the runs' values (each run's value is the median of its
  steps); with one run, the median of its steps; for counters, the counter.
* ``baseline_spread``/``candidate_spread``: IQR ÷ √n of the units the centre was taken
  over (about the standard error of a median). Renderers print a centre to the first
  significant digit of its spread, no further.
* ``ratio``: candidate ÷ baseline, estimated on the units the test uses (see ``design``):
  ``paired`` — exp of the Hodges–Lehmann estimate of the per-round log ratios; ``runs``
  — exp of the two-sample Hodges–Lehmann estimate (the median of all pairwise log
  differences of the runs' values), so neither need equal the quotient of the two
  centres; ``steps`` — the quotient of the step medians; counters — the quotient of the
  counters.
* ``ci_low``/``ci_high``: an interval of the ratio at level ``confidence`` (= 1 - alpha)
  or more. ``paired`` and ``runs``: the rank test inverted (the Hodges–Lehmann interval
  at the test's critical value), so it excludes 1 exactly when ``p_value < alpha`` (up to
  ties among the units); ``None`` when too few units allow no interval at that level.
  ``steps``: a seeded percentile bootstrap of the quotient, resampling steps.
* ``p_value``: two-sided, from ``test``: ``wilcoxon`` (signed-rank on per-round log
  ratios), ``mannwhitneyu`` (on per-run values, or per-step samples for one run per
  side), ``exact``/``tolerance`` for counters (no p-value), ``none`` when nothing could be
  tested.
* ``threshold``: the smallest relative change that counts for this row; for counters,
  the allowed relative change (0 when compared exactly).
* ``n_baseline``/``n_candidate``: how many units (rounds, runs or steps) each side had.
* ``min_p``: the smallest p-value the test can reach with those counts; when it is not
  below alpha no difference can be significant, whatever the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from perfkit.compare.metrics import Direction, Kind
from perfkit.compare.policy import ComparePolicy
from perfkit.errors import InputError

COMPARISON_KIND = "perfkit.compare"
COMPARISON_SCHEMA_VERSION = 1


class Status(str, Enum):
    """The five verdicts.

    * ``improved``/``regressed``: the change is past the metric's threshold *and*
      significant (p < alpha); for counters, past the counter allowance.
    * ``unchanged``: within the threshold (significant or not), or negligible.
    * ``noisy``: past the threshold but not significant: the data cannot tell.
    * ``incomparable``: the inputs cannot be compared on this metric (``reason`` says why).
    """

    IMPROVED = "improved"
    REGRESSED = "regressed"
    UNCHANGED = "unchanged"
    NOISY = "noisy"
    INCOMPARABLE = "incomparable"


class Design(str, Enum):
    """Which units a measured metric was tested on.

    * ``paired``: both inputs ran interleaved; one unit per round (the log ratio of the
      candidate's run to the baseline's run of that round).
    * ``runs``: several runs per input but no common rounds; one unit per run.
    * ``steps``: one run on a side; one unit per step. Run-to-run noise is not captured.
    * ``counter``: a deterministic counter, compared without statistics.
    * ``none``: not compared (incomparable or missing).
    """

    PAIRED = "paired"
    RUNS = "runs"
    STEPS = "steps"
    COUNTER = "counter"
    NONE = "none"


@dataclass(frozen=True)
class Verdict:
    """A metric's verdict and, when useful, why (incomparable cause, negligible, p ≥ α)."""

    status: Status
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(status=Status(data["status"]), reason=data.get("reason"))


@dataclass(frozen=True)
class MetricComparison:
    """One metric, baseline against one candidate (see the module doc for each field)."""

    metric: str
    title: str
    unit: str
    direction: Direction
    kind: Kind
    baseline: str
    candidate: str
    baseline_value: float | None
    candidate_value: float | None
    baseline_spread: float | None
    candidate_spread: float | None
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    p_value: float | None
    min_p: float | None
    test: str
    design: Design
    n_baseline: int
    n_candidate: int
    threshold: float
    significant: bool
    gated: bool
    verdict: Verdict

    @property
    def status(self) -> Status:
        return self.verdict.status

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["design"] = self.design.value
        out["verdict"] = self.verdict.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricComparison:
        def opt(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        return cls(
            metric=str(data["metric"]),
            title=str(data["title"]),
            unit=str(data["unit"]),
            direction=data["direction"],
            kind=data["kind"],
            baseline=str(data["baseline"]),
            candidate=str(data["candidate"]),
            baseline_value=opt("baseline_value"),
            candidate_value=opt("candidate_value"),
            baseline_spread=opt("baseline_spread"),
            candidate_spread=opt("candidate_spread"),
            ratio=opt("ratio"),
            ci_low=opt("ci_low"),
            ci_high=opt("ci_high"),
            confidence=float(data["confidence"]),
            p_value=opt("p_value"),
            min_p=opt("min_p"),
            test=str(data["test"]),
            design=Design(data["design"]),
            n_baseline=int(data["n_baseline"]),
            n_candidate=int(data["n_candidate"]),
            threshold=float(data["threshold"]),
            significant=bool(data["significant"]),
            gated=bool(data["gated"]),
            verdict=Verdict.from_dict(data["verdict"]),
        )


@dataclass(frozen=True)
class GroupInfo:
    """What the report says about one input.

    * ``runs``: runs compared; ``rounds``: how many of them belong to interleaved rounds
      (0 for saved runs).
    * ``step_noise``: the median, over runs, of each run's step-time IQR ÷ median (the
      step-to-step noise ``perfkit profile`` reports).
    * ``run_noise``: IQR ÷ median of the runs' median step times (run-to-run noise);
      ``None`` with fewer than two runs (then it is not measured at all).
    * ``environment``: device, torch version and CPU count of the first run.
    """

    label: str
    source: str
    name: str
    runs: int
    rounds: int
    steps_per_run: int
    samples_per_step: int
    tokens_per_step: int | None
    device: str
    torch: str
    cpu_count: int
    partial: bool
    step_median_ms: float | None
    step_noise: float | None
    run_noise: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupInfo:
        def opt(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        tokens = data.get("tokens_per_step")
        return cls(
            label=str(data["label"]),
            source=str(data["source"]),
            name=str(data["name"]),
            runs=int(data["runs"]),
            rounds=int(data["rounds"]),
            steps_per_run=int(data["steps_per_run"]),
            samples_per_step=int(data["samples_per_step"]),
            tokens_per_step=None if tokens is None else int(tokens),
            device=str(data["device"]),
            torch=str(data["torch"]),
            cpu_count=int(data["cpu_count"]),
            partial=bool(data["partial"]),
            step_median_ms=opt("step_median_ms"),
            step_noise=opt("step_noise"),
            run_noise=opt("run_noise"),
        )


@dataclass(frozen=True)
class Comparison:
    """Every input's summary, every metric's comparison with the baseline, and notes.

    ``metrics`` holds, for each candidate in input order, its rows in display order.
    ``notes`` are the sentences a reader must see under the table: differing
    environments, inputs noisier than 10%, one run per side, too few rounds for
    significance. ``interrupted`` says why the comparison holds fewer rounds than asked
    for (Ctrl-C: "interrupted after 3 of 10 rounds"); ``None`` for a complete one.
    """

    baseline: str
    groups: tuple[GroupInfo, ...]
    metrics: tuple[MetricComparison, ...]
    policy: ComparePolicy
    notes: tuple[str, ...] = ()
    interrupted: str | None = None

    def marked_interrupted(self, completed: int, requested: int) -> Comparison:
        """This comparison, saying it covers ``completed`` of ``requested`` rounds."""
        what = f"interrupted after {completed} of {requested} rounds"
        note = f"Incomplete: {what} (Ctrl-C); the figures cover the complete rounds only."
        return replace(self, interrupted=what, notes=(note, *self.notes))

    @property
    def candidates(self) -> tuple[str, ...]:
        return tuple(g.label for g in self.groups if g.label != self.baseline)

    def group(self, label: str) -> GroupInfo:
        for g in self.groups:
            if g.label == label:
                return g
        raise KeyError(label)

    def rows(self, candidate: str) -> tuple[MetricComparison, ...]:
        """The candidate's rows, in display order."""
        return tuple(m for m in self.metrics if m.candidate == candidate)

    def get(self, metric: str, candidate: str | None = None) -> MetricComparison:
        """The row of ``metric`` for ``candidate`` (the first candidate by default)."""
        wanted = candidate if candidate is not None else self.candidates[0]
        for m in self.metrics:
            if m.metric == metric and m.candidate == wanted:
                return m
        raise KeyError(f"{metric} ({wanted})")

    @property
    def regressions(self) -> tuple[MetricComparison, ...]:
        """Gated metrics whose verdict is ``regressed`` (what ``--fail-on-regression`` reads)."""
        return tuple(m for m in self.metrics if m.gated and m.status is Status.REGRESSED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": COMPARISON_KIND,
            "schema_version": COMPARISON_SCHEMA_VERSION,
            "baseline": self.baseline,
            "policy": self.policy.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
            "metrics": [m.to_dict() for m in self.metrics],
            "notes": list(self.notes),
            "interrupted": self.interrupted,
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "comparison") -> Comparison:
        if not isinstance(data, Mapping) or data.get("kind") != COMPARISON_KIND:
            raise InputError(f"{source}: not a perfkit comparison (no \"kind\": \"{COMPARISON_KIND}\")")
        if data.get("schema_version") != COMPARISON_SCHEMA_VERSION:
            raise InputError(
                f"{source}: comparison schema_version {data.get('schema_version')}, this perfkit "
                f"reads {COMPARISON_SCHEMA_VERSION}; compare the runs again"
            )
        try:
            return cls(
                baseline=str(data["baseline"]),
                groups=tuple(GroupInfo.from_dict(g) for g in data["groups"]),
                metrics=tuple(MetricComparison.from_dict(m) for m in data["metrics"]),
                policy=ComparePolicy.from_dict(data["policy"]),
                notes=tuple(str(n) for n in data.get("notes", ())),
                interrupted=None if data.get("interrupted") is None else str(data["interrupted"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source}: malformed perfkit comparison ({exc!r})") from exc


__all__ = [
    "COMPARISON_KIND",
    "COMPARISON_SCHEMA_VERSION",
    "Comparison",
    "Design",
    "GroupInfo",
    "MetricComparison",
    "Status",
    "Verdict",
]
