"""Synthetic baselines and candidates for the gate tests and golden files (no torch,
fixed seeds)."""

from __future__ import annotations

from typing import Any

import numpy as np

from perfkit.gate.baseline import Baseline
from perfkit.results import RunResult
from tests.unit.compare.compare_synthetic import make_run, noisy_steps


def runs(seed: int, n: int = 5, base_ms: float = 10.0, run_sd: float = 0.03, **kwargs: Any) -> tuple[RunResult, ...]:
    """``n`` independent runs around ``base_ms`` (run-to-run offset ``run_sd``, log scale)."""
    rng = np.random.default_rng(seed)
    return tuple(make_run(noisy_steps(rng, base_ms, 20, rng.normal(0.0, run_sd), 0.05), **kwargs) for _ in range(n))


def baseline(seed: int = 1, **kwargs: Any) -> Baseline:
    return Baseline(name="exp", created_at="2026-01-01T00:00:00+00:00", runs=runs(seed, **kwargs), source="baselines/exp.json")


def golden_case() -> tuple[Baseline, tuple[RunResult, ...]]:
    """A candidate 25% slower with a layer twice as wide (parameters and FLOPs doubled)."""
    return baseline(), runs(2, base_ms=12.5, parameters=1020, flops=3_546_624)
