"""From an estimate to a verdict (see :class:`perfkit.compare.model.Status`).

Measured metrics (asv's rule): a change counts only when it is past the threshold *and*
significant.

* past the threshold: ``|log ratio| > log(1 + threshold)`` — symmetric in log space, so a
  5% threshold means ×1.05 slower or ÷1.05 faster;
* significant: the two-sided p-value is below alpha;
* which way: for a lower-is-better metric a ratio above 1 is a regression, for a
  higher-is-better one (throughput) a ratio below 1 is.

A change past the threshold but not significant is *noisy* (shown, not hidden). A
significant change within the threshold is *unchanged*, with a reason saying so. A phase
below ``negligible_share`` of the baseline step in both inputs is *unchanged*.

Counters: any change beyond the allowance (0 in exact mode) is improved or regressed; a
deterministic counter needs no test.
"""

from __future__ import annotations

import math
from functools import lru_cache

from perfkit.compare.metrics import Direction
from perfkit.compare.model import Status
from perfkit.compare.significance import Estimate, min_p_paired, min_p_unpaired


def _worse(ratio: float, direction: Direction) -> bool:
    return ratio > 1.0 if direction == "lower" else ratio < 1.0


def past_threshold(ratio: float, threshold: float) -> bool:
    """True when ``ratio`` is beyond ×(1 + threshold) either way."""
    if ratio <= 0:
        return True
    return abs(math.log(ratio)) > math.log1p(threshold) + 1e-12  # 1.05 is not past 5%


def measured_verdict(
    estimate: Estimate,
    *,
    threshold: float,
    alpha: float,
    direction: Direction,
    negligible: bool = False,
    negligible_share: float = 0.01,
    candidate_center: float | None = None,
) -> tuple[Status, bool, str | None]:
    """``(status, significant, reason)`` for a measured metric.

    A baseline centre of zero has no ratio: zero on both sides is *unchanged*; a
    significant move away from zero (``candidate_center``) is a change in its direction
    (a phase that took 0 ms now takes 5 ms has regressed, whatever the threshold); an
    insignificant one is *noisy*."""
    p = estimate.p_value
    significant = p is not None and p < alpha
    if negligible:
        return Status.UNCHANGED, significant, f"< {100 * negligible_share:g}% of step"
    ratio = estimate.ratio
    if ratio is None:
        if candidate_center is not None and candidate_center == 0:
            return Status.UNCHANGED, False, "zero on both sides"
        if significant and candidate_center is not None:
            worse = candidate_center > 0 if direction == "lower" else candidate_center < 0
            return (Status.REGRESSED if worse else Status.IMPROVED), True, "from zero"
        return Status.NOISY, False, "baseline is zero"
    if not past_threshold(ratio, threshold):
        if significant:
            return Status.UNCHANGED, True, f"significant but < {100 * threshold:g}%"
        return Status.UNCHANGED, False, None
    if significant:
        return (Status.REGRESSED if _worse(ratio, direction) else Status.IMPROVED), True, None
    if p is None:
        return Status.NOISY, False, "one value a side"
    if estimate.min_p is not None and estimate.min_p >= alpha:
        return Status.NOISY, False, f"too few units (untied minimum p {estimate.min_p:.2g} ≥ α)"
    return Status.NOISY, False, f"p = {p:.2g} ≥ {alpha:g}"


def counter_verdict(baseline: float, candidate: float, allowance: float, direction: Direction) -> tuple[Status, bool]:
    """``(status, changed)`` for a deterministic counter."""
    if abs(candidate - baseline) <= allowance * abs(baseline):
        return Status.UNCHANGED, False
    worse = candidate > baseline if direction == "lower" else candidate < baseline
    return (Status.REGRESSED if worse else Status.IMPROVED), True


@lru_cache(maxsize=32)
def needed_units(alpha: float, paired: bool) -> int:
    """The fewest rounds (paired) or runs per side (unpaired) for which p < alpha is reachable."""
    for n in range(2, 200):
        min_p = min_p_paired(n) if paired else min_p_unpaired(n, n)
        if min_p is not None and min_p < alpha:
            return n
    return 200


__all__ = ["counter_verdict", "measured_verdict", "needed_units", "past_threshold"]
