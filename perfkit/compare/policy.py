"""How a comparison decides: thresholds, significance level, gated metrics, counter mode.

Why the defaults have their values:

* ``threshold = 0.05``: a change whose *estimate* is within 5% is called *unchanged* even
  when it is statistically real (asv's rule: the point ratio is held against the
  threshold, the test decides significance; the interval of a *regressed* 6% change may
  still reach below 5%, so a verdict says "more than 5% by the best estimate", not "more
  than 5% with 99% confidence"). It has to sit well above the estimation error: on a shared 2-core
  machine one round's log ratio spreads by about 8–9% (robust SD, measured by
  ``scripts/bench_compare_noise.py``), so the paired estimate over 40 rounds has a
  standard error near 1.5% and an A/A compare rarely crosses 5%, while a 10% change
  clears it by three standard errors. Smaller changes are also within what unrelated
  edits and reboots move.
* ``alpha = 0.01``: a change is *significant* when the test's two-sided p-value is below
  1%. A comparison tests a dozen metrics at once; at 1% a clean A/A compare of all of them
  rarely shows any significant difference (asv and the ratio-with-99%-CI habit agree).
  The confidence interval printed next to each ratio has level ``1 - alpha``. For the
  ``paired`` and ``runs`` designs it is the rank test inverted, so it excludes ratio 1
  exactly when p < alpha (up to ties); for ``steps`` (one run a side) it is a bootstrap
  interval and can disagree with the p-value at the margin.
* ``gated``: the metrics ``--fail-on-regression`` (and the CI gate) act on. Step time and
  throughput are the headline; the deterministic counters (FLOPs, kernel and op counts,
  device bytes allocated) are immune to noise, so gating them costs no false alarms.
  Phases are not gated by default: they add up to the step, which is.
* ``counter_mode``: ``"exact"`` calls any change of a deterministic counter a change;
  ``"tolerance"`` allows a relative ``counter_tolerance`` (e.g. 0.001) for counters that
  move slightly between torch builds. A ``thresholds`` entry whose pattern matches a
  counter overrides both for that counter: its value is the counter's relative
  tolerance (``("flops_per_step", 0.02)`` lets FLOPs move by 2%). The global
  ``threshold`` never applies to counters.
* ``ignore_environment``: off by default. On, a different device, torch version or CPU
  count no longer makes metrics incomparable (the note still names the differences):
  for a gate told to compare across an environment change on purpose.
* ``negligible_share``: a phase whose median is below 1% of the baseline step in both
  inputs is *unchanged* whatever its ratio (a 0.01 ms phase doubling is not news).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from perfkit.errors import InputError

CounterMode = Literal["exact", "tolerance"]

DEFAULT_THRESHOLD = 0.05
DEFAULT_ALPHA = 0.01
DEFAULT_GATED: tuple[str, ...] = (
    "step_ms",
    "step_device_ms",
    "throughput.samples_per_s",
    "throughput.tokens_per_s",
    "flops_per_step",
    "memory.device_peak_allocated_bytes",
    "trace.kernels_per_step",
    "trace.ops_per_step",
    "trace.syncs_per_step",
)
DEFAULT_RESAMPLES = 2000
#: Default ``--repeats`` (interleaved rounds). 8 is the fewest with which a paired rank
#: test can reach p < 0.01 at all; on the shared 2-core reference machine a 10% slowdown
#: is detected in about 70% of compares with 20 rounds and about 90% with 40
#: (``scripts/bench_compare_noise.py``; docs/compare.md has the figures).
DEFAULT_REPEATS = 40
DEFAULT_NEGLIGIBLE_SHARE = 0.01


@dataclass(frozen=True)
class ComparePolicy:
    """The decision rules of :func:`perfkit.compare.compare_runs` (see the module doc).

    ``thresholds`` and ``gated`` hold metric names or shell-style patterns
    (``"phase.*.host_ms"``, checked by
    :func:`perfkit.compare.metrics.validate_metric_patterns` where they come from the
    user); the first matching ``thresholds`` entry wins over ``threshold``.

    Counters (``kind == "counter"``) ignore ``threshold``: they are compared exactly, or
    within ``counter_tolerance`` in ``"tolerance"`` mode, unless a ``thresholds`` pattern
    matches them, in which case that value is their relative tolerance (and the row's
    reported threshold): see :meth:`counter_allowance`.

    ``seed`` and ``n_resamples`` drive the bootstrap interval of the ``steps`` design (one
    run a side), so the same runs always give the same output; the ``paired`` and
    ``runs`` intervals invert the rank test and need no resampling.
    """

    threshold: float = DEFAULT_THRESHOLD
    alpha: float = DEFAULT_ALPHA
    thresholds: tuple[tuple[str, float], ...] = ()
    gated: tuple[str, ...] = DEFAULT_GATED
    counter_mode: CounterMode = "exact"
    counter_tolerance: float = 0.0
    negligible_share: float = DEFAULT_NEGLIGIBLE_SHARE
    n_resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    ignore_environment: bool = False

    def __post_init__(self) -> None:
        if not self.threshold >= 0:
            raise InputError(f"threshold must be >= 0 (got {self.threshold})")
        if not 0 < self.alpha < 1:
            raise InputError(f"alpha must be between 0 and 1 (got {self.alpha})")
        for pattern, value in self.thresholds:
            if not value >= 0:
                raise InputError(f"threshold for {pattern} must be >= 0 (got {value})")
        if self.counter_mode not in ("exact", "tolerance"):
            raise InputError(f"counter_mode must be 'exact' or 'tolerance' (got {self.counter_mode!r})")
        if not self.counter_tolerance >= 0:
            raise InputError(f"counter tolerance must be >= 0 (got {self.counter_tolerance})")
        if self.n_resamples < 100:
            raise InputError(f"n_resamples must be at least 100 (got {self.n_resamples})")

    @property
    def confidence(self) -> float:
        """The level of every confidence interval: ``1 - alpha``."""
        return 1.0 - self.alpha

    def explicit_threshold(self, metric: str) -> float | None:
        """The value of the first ``thresholds`` entry whose pattern matches ``metric``, if any."""
        for pattern, value in self.thresholds:
            if fnmatch.fnmatchcase(metric, pattern):
                return value
        return None

    def threshold_for(self, metric: str) -> float:
        """The threshold of a measured metric: its ``thresholds`` entry, else ``threshold``."""
        explicit = self.explicit_threshold(metric)
        return self.threshold if explicit is None else explicit

    def is_gated(self, metric: str) -> bool:
        return any(fnmatch.fnmatchcase(metric, pattern) for pattern in self.gated)

    def counter_allowance(self, metric: str | None = None) -> float:
        """Relative change a counter may show and still be unchanged.

        A ``thresholds`` entry matching ``metric`` wins; otherwise ``counter_tolerance``
        in ``"tolerance"`` mode and 0 in ``"exact"`` mode.
        """
        explicit = None if metric is None else self.explicit_threshold(metric)
        if explicit is not None:
            return explicit
        return self.counter_tolerance if self.counter_mode == "tolerance" else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "alpha": self.alpha,
            "thresholds": {pattern: value for pattern, value in self.thresholds},
            "gated": list(self.gated),
            "counter_mode": self.counter_mode,
            "counter_tolerance": self.counter_tolerance,
            "negligible_share": self.negligible_share,
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "ignore_environment": self.ignore_environment,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ComparePolicy:
        return cls(
            threshold=float(data["threshold"]),
            alpha=float(data["alpha"]),
            thresholds=tuple((str(k), float(v)) for k, v in dict(data.get("thresholds", {})).items()),
            gated=tuple(str(g) for g in data.get("gated", DEFAULT_GATED)),
            counter_mode=data.get("counter_mode", "exact"),
            counter_tolerance=float(data.get("counter_tolerance", 0.0)),
            negligible_share=float(data.get("negligible_share", DEFAULT_NEGLIGIBLE_SHARE)),
            n_resamples=int(data.get("n_resamples", DEFAULT_RESAMPLES)),
            seed=int(data.get("seed", 0)),
            ignore_environment=bool(data.get("ignore_environment", False)),
        )


__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_GATED",
    "DEFAULT_NEGLIGIBLE_SHARE",
    "DEFAULT_REPEATS",
    "DEFAULT_RESAMPLES",
    "DEFAULT_THRESHOLD",
    "ComparePolicy",
    "CounterMode",
]
