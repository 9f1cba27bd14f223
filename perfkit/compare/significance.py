"""The statistics of a comparison: effect size, confidence interval, p-value (scipy).

Everything here works on *units of replication*, never on pooled per-step samples of
different runs. Per-step samples of one run are autocorrelated and share the run's
offset (on a noisy machine one config's median step moves ±10% from run to run), so a
test over pooled steps mistakes that offset for an effect and calls A/A differences
significant again and again. The caller picks the units (see
:class:`perfkit.compare.model.Design`):

* :func:`paired_estimate` — one unit per interleaved round: ``d = log(candidate run /
  baseline run)``. Runs of one round ran next to each other, so the round removes slow
  drift (thermal state, a neighbour's load, frequency changes) that hits both. Test:
  Wilcoxon signed-rank on ``d`` (``scipy.stats.wilcoxon``, exact for n ≤ 50 without ties).
  Effect: ``exp(Hodges–Lehmann estimate of d)`` (the median of the Walsh averages).
  Interval: the Hodges–Lehmann interval, i.e. the signed-rank test inverted (below).
* :func:`two_sample_estimate` — the runs of two groups that share no rounds. Test:
  two-sided Mann–Whitney U (``scipy.stats.mannwhitneyu``). Effect: ``exp`` of the
  two-sample Hodges–Lehmann estimate (the median of all pairwise log differences
  ``log b_j - log a_i``). Interval: the Mann–Whitney U test inverted.
* :func:`unpaired_estimate` — the steps of one run per side (no run-to-run noise can be
  measured). Test: Mann–Whitney U over steps; effect: the quotient of the step medians;
  interval: a seeded percentile bootstrap (``scipy.stats.bootstrap``, level
  ``1 - alpha``) of that quotient.

**Intervals by test inversion.** A rank test of "the shift is θ" counts how many Walsh
averages (paired) or pairwise differences (two-sample) lie above θ: that count *is* the
signed-rank statistic T+ (resp. the U statistic) of the data shifted by θ. The set of
shifts θ the test does not reject at level α is therefore an interval between two order
statistics of those averages or differences, ``[W_(c+1), W_(M-c)]``, where ``c`` is the
largest statistic value whose two-sided p-value is below α (:func:`signed_rank_critical`,
:func:`rank_sum_critical`). Hence, for tie-free data, **the interval excludes ratio 1 if
and only if p < α**: the interval and the p-value come from one and the same test. Its
coverage is at least ``1 - alpha`` (rank statistics are discrete). When no statistic
value can reach p < α (too few units), no interval at that level exists and none is
reported.

The critical values come from scipy itself, through its public API: the p-value of a
constructed tie-free sample whose statistic is exactly ``t`` (magnitudes ``1..n`` with
the signs of a subset summing to ``t``; two samples interleaved so that ``U = t``),
found by bisection (the p-value is monotone in ``t`` below the centre). That makes the
interval invert exactly the test that produced the p-value — scipy's exact null
distribution where ``method='auto'`` uses it (signed-rank: n ≤ 50; Mann–Whitney U: a side
with ≤ 8 units) and its normal approximation otherwise (without continuity correction
for the signed-rank test, with it for Mann–Whitney U, as scipy's defaults) — without
relying on scipy's private modules. With ties or zeros among the units (identical
values in several rounds), scipy switches to a tie-corrected or permutation p-value;
interval and p-value can then disagree at the margin.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import stats

FloatArray = Any  # numpy arrays of float64; scipy is untyped

#: Upper bound on elements one bootstrap batch materialises (memory guard).
_BATCH_ELEMENTS = 2_000_000


@dataclass(frozen=True)
class Estimate:
    """Effect size, interval and test result for one metric, one candidate."""

    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    min_p: float | None
    test: str
    n_baseline: int
    n_candidate: int


def rng_for(seed: int, *names: str) -> np.random.Generator:
    """A generator seeded from ``seed`` and stable names (independent of metric order)."""
    return np.random.default_rng([seed, *(zlib.crc32(n.encode("utf-8")) for n in names)])


def hodges_lehmann(x: FloatArray, axis: int = -1) -> FloatArray:
    """One-sample Hodges–Lehmann estimate: the median of all Walsh averages (xi + xj)/2, i ≤ j.

    Vectorised over the other axes.
    """
    arr = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    i, j = np.triu_indices(arr.shape[-1])
    walsh = (arr[..., i] + arr[..., j]) / 2.0
    return np.median(walsh, axis=-1)


def median_ratio(a: FloatArray, b: FloatArray, axis: int = -1) -> FloatArray:
    """``median(b) / median(a)`` along ``axis`` (vectorised)."""
    return np.median(b, axis=axis) / np.median(a, axis=axis)


def _quiet(func: Callable[[], Any]) -> Any:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return func()


def _finite(value: Any) -> float | None:
    out = float(value)
    return out if math.isfinite(out) else None


def _batch(elements_per_resample: int) -> int:
    return max(1, _BATCH_ELEMENTS // max(1, elements_per_resample))


@lru_cache(maxsize=256)
def min_p_paired(n: int) -> float | None:
    """The smallest two-sided p-value the signed-rank test can reach with ``n`` rounds."""
    if n < 1:
        return None
    return _finite(_quiet(lambda: stats.wilcoxon(np.arange(1.0, n + 1.0)).pvalue))


@lru_cache(maxsize=1024)
def min_p_unpaired(n: int, m: int) -> float | None:
    """The smallest two-sided p-value Mann–Whitney U can reach with ``n`` and ``m`` units."""
    if n < 1 or m < 1:
        return None
    a = np.arange(float(n))
    b = np.arange(float(n), float(n + m))
    return _finite(_quiet(lambda: stats.mannwhitneyu(a, b, alternative="two-sided").pvalue))


def _signed_rank_sample(n: int, t: int) -> FloatArray:
    """A tie-free sample of size ``n`` whose signed-rank statistic T+ is exactly ``t``.

    Magnitudes ``1..n`` (their own ranks), positive for a subset of ranks summing to ``t``
    (greedy from the largest rank: every ``0 <= t <= n(n+1)/2`` is reachable).
    """
    out = -np.arange(1.0, n + 1.0)
    rest = t
    for rank in range(n, 0, -1):
        if rank <= rest:
            out[rank - 1] = float(rank)
            rest -= rank
    return out


def _rank_sum_samples(n: int, m: int, u: int) -> tuple[FloatArray, FloatArray]:
    """Tie-free samples ``(a, b)`` of sizes ``n``, ``m`` with ``U_b = #{b_j > a_i}`` equal to ``u``.

    ``a = 0..n-1``; each ``b_j`` lies above ``k_j`` of them (``sum k_j = u``, each
    ``k_j <= n``), placed at distinct fractions so no two values tie.
    """
    a = np.arange(float(n))
    b = np.empty(m)
    rest = u
    for j in range(m):
        k = min(n, rest)
        rest -= k
        b[j] = k - 1 + (j + 1) / (m + 1)
    return a, b


def _largest_below(limit: int, p_of: Callable[[int], float | None], alpha: float) -> int | None:
    """The largest ``t`` in ``[0, limit]`` with ``p_of(t) < alpha`` (``p_of`` nondecreasing)."""
    first = p_of(0)
    if first is None or not first < alpha:
        return None
    lo, hi = 0, limit  # p_of(lo) < alpha holds throughout
    while lo < hi:
        mid = (lo + hi + 1) // 2
        p = p_of(mid)
        if p is not None and p < alpha:
            lo = mid
        else:
            hi = mid - 1
    return lo


@lru_cache(maxsize=1024)
def signed_rank_critical(n: int, alpha: float) -> int | None:
    """The largest T+ whose two-sided signed-rank p-value (scipy, tie-free) is below ``alpha``.

    ``None`` when no value can be significant (e.g. fewer than 8 units at α = 0.01). The
    null distribution is symmetric, so ``T+ >= n(n+1)/2 - c`` is the upper rejection region.
    """
    if n < 1:
        return None

    def p_of(t: int) -> float | None:
        return _finite(_quiet(lambda: stats.wilcoxon(_signed_rank_sample(n, t)).pvalue))

    return _largest_below(n * (n + 1) // 4, p_of, alpha)


@lru_cache(maxsize=1024)
def rank_sum_critical(n: int, m: int, alpha: float) -> int | None:
    """The largest U whose two-sided Mann–Whitney p-value (scipy, tie-free) is below ``alpha``.

    ``None`` when no value can be significant. Symmetric: ``U >= n*m - c`` also rejects.
    """
    if n < 1 or m < 1:
        return None

    def p_of(u: int) -> float | None:
        a, b = _rank_sum_samples(n, m, u)
        return _finite(_quiet(lambda: stats.mannwhitneyu(b, a, alternative="two-sided").pvalue))

    return _largest_below(n * m // 2, p_of, alpha)


def walsh_averages(x: FloatArray) -> FloatArray:
    """All ``(x_i + x_j) / 2`` for ``i <= j``, sorted."""
    arr = np.asarray(x, dtype=np.float64)
    i, j = np.triu_indices(arr.size)
    return np.sort((arr[i] + arr[j]) / 2.0)


def _inverted_interval(sorted_values: FloatArray, critical: int | None) -> tuple[float | None, float | None]:
    """``exp`` of the order statistics ``[c+1, M-c]`` (1-based) of ``sorted_values``."""
    if critical is None:
        return None, None
    size = int(sorted_values.size)
    low, high = critical, size - 1 - critical
    if low > high:  # pragma: no cover - c < M/2 by construction
        return None, None
    return _finite(np.exp(sorted_values[low])), _finite(np.exp(sorted_values[high]))


def _paired_p(diff: FloatArray) -> float | None:
    if np.all(diff == 0):
        return 1.0
    if diff.size < 2:
        return None
    return _finite(_quiet(lambda: stats.wilcoxon(diff, alternative="two-sided").pvalue))


def _mannwhitney_p(a: FloatArray, b: FloatArray) -> float | None:
    if bool(np.all(a == a[0]) and np.all(b == a[0])):
        return 1.0
    return _finite(_quiet(lambda: stats.mannwhitneyu(b, a, alternative="two-sided").pvalue))


def paired_estimate(baseline: Sequence[float], candidate: Sequence[float], *, alpha: float) -> Estimate:
    """Round-by-round comparison: ``baseline[i]`` and ``candidate[i]`` ran in round ``i``.

    Ratio ``exp(HL(d))`` with ``d = log(candidate / baseline)``; p from the signed-rank
    test; the interval is that test inverted (level ``1 - alpha``, see the module doc).
    """
    a = np.asarray(baseline, dtype=np.float64)
    b = np.asarray(candidate, dtype=np.float64)
    n = int(a.size)
    min_p = min_p_paired(n)
    if n == 0:
        return Estimate(None, None, None, None, None, "none", 0, 0)
    if np.any(a <= 0) or np.any(b <= 0):
        # No logarithm: test the raw differences; the ratio is that of the medians.
        diff = b - a
        base = float(np.median(a))
        ratio = float(np.median(b)) / base if base > 0 else None
        return Estimate(ratio, None, None, _paired_p(diff), min_p, "wilcoxon", n, n)
    d = np.log(b) - np.log(a)
    walsh = walsh_averages(d)
    ratio = float(np.exp(np.median(walsh)))
    low, high = _inverted_interval(walsh, signed_rank_critical(n, alpha))
    return Estimate(ratio, low, high, _paired_p(d), min_p, "wilcoxon", n, n)


def two_sample_estimate(baseline: Sequence[float], candidate: Sequence[float], *, alpha: float) -> Estimate:
    """Independent runs on each side: two-sample Hodges–Lehmann ratio, Mann–Whitney U.

    Ratio ``exp(median of log b_j - log a_i)`` over all pairs; the interval is the
    Mann–Whitney U test inverted (level ``1 - alpha``, see the module doc).
    """
    a = np.asarray(baseline, dtype=np.float64)
    b = np.asarray(candidate, dtype=np.float64)
    n, m = int(a.size), int(b.size)
    if n == 0 or m == 0:
        return Estimate(None, None, None, None, None, "none", n, m)
    p = _mannwhitney_p(a, b)
    min_p = min_p_unpaired(n, m)
    if np.any(a <= 0) or np.any(b <= 0):
        base = float(np.median(a))
        ratio = float(np.median(b)) / base if base > 0 else None
        return Estimate(ratio, None, None, p, min_p, "mannwhitneyu", n, m)
    diffs = np.sort(np.subtract.outer(np.log(b), np.log(a)).ravel())
    ratio = float(np.exp(np.median(diffs)))
    low, high = _inverted_interval(diffs, rank_sum_critical(n, m, alpha))
    return Estimate(ratio, low, high, p, min_p, "mannwhitneyu", n, m)


def unpaired_estimate(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    confidence: float,
    n_resamples: int,
    rng: np.random.Generator,
) -> Estimate:
    """One run a side, per-step samples: quotient of medians, Mann–Whitney U, bootstrap CI.

    The interval is a seeded percentile bootstrap of the quotient (resampling steps), not
    an inverted test: it can disagree with the p-value at the margin, and neither
    captures run-to-run noise.
    """
    a = np.asarray(baseline, dtype=np.float64)
    b = np.asarray(candidate, dtype=np.float64)
    n, m = int(a.size), int(b.size)
    if n == 0 or m == 0:
        return Estimate(None, None, None, None, None, "none", n, m)
    base = float(np.median(a))
    ratio = float(np.median(b)) / base if base > 0 else None
    p = _mannwhitney_p(a, b)
    low = high = None
    if ratio is not None and n >= 2 and m >= 2 and np.all(a > 0):
        res = _quiet(
            lambda: stats.bootstrap(
                (a, b),
                median_ratio,
                n_resamples=n_resamples,
                batch=_batch(n + m),
                vectorized=True,
                confidence_level=confidence,
                method="percentile",
                rng=rng,
            )
        )
        low = _finite(res.confidence_interval.low)
        high = _finite(res.confidence_interval.high)
    return Estimate(ratio, low, high, p, min_p_unpaired(n, m), "mannwhitneyu", n, m)


def iqr(values: Sequence[float] | FloatArray) -> float:
    """Inter-quartile range, numpy's linear interpolation (as ``scipy.stats.iqr`` and perfkit.stats)."""
    q75, q25 = np.percentile(np.asarray(values, dtype=np.float64), [75, 25])
    return float(q75 - q25)


def spread(values: Sequence[float]) -> float | None:
    """IQR ÷ √n of ``values`` (about the standard error of their median); None if n < 2."""
    if len(values) < 2:
        return None
    return iqr(values) / math.sqrt(len(values))


def relative_iqr(values: Sequence[float]) -> float | None:
    """IQR ÷ median (torch.utils.benchmark's noise figure); None if undefined."""
    if len(values) < 2:
        return None
    arr = np.asarray(values, dtype=np.float64)
    median = float(np.median(arr))
    if median <= 0:
        return None
    return iqr(arr) / median


__all__ = [
    "Estimate",
    "hodges_lehmann",
    "iqr",
    "median_ratio",
    "min_p_paired",
    "min_p_unpaired",
    "paired_estimate",
    "rank_sum_critical",
    "relative_iqr",
    "rng_for",
    "signed_rank_critical",
    "spread",
    "two_sample_estimate",
    "unpaired_estimate",
    "walsh_averages",
]
