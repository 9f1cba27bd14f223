"""Training-health checks on the per-step loss and global gradient norm.

These turn the raw per-step values into :class:`~perfkit.results.RunWarning` s:

* a non-finite loss (NaN/Inf) at any step;
* non-finite gradient norms. Under fp16 with a GradScaler an Inf norm on a few steps is
  the scaler doing its job (it skips those steps and lowers the scale), so only more than
  half the steps being non-finite is flagged there;
* exploding gradients: a norm ``EXPLODE_FACTOR`` (1000×, three orders of magnitude) above
  the reference, the median of the first ``REFERENCE_STEPS`` finite norms;
* vanishing gradients: the median of the last ``REFERENCE_STEPS`` finite norms below
  ``VANISH_FACTOR`` (1/1000) of the reference, or an all-zero gradient.

Three orders of magnitude is far outside the drift of a healthy run over a profiling
window of tens of steps, so these do not fire on normal training.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from perfkit.results import RunWarning

REFERENCE_STEPS = 3
EXPLODE_FACTOR = 1e3
VANISH_FACTOR = 1e-3
ZERO_NORM = 1e-12


def check_health(
    indices: Sequence[int],
    losses: Sequence[float | None],
    grad_norms: Sequence[float | None],
    scaler_in_use: bool,
) -> list[RunWarning]:
    """Warnings for one run's per-step losses and gradient norms (aligned with ``indices``)."""
    warnings: list[RunWarning] = []
    bad_loss = [(i, v) for i, v in zip(indices, losses, strict=True) if v is not None and not math.isfinite(v)]
    if bad_loss:
        first, value = bad_loss[0]
        warnings.append(
            RunWarning(
                "loss-non-finite",
                f"loss is {value} at step {first} ({len(bad_loss)} of {len(indices)} steps non-finite); "
                "lower the learning rate, check the data, or use bf16/GradScaler",
                first,
            )
        )
    present = [(i, v) for i, v in zip(indices, grad_norms, strict=True) if v is not None]
    if not present:
        return warnings
    non_finite = [(i, v) for i, v in present if not math.isfinite(v)]
    if non_finite and (not scaler_in_use or len(non_finite) > len(present) / 2):
        first, value = non_finite[0]
        extra = " (more than half the steps: the GradScaler keeps skipping)" if scaler_in_use else ""
        warnings.append(
            RunWarning(
                "grad-non-finite",
                f"gradient norm is {value} at step {first}; {len(non_finite)} of {len(present)} steps{extra}",
                first,
            )
        )
    finite = [(i, v) for i, v in present if math.isfinite(v)]
    if len(finite) < 2 * REFERENCE_STEPS:
        return warnings
    reference = statistics.median(v for _, v in finite[:REFERENCE_STEPS])
    if reference <= ZERO_NORM and max(v for _, v in finite) <= ZERO_NORM:
        warnings.append(
            RunWarning(
                "grad-zero",
                "gradient norm is 0 on every step: no parameter receives a gradient (frozen model or detached loss?)",
            )
        )
        return warnings
    peak_index, peak = max(finite, key=lambda item: item[1])
    if reference > 0 and peak >= EXPLODE_FACTOR * reference:
        warnings.append(
            RunWarning(
                "grad-exploding",
                f"gradient norm grew from {reference:.3g} to {peak:.3g} (×{peak / reference:.3g}) by step {peak_index}: "
                "exploding gradients; lower the learning rate or set loop.grad_clip",
                peak_index,
            )
        )
    tail = statistics.median(v for _, v in finite[-REFERENCE_STEPS:])
    if reference > 0 and tail <= VANISH_FACTOR * reference:
        warnings.append(
            RunWarning(
                "grad-vanishing",
                f"gradient norm collapsed from {reference:.3g} to {tail:.3g} (×{tail / reference:.3g}): "
                "vanishing gradients; check normalisation, initialisation and the learning rate",
                finite[-1][0],
            )
        )
    return warnings
