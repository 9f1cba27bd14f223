"""Descriptive statistics over raw per-step samples.

Medians and inter-quartile ranges are used throughout instead of means and standard
deviations: step times have heavy right tails (GC pauses, page faults, a noisy
neighbour), and the median/IQR pair is robust to them. Percentiles use numpy's default
linear interpolation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: torch.utils.benchmark warns above these IQR/median ratios.
NOISE_WARN_RATIO = 0.10
NOISE_SEVERE_RATIO = 0.25


@dataclass(frozen=True)
class Distribution:
    """Summary of one metric's samples. All fields share the samples' unit."""

    n: int
    median: float
    q1: float
    q3: float
    p5: float
    p95: float
    p99: float
    mean: float
    std: float
    min: float
    max: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def median_uncertainty(self) -> float:
        """Half-width of the ~95 % notch around the median, 1.57·IQR/√n (McGill et al. 1978).

        Reports print a median to the decimal this supports and no further."""
        return 1.57 * self.iqr / math.sqrt(self.n) if self.n > 0 else 0.0

    @property
    def relative_iqr(self) -> float | None:
        """IQR over median: the noise figure torch.utils.benchmark reports."""
        if self.median == 0:
            return None
        return self.iqr / abs(self.median)

    def to_dict(self, suffix: str = "") -> dict[str, Any]:
        keys = ("n", "median", "q1", "q3", "p5", "p95", "p99", "mean", "std", "min", "max")
        out: dict[str, Any] = {}
        for key in keys:
            out[key if key == "n" else f"{key}{suffix}"] = getattr(self, key)
        out[f"iqr{suffix}"] = self.iqr
        return out


def describe(samples: Sequence[float]) -> Distribution | None:
    """Summarize samples; ``None`` for an empty sequence (never a made-up zero)."""
    if len(samples) == 0:
        return None
    arr = np.asarray(samples, dtype=np.float64)
    q = np.percentile(arr, [5, 25, 50, 75, 95, 99])
    return Distribution(
        n=int(arr.size),
        median=float(q[2]),
        q1=float(q[1]),
        q3=float(q[3]),
        p5=float(q[0]),
        p95=float(q[4]),
        p99=float(q[5]),
        mean=float(arr.mean()),
        std=float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        min=float(arr.min()),
        max=float(arr.max()),
    )
