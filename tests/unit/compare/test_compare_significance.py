"""The statistics helpers: scipy tests on the right units; intervals that invert those
tests (paired, runs) and agree with their p-values; the seeded bootstrap (steps)."""

from __future__ import annotations

import numpy as np
import pytest

from perfkit.compare.significance import (
    Estimate,
    _rank_sum_samples,
    _signed_rank_sample,
    hodges_lehmann,
    min_p_paired,
    min_p_unpaired,
    paired_estimate,
    rank_sum_critical,
    relative_iqr,
    rng_for,
    signed_rank_critical,
    spread,
    two_sample_estimate,
    unpaired_estimate,
    walsh_averages,
)


def test_hodges_lehmann_is_median_of_walsh_averages() -> None:
    assert hodges_lehmann(np.array([1.0, 2.0, 9.0])) == pytest.approx(np.median([1, 2, 9, 1.5, 5, 5.5]))
    batch = np.array([[1.0, 2.0, 9.0], [0.0, 0.0, 0.0]])
    assert hodges_lehmann(batch).tolist() == pytest.approx([3.5, 0.0])


def test_min_p_values() -> None:
    assert min_p_paired(8) == pytest.approx(2 / 2**8)
    assert min_p_paired(7) == pytest.approx(2 / 2**7)  # > 0.01: 7 rounds can never be significant
    assert min_p_unpaired(5, 5) == pytest.approx(2 / 252)
    assert min_p_unpaired(1, 1) == 1.0
    assert min_p_paired(0) is None


def test_paired_estimate_detects_consistent_shift() -> None:
    base = [10.0, 12.0, 9.0, 11.0, 10.5, 13.0, 9.5, 10.0, 11.5, 12.5]
    cand = [b * 1.1 * (1 + 0.01 * ((-1) ** i)) for i, b in enumerate(base)]
    est = paired_estimate(base, cand, alpha=0.01)
    assert est.test == "wilcoxon"
    assert est.ratio == pytest.approx(1.1, abs=0.01)
    assert est.p_value is not None and est.p_value < 0.01
    assert est.ci_low is not None and est.ci_high is not None
    assert 1.0 < est.ci_low <= est.ratio <= est.ci_high
    assert (est.n_baseline, est.n_candidate) == (10, 10)


def test_paired_interval_is_the_hodges_lehmann_interval() -> None:
    """n = 10, α = 0.01: the critical T+ is 3 (the textbook table), so the interval runs
    from the 4th smallest to the 4th largest Walsh average."""
    d = np.array([0.05, -0.02, 0.11, 0.08, 0.01, 0.09, 0.13, 0.04, -0.01, 0.07])
    walsh = walsh_averages(d)
    assert walsh.size == 55 and np.all(np.diff(walsh) >= 0)
    est = paired_estimate([1.0] * 10, np.exp(d).tolist(), alpha=0.01)
    assert est.ci_low == pytest.approx(np.exp(walsh[3]))
    assert est.ci_high == pytest.approx(np.exp(walsh[-4]))
    assert est.ratio == pytest.approx(np.exp(hodges_lehmann(d)))


def test_paired_estimate_identical_values() -> None:
    est = paired_estimate([1.0, 2.0], [1.0, 2.0], alpha=0.01)
    assert est.ratio == 1.0 and est.p_value == 1.0


def test_too_few_units_give_no_interval() -> None:
    """7 rounds cannot reach p < 0.01, so no 99% interval exists (rather than a narrower one)."""
    est = paired_estimate([1.0] * 7, [2.0] * 7, alpha=0.01)
    assert est.ratio == pytest.approx(2.0)
    assert est.p_value is not None and est.p_value >= 0.01
    assert est.ci_low is None and est.ci_high is None
    runs = two_sample_estimate([1.0, 1.1, 0.9, 1.05], [2.0, 2.1, 1.9, 2.05], alpha=0.01)
    assert runs.ci_low is None and runs.min_p is not None and runs.min_p >= 0.01


def test_paired_estimate_with_zeros_falls_back_to_raw_differences() -> None:
    est = paired_estimate([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], alpha=0.01)
    assert est.ratio is None and est.p_value == 1.0 and est.ci_low is None


def test_critical_values_match_the_tables() -> None:
    # Wilcoxon signed-rank, two-sided α = 0.01 (exact): n = 8 → 0, n = 10 → 3, n = 20 → 37.
    assert [signed_rank_critical(n, 0.01) for n in (7, 8, 10, 20)] == [None, 0, 3, 37]
    assert signed_rank_critical(10, 0.05) == 8
    # Mann–Whitney U, two-sided α = 0.05, exact (a side ≤ 8): 5 vs 5 → 2, 4 vs 4 → 0.
    assert [rank_sum_critical(n, n, 0.05) for n in (3, 4, 5)] == [None, 0, 2]
    assert rank_sum_critical(5, 5, 0.01) == 0


@pytest.mark.parametrize("n", [1, 5, 12])
def test_constructed_samples_have_the_requested_statistic(n: int) -> None:
    for t in range(n * (n + 1) // 2 + 1):
        sample = _signed_rank_sample(n, t)
        assert sample[sample > 0].sum() == t and len(set(np.abs(sample))) == n
    for m in (1, 4):
        for u in range(n * m + 1):
            a, b = _rank_sum_samples(n, m, u)
            assert int((b[:, None] > a[None, :]).sum()) == u and len(set(np.r_[a, b])) == n + m


def _excludes_one(est: Estimate) -> bool:
    return est.ci_low is not None and est.ci_high is not None and (est.ci_low > 1.0 or est.ci_high < 1.0)


def test_paired_interval_excludes_one_exactly_when_p_below_alpha() -> None:
    """Many seeded cases around the decision boundary, exact (n ≤ 50) and normal (n > 50)."""
    rng = np.random.default_rng(2024)
    outcomes = set()
    for trial in range(400):
        n = int(rng.integers(2, 66))
        alpha = (0.01, 0.05)[trial % 2]
        base = 10.0 * np.exp(rng.normal(0.0, 0.1, n))
        cand = base * np.exp(rng.normal(0.0, 0.1, n) + rng.normal(0.0, 0.45) / np.sqrt(n))
        est = paired_estimate(base.tolist(), cand.tolist(), alpha=alpha)
        assert est.p_value is not None and est.ratio is not None
        significant = est.p_value < alpha
        assert _excludes_one(est) == significant, (n, alpha, est)
        if est.ci_low is not None and est.ci_high is not None:
            assert est.ci_low <= est.ratio <= est.ci_high
        outcomes.add((n > 50, significant))
    assert outcomes == {(False, False), (False, True), (True, False), (True, True)}


def test_runs_interval_excludes_one_exactly_when_p_below_alpha() -> None:
    """Runs design: exact (a side ≤ 8) and normal with continuity correction (both > 8)."""
    rng = np.random.default_rng(7)
    outcomes = set()
    for trial in range(300):
        n, m = (int(v) for v in rng.integers(2, 16, size=2))
        alpha = (0.01, 0.05)[trial % 2]
        base = 10.0 * np.exp(rng.normal(0.0, 0.1, n))
        cand = 10.0 * np.exp(rng.normal(rng.normal(0.0, 0.35) / np.sqrt(min(n, m)), 0.1, m))
        est = two_sample_estimate(base.tolist(), cand.tolist(), alpha=alpha)
        assert est.p_value is not None and est.ratio is not None and est.test == "mannwhitneyu"
        significant = est.p_value < alpha
        assert _excludes_one(est) == significant, (n, m, alpha, est)
        if est.ci_low is not None and est.ci_high is not None:
            assert est.ci_low <= est.ratio <= est.ci_high
        outcomes.add((min(n, m) > 8, significant))
    assert outcomes == {(False, False), (False, True), (True, False), (True, True)}


def test_two_sample_estimate_is_hodges_lehmann_of_log_ratios() -> None:
    est = two_sample_estimate([1.0, 2.0, 4.0], [2.0, 4.0, 8.0], alpha=0.05)
    assert est.ratio == pytest.approx(2.0)  # the median of the 9 pairwise log ratios
    assert est.test == "mannwhitneyu" and (est.n_baseline, est.n_candidate) == (3, 3)
    zero = two_sample_estimate([0.0, 1.0], [1.0, 2.0], alpha=0.05)
    assert zero.ci_low is None and zero.ratio == pytest.approx(3.0)


def test_bootstrap_is_seeded() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(10, 1, 12).tolist(), rng.normal(11, 1, 12).tolist()
    one = unpaired_estimate(a, b, confidence=0.99, n_resamples=500, rng=rng_for(5, "m"))
    two = unpaired_estimate(a, b, confidence=0.99, n_resamples=500, rng=rng_for(5, "m"))
    other = unpaired_estimate(a, b, confidence=0.99, n_resamples=500, rng=rng_for(6, "m"))
    assert one == two
    assert one.ci_low != other.ci_low


def test_steps_estimate_is_ratio_of_medians_with_bootstrap() -> None:
    est = unpaired_estimate([1.0, 2.0, 3.0], [2.0, 4.0, 6.0], confidence=0.99, n_resamples=200, rng=rng_for(0))
    assert est.ratio == pytest.approx(2.0)
    assert est.test == "mannwhitneyu"
    one = unpaired_estimate([1.0], [2.0], confidence=0.99, n_resamples=200, rng=rng_for(0))
    assert one.ci_low is None and one.min_p == 1.0


def test_spread_and_noise() -> None:
    assert spread([1.0]) is None
    assert spread([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(2.0 / np.sqrt(5))
    assert relative_iqr([10.0, 10.0, 10.0]) == 0.0
    assert relative_iqr([1.0]) is None
