"""Applying the performance toggles for real.

* ``amp``: ``torch.autocast`` around forward and loss, in bf16 or fp16; fp16 adds a
  ``torch.amp.GradScaler`` (fp16 gradients underflow without loss scaling).
* ``channels_last``: the model's 4-D parameters and buffers, and every 4-D input batch
  (converted in the h2d phase), use ``torch.channels_last``.
* ``compile``: ``torch.compile(model, mode=..., backend=...)``; compilation happens in the
  first (warm-up) steps.
* ``cudnn_benchmark``/``tf32``: backend flags, set for the run and restored afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from perfkit.config.schema import TogglesConfig
from perfkit.errors import BuildError, ConfigError

_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class AmpPlan:
    dtype: torch.dtype | None
    use_scaler: bool

    @property
    def label(self) -> str | None:
        return None if self.dtype is None else str(self.dtype).removeprefix("torch.")


def plan_amp(toggles: TogglesConfig, device: torch.device) -> AmpPlan:
    """Decide autocast dtype and scaler; refuse combinations that cannot work."""
    if toggles.amp == "off":
        return AmpPlan(dtype=None, use_scaler=False)
    if toggles.amp == "fp16" and device.type != "cuda":
        raise ConfigError(
            "toggles.amp: fp16 needs a CUDA device: CPU autocast has few fast float16 kernels and "
            "GradScaler's loss scaling exists for GPU fp16 training; use amp: bf16 on CPU, or device: cuda"
        )
    if toggles.amp == "bf16" and device.type == "cuda" and torch.cuda.get_device_capability(device) < (8, 0):
        # is_bf16_supported() also says True for emulated bf16 (V100, T4): far too slow to profile.
        major, minor = torch.cuda.get_device_capability(device)
        raise ConfigError(
            f"toggles.amp: bf16 needs compute capability 8.0+ for native kernels; "
            f"{torch.cuda.get_device_name(device)} is {major}.{minor}; use amp: fp16"
        )
    return AmpPlan(dtype=_AMP_DTYPES[toggles.amp], use_scaler=toggles.amp == "fp16")


def autocast_context(plan: AmpPlan, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    if plan.dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=plan.dtype)


def make_scaler(plan: AmpPlan, device: torch.device) -> torch.amp.GradScaler | None:
    return torch.amp.GradScaler(device.type) if plan.use_scaler else None


def prepare_model(model: nn.Module, toggles: TogglesConfig, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """Move the model, apply channels_last and compile.

    Returns ``(module, runnable)``: the plain module (for parameter and FLOP counting)
    and what the loop calls (the compiled wrapper when ``compile`` is on).
    """
    model = model.to(device)
    if toggles.channels_last:
        not_4d = sorted({p.dim() for p in model.parameters() if p.dim() > 4})
        if not_4d:
            raise BuildError(
                f"toggles.channels_last: applies to 4-D (NCHW) convolution models; this model has "
                f"{not_4d[0]}-D parameters; set channels_last: false"
            )
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    model.train()
    runnable: nn.Module = model
    if toggles.compile:
        check_compile_backend(toggles.compile_backend)
        runnable = torch.compile(model, mode=toggles.compile_mode, backend=toggles.compile_backend)  # type: ignore[assignment]
    return model, runnable


def check_compile_backend(name: str) -> None:
    """Refuse an unknown torch.compile backend before training (torch would fail at step 0)."""
    import torch._dynamo

    available = sorted(torch._dynamo.list_backends(exclude_tags=()))
    if name not in available:
        import difflib

        close = difflib.get_close_matches(name, available, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise BuildError(f"toggles.compile_backend: unknown backend '{name}'{hint}; available: {', '.join(available)}")


def conv_tf32_enabled() -> bool:
    """Whether cuDNN runs fp32 convolutions in TF32 (torch's default: yes)."""
    backends: Any = torch.backends
    try:
        return bool(backends.cudnn.allow_tf32)
    except RuntimeError:  # the user mixed torch's legacy and per-operator TF32 APIs
        return bool(getattr(backends.cudnn.conv, "fp32_precision", "") == "tf32")


# TF32 is set through torch's legacy entry points, set_float32_matmul_precision and
# cudnn.allow_tf32, on purpose: they keep the legacy and the per-backend (torch >= 2.9
# ``fp32_precision``) views consistent. Setting ``backends.cuda.matmul.fp32_precision``
# directly leaves torch in a "mix of legacy and new APIs" state in which
# ``torch.get_float32_matmul_precision()`` and ``matmul.allow_tf32`` raise, and Inductor
# (max-autotune) and many libraries read them.
def _set_tf32(enabled: bool) -> None:
    torch.set_float32_matmul_precision("high" if enabled else "highest")
    torch.backends.cudnn.allow_tf32 = enabled


def _get_tf32() -> tuple[str | None, str | None, bool | None]:
    """What to restore: the matmul precision, or where torch refuses to say it (the user
    mixed the legacy and per-backend APIs before perfkit ran) the raw per-backend setting;
    and the cuDNN TF32 flag (``None`` if unreadable, then left as found)."""
    raw: str | None = None
    try:
        matmul: str | None = torch.get_float32_matmul_precision()
    except RuntimeError:
        matmul = None
        raw = getattr(torch.backends.cuda.matmul, "fp32_precision", None)
    try:
        conv: bool | None = bool(torch.backends.cudnn.allow_tf32)
    except RuntimeError:
        conv = None
    return matmul, raw, conv


def _restore_tf32(saved: tuple[str | None, str | None, bool | None]) -> None:
    matmul, raw, conv = saved
    if matmul is not None:
        torch.set_float32_matmul_precision(matmul)
    elif raw is not None:
        backends: Any = torch.backends
        backends.cuda.matmul.fp32_precision = raw
    if conv is not None:
        torch.backends.cudnn.allow_tf32 = conv


def matmul_fp32_dtype() -> str:
    """The precision fp32 matmuls currently run in on CUDA: 'fp32', 'tf32' or 'bf16'.

    ``torch.set_float32_matmul_precision('high')`` means TF32, ``'medium'`` bf16."""
    try:
        precision = torch.get_float32_matmul_precision()
    except RuntimeError:  # mixed legacy/new APIs: the per-backend setting decides
        explicit = getattr(torch.backends.cuda.matmul, "fp32_precision", None)
        return "tf32" if explicit == "tf32" else "fp32"
    return {"medium": "bf16", "high": "tf32"}.get(precision, "fp32")


def tf32_supported(device: torch.device) -> bool:
    """TF32 exists from Ampere (compute capability 8.0) on; before it, torch's TF32 flags
    are accepted and ignored, and fp32 math runs as fp32."""
    if device.type != "cuda":
        return False
    return torch.cuda.get_device_capability(device) >= (8, 0)


@contextlib.contextmanager
def backend_flags(toggles: TogglesConfig) -> Iterator[None]:
    """Set cudnn.benchmark and TF32 as configured for the run; restore them afterwards."""
    saved_benchmark = torch.backends.cudnn.benchmark
    saved_tf32 = _get_tf32()
    try:
        if toggles.cudnn_benchmark is not None:
            torch.backends.cudnn.benchmark = toggles.cudnn_benchmark
        if toggles.tf32 is not None:
            _set_tf32(toggles.tf32)
        yield
    finally:
        torch.backends.cudnn.benchmark = saved_benchmark
        _restore_tf32(saved_tf32)


def to_device(batch: Any, device: torch.device, non_blocking: bool, channels_last: bool) -> Any:
    """Copy a batch (tensor, or tuple/list/dict of them) to the device."""
    if isinstance(batch, torch.Tensor):
        out = batch.to(device, non_blocking=non_blocking)
        if channels_last and out.dim() == 4:
            out = out.contiguous(memory_format=torch.channels_last)
        return out
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device, non_blocking, channels_last) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device, non_blocking, channels_last) for k, v in batch.items()}
    return batch
