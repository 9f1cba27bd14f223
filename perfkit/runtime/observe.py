"""What a Session saw of the user's training setup, for the report and the advice.

A run measured through the API or ``perfkit run`` has no experiment file, so its
report's config section is built from observations, never from guesses:

* the model: the one passed as ``Session(model=...)``, or the first outermost module
  whose forward ran (``perfkit run``); its parameter count and ``nn.Conv2d`` layers;
  whether it is a ``torch.compile`` wrapper;
* the DataLoader given to :meth:`Session.data` (or iterated by the script): batch
  size, workers, pin_memory, persistent workers, prefetch factor, dataset length;
* each optimizer that stepped: its class, learning rate and the variant torch runs
  (``fused``, ``foreach`` or the for-loop, resolved as torch resolves it);
* autocast during the outermost forward: the AMP dtype; the memory format of a 4-D
  floating-point input to the outermost forward: channels_last.

Anything not observed stays ``None`` and reports print it as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


def _unwrap(model: nn.Module) -> tuple[nn.Module, bool]:
    """The plain module inside a torch.compile (or DDP) wrapper, and whether it was compiled."""
    compiled = False
    inner: Any = model
    for _ in range(4):
        if hasattr(inner, "_orig_mod"):
            inner, compiled = inner._orig_mod, True
        elif isinstance(getattr(inner, "module", None), nn.Module) and type(inner).__name__ in (
            "DistributedDataParallel",
            "DataParallel",
        ):
            inner = inner.module
        else:
            break
    return inner, compiled


def optimizer_variant(optimizer: torch.optim.Optimizer) -> str:
    """'fused', 'foreach' or 'for-loop', as torch resolves an optimizer's defaults: it
    picks foreach by itself only when both options are unset and every parameter is on a
    CUDA device."""
    defaults = optimizer.defaults
    if defaults.get("fused"):
        return "fused"
    if defaults.get("foreach"):
        return "foreach"
    if defaults.get("foreach") is None and not defaults.get("fused"):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if params and all(p.is_cuda for p in params):
            return "foreach"
    return "for-loop"


@dataclass
class Observations:
    model: nn.Module | None = None
    model_count: int = 0
    compiled: bool = False
    optimizers: list[torch.optim.Optimizer] = field(default_factory=list)
    loader: dict[str, Any] | None = None
    dataset_samples: int | None = None
    amp: str | None = None
    channels_last: bool | None = None
    _seen_models: set[int] = field(default_factory=set)

    def see_model(self, module: nn.Module) -> None:
        if id(module) in self._seen_models:
            return
        self._seen_models.add(id(module))
        self.model_count += 1
        plain, compiled = _unwrap(module)
        self.compiled = self.compiled or compiled
        if self.model is None:
            self.model = plain

    def see_forward(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        """At the outermost forward: autocast state and the input's memory format."""
        self.see_model(module)
        if self.amp is None or self.amp == "off":
            device_type = _device_type(module)
            if torch.is_autocast_enabled(device_type):
                dtype = torch.get_autocast_dtype(device_type)
                self.amp = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))
            else:
                self.amp = "off"
        if self.channels_last is None:
            first = next((a for a in args if isinstance(a, torch.Tensor)), None)
            if first is not None and first.dim() == 4 and first.is_floating_point():
                self.channels_last = bool(
                    first.is_contiguous(memory_format=torch.channels_last) and not first.is_contiguous()
                )

    def see_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        if not any(o is optimizer for o in self.optimizers):
            self.optimizers.append(optimizer)

    def see_loader(self, iterable: Any) -> None:
        from torch.utils.data import DataLoader

        if self.loader is not None or not isinstance(iterable, DataLoader):
            return
        self.loader = {
            "name": type(iterable.dataset).__name__,
            "batch_size": iterable.batch_size,
            "num_workers": iterable.num_workers,
            "pin_memory": iterable.pin_memory,
            "persistent_workers": iterable.persistent_workers,
            "prefetch_factor": iterable.prefetch_factor,
            "drop_last": iterable.drop_last,
        }
        try:
            self.dataset_samples = len(iterable.dataset)  # type: ignore[arg-type]
        except TypeError:  # an IterableDataset without a length
            self.dataset_samples = None

    @property
    def optimizer_variant(self) -> str | None:
        variants = sorted({optimizer_variant(o) for o in self.optimizers})
        return "+".join(variants) if variants else None

    def config(self) -> dict[str, Any]:
        """The config section of a run measured on a user's own loop: observations only."""
        opt = self.optimizers[0] if self.optimizers else None
        model: dict[str, Any] = {"name": type(self.model).__name__ if self.model is not None else None}
        if self.model_count > 1:
            model["models"] = self.model_count
        return {
            "model": model,
            "data": dict(self.loader) if self.loader is not None else {},
            "optimizer": {
                "name": type(opt).__name__.lower() if opt is not None else None,
                "lr": _lr(opt),
                "count": len(self.optimizers),
                "all": [type(o).__name__.lower() for o in self.optimizers],
            },
            "toggles": {
                "amp": self.amp,
                "channels_last": self.channels_last,
                "compile": self.compiled,
                "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
                "tf32": None,
            },
        }

    def parameters(self) -> tuple[int | None, int | None, int | None]:
        """(parameters, trainable parameters, Conv2d layers) of the observed model."""
        if self.model is None:
            return None, None, None
        params = list(self.model.parameters())
        return (
            sum(p.numel() for p in params),
            sum(p.numel() for p in params if p.requires_grad),
            sum(isinstance(m, nn.Conv2d) for m in self.model.modules()),
        )


def _lr(optimizer: torch.optim.Optimizer | None) -> float | None:
    if optimizer is None or not optimizer.param_groups:
        return None
    lr: Any = optimizer.param_groups[0].get("lr")
    try:
        return float(lr)
    except (TypeError, ValueError):
        return None


def _device_type(module: nn.Module) -> str:
    for p in module.parameters():
        return p.device.type
    return "cpu"


__all__ = ["Observations", "optimizer_variant"]
