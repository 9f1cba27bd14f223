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
  Wilcoxon signed-rank on ``d`` (``scipy.stats.wilcoxon``, exact for small n): the paired
  counterpart of Mann–Whitney U, robust to the occasional wild round. Effect:
  ``exp(Hodges–Lehmann estimate of d)`` (the median of the Walsh averages: the estimator
  that goes with the signed-rank test).
* :func:`unpaired_estimate` — independent units (the runs of two groups that share no
  rounds, or the steps of one run per side). Test: two-sided Mann–Whitney U
  (``scipy.stats.mannwhitneyu``). Effect: the quotient of the medians.

Intervals come from ``scipy.stats.bootstrap`` (percentile method, level ``1 - alpha``)
resampling the same units with a generator seeded from the policy seed and the metric
name, so outputs are reproducible. Only the top level (rounds or runs) is resampled: a
run's value already carries its own step-to-step noise, and resampling steps inside
resampled runs would count that noise twice.
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

    Vectorised over the other axes (as ``scipy.stats.bootstrap`` calls it).
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


def _paired_p(diff: FloatArray) -> float | None:
    if np.all(diff == 0):
        return 1.0
    if diff.size < 2:
        return None
    return _finite(_quiet(lambda: stats.wilcoxon(diff, alternative="two-sided").pvalue))


def paired_estimate(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    confidence: float,
    n_resamples: int,
    rng: np.random.Generator,
) -> Estimate:
    """Round-by-round comparison: ``baseline[i]`` and ``candidate[i]`` ran in round ``i``."""
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
    ratio = float(np.exp(hodges_lehmann(d)))
    p = _paired_p(d)
    low = high = None
    if n >= 2:
        res = _quiet(
            lambda: stats.bootstrap(
                (d,),
                hodges_lehmann,
                n_resamples=n_resamples,
                batch=_batch(n * (n + 1) // 2),
                vectorized=True,
                confidence_level=confidence,
                method="percentile",
                rng=rng,
            )
        )
        low = _finite(np.exp(res.confidence_interval.low))
        high = _finite(np.exp(res.confidence_interval.high))
    return Estimate(ratio, low, high, p, min_p, "wilcoxon", n, n)


def unpaired_estimate(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    confidence: float,
    n_resamples: int,
    rng: np.random.Generator,
) -> Estimate:
    """Independent units on each side (runs without common rounds, or steps)."""
    a = np.asarray(baseline, dtype=np.float64)
    b = np.asarray(candidate, dtype=np.float64)
    n, m = int(a.size), int(b.size)
    if n == 0 or m == 0:
        return Estimate(None, None, None, None, None, "none", n, m)
    base = float(np.median(a))
    ratio = float(np.median(b)) / base if base > 0 else None
    identical = bool(np.all(a == a[0]) and np.all(b == a[0]))
    p: float | None
    if identical:
        p = 1.0
    else:
        p = _finite(_quiet(lambda: stats.mannwhitneyu(b, a, alternative="two-sided").pvalue))
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
    "relative_iqr",
    "rng_for",
    "spread",
    "unpaired_estimate",
]
