"""Gradient/loss health warnings fire on unhealthy runs and stay silent on healthy ones."""

from __future__ import annotations

import math

from perfkit.health import check_health


def codes(losses: list[float | None], norms: list[float | None], scaler: bool = False) -> list[str]:
    return [w.code for w in check_health(list(range(len(losses))), losses, norms, scaler)]


def test_healthy_run_is_silent() -> None:
    norms = [1.0, 1.2, 0.9, 1.1, 0.8, 0.95, 1.05, 0.7]
    assert codes([2.0] * 8, norms) == []


def test_nan_loss() -> None:
    warnings = check_health([5, 6, 7], [2.0, math.nan, math.nan], [1.0, 1.0, 1.0], False)
    assert [w.code for w in warnings] == ["loss-non-finite"]
    assert warnings[0].step == 6 and "2 of 3 steps" in warnings[0].message


def test_exploding_and_vanishing() -> None:
    assert "grad-exploding" in codes([1.0] * 8, [1.0, 1.0, 1.0, 10.0, 100.0, 1e3, 2e3, 5e3])
    assert "grad-vanishing" in codes([1.0] * 8, [1.0, 1.0, 1.0, 1e-1, 1e-2, 1e-4, 1e-4, 1e-4])
    assert codes([1.0] * 8, [0.0] * 8) == ["grad-zero"]


def test_fp16_scaler_skips_are_not_flagged() -> None:
    norms: list[float | None] = [math.inf, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert codes([1.0] * 8, norms, scaler=True) == []
    assert codes([1.0] * 8, norms, scaler=False) == ["grad-non-finite"]
    always_inf: list[float | None] = [math.inf] * 8
    assert codes([1.0] * 8, always_inf, scaler=True) == ["grad-non-finite"]


def test_untracked_norms_are_skipped() -> None:
    assert codes([1.0] * 3, [None, None, None]) == []
