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
    compute_loss: Callable[[nn.Module], torch.Tensor],
    autocast: Callable[[], contextlib.AbstractContextManager[Any]],
) -> FlopCount:
    """Count forward + loss + backward of ``compute_loss(module)`` (one micro-batch, as
    the loop computes it: :class:`~perfkit.runtime.batches.StepMath`). Leaves gradients
    zeroed."""
    counter = flop_counter.FlopCounterMode(display=False, custom_mapping=_cpu_flash_mapping())
    with counter:
        with autocast():
            loss = compute_loss(module)
        loss.backward()
    module.zero_grad(set_to_none=True)
    per_op = counter.get_flop_counts().get("Global", {})
    conv = sum(int(v) for op, v in per_op.items() if "convolution" in str(op))
    return FlopCount(total=int(counter.get_total_flops()), conv=conv)


_MATMUL_OPS = frozenset({"mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "_scaled_dot_product_flash_attention",
                         "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
                         "_scaled_dot_product_flash_attention_for_cpu"})
_CONV_OPS = frozenset({"convolution", "_convolution", "cudnn_convolution", "mkldnn_convolution"})
_DTYPE_LABELS = {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32"}


class StepFlopCounter:
    """FLOPs of whatever runs while it is active (a whole training step in
    :class:`perfkit.Session`), and the dtypes its matmuls and convolutions ran in.

    ``FlopCounterMode`` counts the FLOPs; an inner ``TorchDispatchMode`` notes the dtype of
    the first tensor argument of each matmul/convolution op, so the MFU peak follows what
    actually ran (autocast's bf16, or fp32) instead of what a config claims. Both are
    thread-local modes that autograd carries onto its backward threads."""

    def __init__(self) -> None:
        from torch.utils._python_dispatch import TorchDispatchMode

        self._counter = flop_counter.FlopCounterMode(display=False, custom_mapping=_cpu_flash_mapping())
        dtypes: dict[str, set[torch.dtype]] = {"matmul": set(), "conv": set()}
        self._dtypes = dtypes

        class _DtypeObserver(TorchDispatchMode):
            def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
                name = func.overloadpacket.__name__
                kind = "matmul" if name in _MATMUL_OPS else "conv" if name in _CONV_OPS else None
                if kind is not None:
                    first = next((a for a in args if isinstance(a, torch.Tensor)), None)
                    if first is not None:
                        dtypes[kind].add(first.dtype)
                return func(*args, **(kwargs or {}))

        self._observer = _DtypeObserver()
        self.total = 0
        self.conv = 0

    def __enter__(self) -> StepFlopCounter:
        self._counter.__enter__()
        self._observer.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._observer.__exit__(None, None, None)
        self._counter.__exit__(None, None, None)
        per_op = self._counter.get_flop_counts().get("Global", {})
        self.conv = sum(int(v) for op, v in per_op.items() if "convolution" in str(op))
        self.total = int(self._counter.get_total_flops())

    def _label(self, kind: str, device: torch.device) -> str | None:
        seen = self._dtypes[kind]
        if not seen:
            return None
        # The slowest precision present bounds the peak: fp32 if any fp32 op ran.
        for dtype in (torch.float32, torch.float16, torch.bfloat16):
            if dtype in seen:
                label = _DTYPE_LABELS[dtype]
                break
        else:
            return None
        if label == "fp32" and device.type == "cuda":
            from perfkit.runtime.toggles import conv_tf32_enabled, matmul_fp32_dtype, tf32_supported

            if tf32_supported(device):
                return matmul_fp32_dtype() if kind == "matmul" else ("tf32" if conv_tf32_enabled() else "fp32")
        return label

    def matmul_dtype(self, device: torch.device) -> str | None:
        """'fp32', 'tf32', 'bf16' or 'fp16' for the step's matmuls; None if none ran."""
        return self._label("matmul", device)

    def conv_dtype(self, device: torch.device) -> str | None:
        return self._label("conv", device)
