"""Verdict rules: threshold and significance together; counters exact or with tolerance."""

from __future__ import annotations

import pytest

from perfkit.compare.model import Status
from perfkit.compare.significance import Estimate
from perfkit.compare.verdicts import counter_verdict, measured_verdict, needed_units, past_threshold


def est(ratio: float | None, p: float | None, min_p: float | None = 0.001) -> Estimate:
    return Estimate(ratio, None, None, p, min_p, "wilcoxon", 10, 10)


def test_threshold_is_symmetric_in_log_space() -> None:
    assert not past_threshold(1.05, 0.05)
    assert past_threshold(1.051, 0.05)
    assert not past_threshold(1 / 1.05, 0.05)
    assert past_threshold(1 / 1.051, 0.05)


@pytest.mark.parametrize(
    ("ratio", "p", "direction", "status"),
    [
        (1.10, 0.001, "lower", Status.REGRESSED),
        (0.90, 0.001, "lower", Status.IMPROVED),
        (0.90, 0.001, "higher", Status.REGRESSED),
        (1.10, 0.001, "higher", Status.IMPROVED),
        (1.10, 0.20, "lower", Status.NOISY),
        (1.02, 0.001, "lower", Status.UNCHANGED),
        (1.02, 0.50, "lower", Status.UNCHANGED),
    ],
)
def test_measured_verdicts(ratio: float, p: float, direction: str, status: Status) -> None:
    got, significant, _ = measured_verdict(est(ratio, p), threshold=0.05, alpha=0.01, direction=direction)  # type: ignore[arg-type]
    assert got is status
    assert significant == (p < 0.01)


def test_reasons() -> None:
    assert measured_verdict(est(1.02, 0.001), threshold=0.05, alpha=0.01, direction="lower")[2] == "significant but < 5%"
    assert measured_verdict(est(1.2, 0.25, min_p=0.25), threshold=0.05, alpha=0.01, direction="lower")[2] == "too few units (untied minimum p 0.25 ≥ α)"
    assert measured_verdict(est(1.2, 0.04), threshold=0.05, alpha=0.01, direction="lower")[2] == "p = 0.04 ≥ 0.01"
    assert measured_verdict(est(1.2, None), threshold=0.05, alpha=0.01, direction="lower")[2] == "one value a side"
    negligible = measured_verdict(est(3.0, 0.001), threshold=0.05, alpha=0.01, direction="lower", negligible=True)
    assert negligible[0] is Status.UNCHANGED and negligible[2] == "< 1% of step"


def test_counters() -> None:
    assert counter_verdict(100.0, 100.0, 0.0, "lower") == (Status.UNCHANGED, False)
    assert counter_verdict(100.0, 101.0, 0.0, "lower") == (Status.REGRESSED, True)
    assert counter_verdict(100.0, 99.0, 0.0, "lower") == (Status.IMPROVED, True)
    assert counter_verdict(100.0, 100.05, 0.001, "lower") == (Status.UNCHANGED, False)
    assert counter_verdict(100.0, 100.2, 0.001, "lower") == (Status.REGRESSED, True)


def test_needed_units() -> None:
    assert needed_units(0.01, paired=True) == 8
    assert needed_units(0.05, paired=True) == 6
    assert needed_units(0.01, paired=False) == 5


def test_a_zero_baseline_has_no_ratio_but_can_still_change() -> None:
    zero = Estimate(None, None, None, 1e-12, 1e-9, "wilcoxon", 40, 40)
    # 0 ms → 5 ms, significant: a regression of a lower-is-better time, whatever the threshold.
    assert measured_verdict(zero, threshold=0.05, alpha=0.01, direction="lower", candidate_center=5.0) == (
        Status.REGRESSED, True, "from zero",
    )
    assert measured_verdict(zero, threshold=0.05, alpha=0.01, direction="higher", candidate_center=5.0)[0] is Status.IMPROVED
    assert measured_verdict(zero, threshold=0.05, alpha=0.01, direction="lower", candidate_center=0.0) == (
        Status.UNCHANGED, False, "zero on both sides",
    )
    unsure = Estimate(None, None, None, 0.3, 1e-9, "wilcoxon", 40, 40)
    status, significant, why = measured_verdict(unsure, threshold=0.05, alpha=0.01, direction="lower", candidate_center=5.0)
    assert (status, significant, why) == (Status.NOISY, False, "baseline is zero")  # noisy is never significant
