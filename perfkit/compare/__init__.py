"""Side-by-side comparison of two or more experiments (``perfkit compare``).

Library API (the CI gate reuses it; nothing here imports torch):

* :func:`compare_runs` (``groups, policy`` → :class:`Comparison`): the statistics and
  verdicts. The first :class:`RunGroup` is the baseline.
* :class:`ComparePolicy`: threshold, alpha, per-metric thresholds, gated metrics, exact or
  tolerance mode for deterministic counters, the seed of the one-run-a-side bootstrap.
* :func:`extract_metrics` (``RunResult`` → ``{name: MetricValue}``) and
  :data:`CATALOGUE` (:class:`MetricSpec`: name, unit, direction, kind);
  :func:`validate_metric_patterns` rejects user-given names or patterns that match none.
* :func:`run_interleaved` (configs + a ``run`` callable → groups): A B, B A, … rounds
  (a Williams design for three or more inputs).

See ``docs/compare.md`` for the method and why.
"""

from __future__ import annotations

from perfkit.compare.engine import choose_design, compare_runs
from perfkit.compare.groups import RunGroup
from perfkit.compare.interleave import (
    ConfigInput,
    InterleavedRuns,
    RunFn,
    run_interleaved,
    schedule,
)
from perfkit.compare.metrics import (
    CATALOGUE,
    METRIC_NAMES,
    SPECS,
    MetricSpec,
    MetricValue,
    extract_metrics,
    validate_metric_patterns,
)
from perfkit.compare.model import Comparison, Design, GroupInfo, MetricComparison, Status, Verdict
from perfkit.compare.policy import (
    DEFAULT_ALPHA,
    DEFAULT_GATED,
    DEFAULT_REPEATS,
    DEFAULT_THRESHOLD,
    ComparePolicy,
)

__all__ = [
    "CATALOGUE",
    "DEFAULT_ALPHA",
    "DEFAULT_GATED",
    "DEFAULT_REPEATS",
    "DEFAULT_THRESHOLD",
    "METRIC_NAMES",
    "SPECS",
    "ComparePolicy",
    "Comparison",
    "ConfigInput",
    "Design",
    "GroupInfo",
    "InterleavedRuns",
    "MetricComparison",
    "MetricSpec",
    "MetricValue",
    "RunFn",
    "RunGroup",
    "Status",
    "Verdict",
    "choose_design",
    "compare_runs",
    "extract_metrics",
    "run_interleaved",
    "schedule",
    "validate_metric_patterns",
]
