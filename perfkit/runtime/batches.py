"""Any batch, any loss: how a step turns a batch into a loss.

A batch may be a tensor, a tuple, a list, a dict, a named tuple or any nesting of them.
:func:`to_device` moves every tensor in it (``non_blocking`` when the batch is pinned)
and converts 4-D floating-point tensors to ``channels_last`` when that toggle is on;
anything else (strings, ints, None) is passed through untouched.

The model is called as ``model.call`` says (:class:`~perfkit.config.schema.ModelConfig`)
and the loss is computed as ``loss:`` says
(:class:`~perfkit.config.schema.ExperimentConfig`). :class:`StepMath` does both, for the
training loop and for FLOP counting alike, so the counted step is the trained step.

The loss must be a scalar floating-point tensor. Any other result is refused at the
first step with a :class:`~perfkit.errors.BuildError` that names ``loss`` (or
``model.call``) and the fix, before a confusing error from ``backward()``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from perfkit.errors import BuildError

#: Keys of a dict batch that hold the model input and the target for the built-in losses.
INPUT_KEYS: tuple[str, ...] = ("input", "inputs", "x")
TARGET_KEYS: tuple[str, ...] = ("target", "targets", "labels", "label", "y")


def to_device(batch: Any, device: torch.device, non_blocking: bool, channels_last: bool) -> Any:
    """Copy every tensor of a (nested) batch to ``device``; other leaves stay as they are.

    Tuples, lists, dicts and named tuples keep their type. ``channels_last`` applies to
    4-D floating-point tensors only (images), never to integer masks or token ids."""
    if isinstance(batch, torch.Tensor):
        out = batch.to(device, non_blocking=non_blocking)
        if channels_last and out.dim() == 4 and out.is_floating_point():
            out = out.contiguous(memory_format=torch.channels_last)
        return out
    if isinstance(batch, Mapping):
        items = {k: to_device(v, device, non_blocking, channels_last) for k, v in batch.items()}
        return items if type(batch) is dict else _rebuild_mapping(batch, items)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a named tuple
        return type(batch)(*(to_device(v, device, non_blocking, channels_last) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device, non_blocking, channels_last) for v in batch)
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        changes = {
            f.name: to_device(getattr(batch, f.name), device, non_blocking, channels_last)
            for f in dataclasses.fields(batch)
            if f.init
        }
        return dataclasses.replace(batch, **changes)
    return batch


def _rebuild_mapping(original: Mapping[Any, Any], items: dict[Any, Any]) -> Any:
    try:
        kind: Any = type(original)
        return kind(items)  # e.g. a transformers BatchEncoding or an OrderedDict
    except Exception:
        return items


def batch_size(batch: Any) -> int | None:
    """Samples in a batch: the first dimension of its first tensor (depth first), or None
    when the batch holds no tensor with a dimension."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() > 0 else None
    if isinstance(batch, Mapping):
        values: Any = batch.values()
    elif isinstance(batch, (list, tuple)):
        values = batch
    elif dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        values = (getattr(batch, f.name) for f in dataclasses.fields(batch))
    else:
        return None
    for value in values:
        size = batch_size(value)
        if size is not None:
            return size
    return None


def _pick(batch: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in batch:
            return batch[key]
    raise KeyError(keys[0])


def split_pair(batch: Any, needs: str) -> tuple[Any, Any]:
    """``(input, target)`` of a pair batch or of a dict with input/target keys.

    ``needs`` names the config key that requires the split, for the error."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    if isinstance(batch, Mapping):
        try:
            return _pick(batch, INPUT_KEYS), _pick(batch, TARGET_KEYS)
        except KeyError:
            keys = ", ".join(map(str, batch)) or "none"
            raise BuildError(
                f"{needs}: needs an input and a target, but the dict batch has keys {keys}; name them "
                f"'input' and 'target' (or 'labels'), or set model.call: kwargs with loss: model"
            ) from None
    shape = type(batch).__name__ + (f" of {len(batch)}" if isinstance(batch, (tuple, list)) else "")
    raise BuildError(
        f"{needs}: needs (input, target) pairs, got a batch of type {shape}; return (input, target) "
        f"from the dataset, or set model.call: batch (or args/kwargs) with loss: model or a custom loss"
    )


def _loss_from_output(output: Any) -> Any:
    """The loss of ``loss: model``: the output itself, ``output["loss"]`` or ``output.loss``."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):
        if "loss" not in output:
            keys = ", ".join(map(str, output)) or "none"
            raise BuildError(
                f"loss: 'model' takes the loss from the model's output, but its dict has no 'loss' key (keys: {keys}); "
                "return the loss under 'loss', or use a custom loss package.module:callable(output, batch)"
            )
        return output["loss"]
    loss = getattr(output, "loss", None)
    if loss is None:
        raise BuildError(
            f"loss: 'model' takes the loss from the model's output, but a {type(output).__name__} has no 'loss' "
            "attribute; return the loss tensor (or a dict/object with 'loss'), or use a custom loss"
        )
    return loss


def check_loss(loss: Any, source: str) -> torch.Tensor:
    """Refuse a loss that ``backward()`` cannot use: not a tensor, not a scalar, not float."""
    if not isinstance(loss, torch.Tensor):
        raise BuildError(f"loss: {source} returned a {type(loss).__name__}, not a tensor; return a scalar loss tensor")
    if loss.numel() != 1:
        raise BuildError(
            f"loss: {source} returned a tensor of shape {tuple(loss.shape)}, not a scalar; reduce it "
            "(e.g. .mean()) before returning it"
        )
    if not (loss.is_floating_point() or loss.is_complex()):
        raise BuildError(f"loss: {source} returned a {loss.dtype} tensor; a loss must be floating point")
    if not loss.requires_grad:
        raise BuildError(
            f"loss: {source} returned a tensor that does not require grad (computed under no_grad, or "
            "detached from the model's parameters); backward() has nothing to do"
        )
    return loss


def cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(B, C)`` classification, ``(B, T, V)`` language models (class dimension last),
    and ``(B, C, H, W)`` dense prediction (class dimension 1, as torch expects)."""
    if output.dim() == 3:
        return nn.functional.cross_entropy(output.reshape(-1, output.size(-1)), target.reshape(-1))
    return nn.functional.cross_entropy(output, target)


def mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error; an integer target is compared in the output's dtype."""
    if not target.is_floating_point():
        target = target.to(output.dtype)
    return nn.functional.mse_loss(output, target)


@dataclasses.dataclass(frozen=True)
class StepMath:
    """How one micro-batch (already on the device) becomes a loss.

    ``call``: ``input`` | ``batch`` | ``args`` | ``kwargs`` (``model.call``);
    ``loss``: ``cross-entropy`` | ``mse`` | ``model`` | a resolved callable ``(output, batch)``.
    """

    call: str
    loss_name: str
    custom: Callable[[Any, Any], Any] | None = None

    @property
    def needs_target(self) -> bool:
        return self.loss_name in ("cross-entropy", "mse")

    def model_input(self, batch: Any) -> Any:
        """What ``model.call: input`` passes to the model."""
        if self.call != "input":
            return batch
        return split_pair(batch, "model.call")[0] if _pairlike(batch) else batch

    def __call__(self, model: nn.Module, batch: Any) -> torch.Tensor:
        output = self._call_model(model, batch)
        if self.loss_name == "model":
            return check_loss(_loss_from_output(output), "the model's output")
        if self.custom is not None:
            return check_loss(self.custom(output, batch), f"'{self.loss_name}'")
        _, target = split_pair(batch, "loss")
        fn = cross_entropy if self.loss_name == "cross-entropy" else mse
        if not isinstance(output, torch.Tensor):
            raise BuildError(
                f"loss: {self.loss_name} needs the model to return a tensor, got {type(output).__name__}; use "
                "loss: model (output is or holds the loss) or a custom loss package.module:callable(output, batch)"
            )
        return check_loss(fn(output, target), self.loss_name)

    def _call_model(self, model: nn.Module, batch: Any) -> Any:
        if self.call == "kwargs":
            if not isinstance(batch, Mapping):
                raise BuildError(
                    f"model.call: kwargs calls model(**batch) and needs dict batches, got {type(batch).__name__}; "
                    "use model.call: input, batch or args"
                )
            return model(**batch)
        if self.call == "args":
            if not isinstance(batch, (tuple, list)):
                raise BuildError(
                    f"model.call: args calls model(*batch) and needs tuple or list batches, got {type(batch).__name__}"
                )
            return model(*batch)
        if self.call == "batch":
            return model(batch)
        if self.needs_target:
            return model(split_pair(batch, "loss")[0])
        return model(self.model_input(batch))


def _pairlike(batch: Any) -> bool:
    if isinstance(batch, (tuple, list)):
        return len(batch) == 2
    return isinstance(batch, Mapping) and any(k in batch for k in INPUT_KEYS)


def build_step_math(call: str, loss: str, base_dir: Path) -> StepMath:
    """Resolve ``loss:`` (a custom ``package.module:callable`` is imported from the
    config's folder first) into the :class:`StepMath` the loop runs."""
    if loss in ("cross-entropy", "mse", "model"):
        return StepMath(call=call, loss_name=loss)
    from perfkit.build.imports import resolve_callable

    return StepMath(call=call, loss_name=loss, custom=resolve_callable(loss, base_dir, "loss"))


__all__ = [
    "StepMath",
    "batch_size",
    "build_step_math",
    "check_loss",
    "cross_entropy",
    "mse",
    "split_pair",
    "to_device",
]
