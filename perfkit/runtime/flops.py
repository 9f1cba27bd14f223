"""Counting the FLOPs of one training step with ``torch.utils.flop_counter``.

``FlopCounterMode`` counts the analytic FLOPs of the aten ops it sees: a matmul of
(M×K)·(K×N) is 2·M·N·K, convolutions likewise, and backward ops are counted when the
backward pass runs under the mode. It does not count element-wise ops, normalisation or
the optimizer. It also misses CPU flash attention
(``aten._scaled_dot_product_flash_attention_for_cpu``), so perfkit registers that op
with torch's own SDPA formulas. Causal masks are not halved (torch's convention).

Counting runs outside the measured window, on the plain (uncompiled) module, with the
same autocast as training, over one micro-batch; the step total is that times
``grad_accum``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils import flop_counter


def _cpu_flash_mapping() -> dict[Any, Callable[..., int]]:
    aten = torch.ops.aten
    mapping: dict[Any, Callable[..., int]] = {}
    forward = getattr(aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    backward = getattr(aten, "_scaled_dot_product_flash_attention_for_cpu_backward", None)

    def fwd(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, **kwargs: Any) -> int:
        return int(flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape))

    def bwd(grad_out_shape: Any, query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, **kwargs: Any) -> int:
        return int(flop_counter.sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape))

    if forward is not None:
        mapping[forward] = fwd  # FlopCounterMode wraps custom entries with shape_wrapper itself
    if backward is not None:
        mapping[backward] = bwd
    return mapping


@dataclass(frozen=True)
class FlopCount:
    """FLOPs of one micro-batch's forward + backward, and the part spent in convolutions
    (cuDNN runs fp32 convolutions in TF32 by default while matmuls stay fp32, so MFU
    needs the two classes apart)."""

    total: int
    conv: int


def count_step_flops(
    module: nn.Module,
    inputs: Any,
    targets: Any,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    autocast: Callable[[], contextlib.AbstractContextManager[Any]],
) -> FlopCount:
    """Count forward + loss + backward for one micro-batch. Leaves gradients zeroed."""
    counter = flop_counter.FlopCounterMode(display=False, custom_mapping=_cpu_flash_mapping())
    with counter:
        with autocast():
            loss = loss_fn(module(inputs), targets)
        loss.backward()
    module.zero_grad(set_to_none=True)
    per_op = counter.get_flop_counts().get("Global", {})
    conv = sum(int(v) for op, v in per_op.items() if "convolution" in str(op))
    return FlopCount(total=int(counter.get_total_flops()), conv=conv)
