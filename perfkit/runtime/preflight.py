"""Checks that need torch but not a training run (``perfkit validate``, and ``profile``
before it builds anything, so that a bad setting fails in seconds, not after a run).

Whatever ``profile`` would refuse before training is refused here too, with the same
message: the device and AMP plan, the compile backend, the optimizer and its schedule
(built on a probe parameter), the trace folder, every component name (user modules are
imported, a custom ``loss:`` too), the optional extras (installed *and* importable), each factory's keyword
arguments (its signature is bound), impossible values of the built-ins' parameters, an
``image-folder`` root without images for a batch, and built-in models and datasets that
do not fit each other (a first training step would fail on them).

User factories are not called: one that raises when called is refused by ``profile``
only (``validate`` would have to build the model to know).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from perfkit.build.data import resolve_dataset
from perfkit.build.models import resolve_model
from perfkit.build.optim import build_optimizer
from perfkit.config.loader import LoadedConfig
from perfkit.config.schema import ExperimentConfig
from perfkit.errors import BuildError, PerfkitError
from perfkit.io import check_writable
from perfkit.runtime.batches import build_step_math
from perfkit.runtime.device import resolve_device
from perfkit.runtime.toggles import check_compile_backend, plan_amp
from perfkit.trace.files import run_dir

_IMAGE_MODELS = ("mlp", "convnet", "resnet")
_IMAGE_DATASETS = ("synthetic-images", "image-folder")


def preflight(loaded: LoadedConfig) -> None:
    """Resolve the device, the AMP plan and every component, and check every factory's
    parameters, without building anything."""
    cfg = loaded.config
    try:
        device = resolve_device(cfg.device)
        plan_amp(cfg.toggles, device)
        if cfg.toggles.compile:
            check_compile_backend(cfg.toggles.compile_backend)
        # The optimizer and its schedule, on one probe parameter on the run's device: torch's
        # refusals (a fused variant the device lacks, a schedule that does not cover the run)
        # come out exactly as they would when profile builds them.
        probe = torch.nn.Parameter(torch.zeros(1, device=device))
        run_steps = cfg.loop.warmup_steps + cfg.loop.steps
        build_optimizer(cfg.optimizer, [probe], default_total_steps=run_steps, device_type=device.type)
        if cfg.profiler.enabled:
            check_writable(run_dir(cfg.profiler.dir, cfg.name) / "probe")
        _check_loss(cfg.model.call, cfg.loss, loaded.base_dir)
        model = resolve_model(cfg.model, loaded.base_dir)
        data = resolve_dataset(cfg.data, loaded.base_dir, cfg.seed)
        if model.arguments is not None and data.arguments is not None:
            check_fit(cfg, model.arguments, data.arguments)
    except PerfkitError as exc:
        raise loaded.locate(exc) from exc.__cause__


def _check_loss(call: str, loss: str, base_dir: Path) -> None:
    """A custom ``loss:`` is imported as the run would import it, and must accept the
    ``(output, batch)`` it will be called with."""
    math = build_step_math(call, loss, base_dir)
    if math.custom is None:
        return
    try:
        inspect.signature(math.custom).bind(None, None)
    except TypeError as exc:
        raise BuildError(f"loss: '{loss}' must accept (output, batch) ({exc}); change its signature") from exc
    except ValueError:
        return  # no signature to read: the call itself checks


def check_fit(cfg: ExperimentConfig, model: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """A built-in model against a built-in dataset: what would make the first training
    step fail (labels past the classifier, tokens past the vocabulary, another input
    shape). ``model``/``data`` are the factories' arguments with their defaults. Only
    the default wiring is judged (``model.call: input``; labels only with the
    ``cross-entropy`` loss): with any other, the batch reaches the model another way."""
    m, d = cfg.model.name, cfg.data.name
    if cfg.model.call != "input":
        return
    if (m in _IMAGE_MODELS) != (d in _IMAGE_DATASETS):
        kind = "images" if d in _IMAGE_DATASETS else "token sequences"
        fits = "mlp, convnet or resnet" if d in _IMAGE_DATASETS else "transformer"
        raise BuildError(f"model.name: built-in model '{m}' cannot train on {kind} from '{d}'; use {fits}")
    if d == "synthetic-tokens":
        if data["vocab_size"] > model["vocab_size"]:
            raise BuildError(
                f"model.params.vocab_size: {model['vocab_size']} is smaller than data.params.vocab_size "
                f"({data['vocab_size']}), so token ids would be out of range; make it at least {data['vocab_size']}"
            )
        if data["seq_len"] > model["seq_len"]:
            raise BuildError(
                f"model.params.seq_len: {model['seq_len']} is shorter than data.params.seq_len ({data['seq_len']}); "
                f"make it at least {data['seq_len']}"
            )
        return
    channels = data.get("channels", 3)
    size = data["image_size"]  # image-folder crops to image_size
    if d == "synthetic-images" and data["crop_size"] is not None:
        size = data["crop_size"]
    classes = data.get("num_classes")
    if cfg.loss == "cross-entropy" and classes is not None and classes > model["num_classes"]:
        raise BuildError(
            f"model.params.num_classes: {model['num_classes']} is fewer than data.params.num_classes ({classes}), "
            f"so labels would be out of range; make it at least {classes}"
        )
    if m == "mlp" and model["input_dim"] != channels * size * size:
        raise BuildError(
            f"model.params.input_dim: {model['input_dim']} does not match the images of '{d}' "
            f"({channels}x{size}x{size} = {channels * size * size} values); set it to {channels * size * size}"
        )
    if m in ("convnet", "resnet") and model["in_channels"] != channels:
        raise BuildError(
            f"model.params.in_channels: {model['in_channels']} does not match the {channels}-channel images of '{d}'; "
            f"set it to {channels}"
        )
    if m == "convnet" and size < 2 ** model["depth"]:
        raise BuildError(
            f"model.params.depth: {model['depth']} blocks halve the {size}-pixel images {model['depth']} times, "
            f"below one pixel; use at most {size.bit_length() - 1} blocks or larger images"
        )
