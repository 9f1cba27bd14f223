"""The statistics helpers: scipy tests on the right units, seeded bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from perfkit.compare.significance import (
    hodges_lehmann,
    min_p_paired,
    min_p_unpaired,
    paired_estimate,
    relative_iqr,
    rng_for,
    spread,
    unpaired_estimate,
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
    est = paired_estimate(base, cand, confidence=0.99, n_resamples=1000, rng=rng_for(0, "x"))
    assert est.test == "wilcoxon"
    assert est.ratio == pytest.approx(1.1, abs=0.01)
    assert est.p_value is not None and est.p_value < 0.01
    assert est.ci_low is not None and est.ci_high is not None
    assert est.ci_low <= est.ratio <= est.ci_high
    assert (est.n_baseline, est.n_candidate) == (10, 10)


def test_paired_estimate_identical_values() -> None:
    est = paired_estimate([1.0, 2.0], [1.0, 2.0], confidence=0.99, n_resamples=200, rng=rng_for(0))
    assert est.ratio == 1.0 and est.p_value == 1.0


def test_paired_estimate_with_zeros_falls_back_to_raw_differences() -> None:
    est = paired_estimate([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], confidence=0.99, n_resamples=200, rng=rng_for(0))
    assert est.ratio is None and est.p_value == 1.0 and est.ci_low is None


def test_bootstrap_is_seeded() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(10, 1, 12).tolist(), rng.normal(11, 1, 12).tolist()
    one = unpaired_estimate(a, b, confidence=0.99, n_resamples=500, rng=rng_for(5, "m"))
    two = unpaired_estimate(a, b, confidence=0.99, n_resamples=500, rng=rng_for(5, "m"))
    other = unpaired_estimate(a, b, confidence=0.99, n_resamples=500, rng=rng_for(6, "m"))
    assert one == two
    assert one.ci_low != other.ci_low


def test_unpaired_estimate_is_ratio_of_medians() -> None:
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
