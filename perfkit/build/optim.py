"""Optimizer and learning-rate scheduler builder.

``build_optimizer`` receives only the ``optimizer:`` section (plus the parameters to
optimize and the run length, which cosine/onecycle schedules need when
``total_steps`` is not given). ``foreach``/``fused`` are passed only when set, so that
``null`` keeps torch's own default choice.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from perfkit.config.schema import OptimizerConfig, SchedulerConfig
from perfkit.errors import BuildError

OPTIMIZER_CLASSES: dict[str, type[Optimizer]] = {
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "adagrad": torch.optim.Adagrad,
}

# Config key -> torch keyword, for options that are passed through when set.
_PASS_THROUGH = (
    "momentum",
    "nesterov",
    "dampening",
    "alpha",
    "centered",
    "betas",
    "eps",
    "amsgrad",
    "lr_decay",
    "foreach",
    "fused",
)


@dataclass(frozen=True)
class OptimizerSetup:
    optimizer: Optimizer
    scheduler: LRScheduler | None
    variant: str  # "fused", "foreach" or "for-loop"


def build_optimizer(
    config: OptimizerConfig,
    params: Iterable[torch.nn.Parameter],
    default_total_steps: int,
    device_type: str = "cpu",
) -> OptimizerSetup:
    """Build the optimizer and scheduler; torch's refusals become :class:`BuildError`.

    ``variant`` says what torch will run: torch picks foreach by itself only when *both*
    foreach and fused are unset and every parameter is on CUDA; any explicit setting
    (``fused: false`` included) that does not ask for foreach or fused means the
    per-parameter for-loop."""
    cls = OPTIMIZER_CLASSES[config.name]
    kwargs: dict[str, Any] = {"lr": config.lr, "weight_decay": config.weight_decay}
    for key in _PASS_THROUGH:
        value = getattr(config, key)
        if value is not None:
            kwargs[key] = tuple(value) if key == "betas" else value
    accepted = inspect.signature(cls).parameters
    for key in list(kwargs):
        if key not in accepted and kwargs[key] is False:
            del kwargs[key]  # "off" for an option this optimizer does not have: nothing to pass
        elif key not in accepted:
            raise BuildError(
                f"optimizer.{key}: torch {torch.__version__} {cls.__name__} has no '{key}' option; remove it"
            )
    try:
        optimizer = cls(list(params), **kwargs)
    except (RuntimeError, ValueError, TypeError) as exc:
        culprit = ".fused" if config.fused else ".foreach" if config.foreach else ""
        raise BuildError(f"optimizer{culprit}: torch refused {cls.__name__}({_fmt(kwargs)}): {exc}") from exc
    if config.fused:
        variant = "fused"
    elif config.foreach or (config.foreach is None and config.fused is None and device_type == "cuda"):
        variant = "foreach"
    else:
        variant = "for-loop"
    try:
        scheduler = build_scheduler(config.scheduler, optimizer, config.lr, default_total_steps, _uses_momentum(config))
    except (RuntimeError, ValueError, TypeError) as exc:
        raise BuildError(f"optimizer.scheduler: torch refused the {config.scheduler.name} schedule for {cls.__name__}: {exc}") from exc
    return OptimizerSetup(optimizer=optimizer, scheduler=scheduler, variant=variant)


def _uses_momentum(config: OptimizerConfig) -> bool:
    """Whether the configured optimizer already keeps momentum (Adam's beta1, or SGD's and
    RMSprop's momentum when set above 0)."""
    if config.name in ("adam", "adamw"):
        return True
    return config.name in ("sgd", "rmsprop") and bool(config.momentum)


def build_scheduler(
    config: SchedulerConfig,
    optimizer: Optimizer,
    base_lr: float,
    default_total_steps: int,
    cycle_momentum: bool = True,
) -> LRScheduler | None:
    """A scheduler stepped once per optimizer step, or ``None`` for ``name: none``.

    ``onecycle`` cycles momentum (beta1) only when the optimizer already uses it
    (``cycle_momentum``): for SGD or RMSprop without momentum, torch's OneCycleLR would
    switch momentum on at 0.95, and the run would time an optimizer with a momentum
    buffer the config does not have; Adagrad has none and torch would refuse."""
    sched = torch.optim.lr_scheduler
    total = config.total_steps or default_total_steps
    if config.name == "none":
        return None
    if config.name == "step":
        return sched.StepLR(optimizer, step_size=config.step_size or 30, gamma=config.gamma if config.gamma is not None else 0.1)
    if config.name == "cosine":
        # Past T_max, CosineAnnealingLR climbs back up: the run would train at rising LRs.
        if total < default_total_steps:
            raise BuildError(
                f"optimizer.scheduler.total_steps: cosine over {total} steps would climb back up within the "
                f"run's {default_total_steps} optimizer steps (loop.warmup_steps + loop.steps); raise it or leave it unset"
            )
        return sched.CosineAnnealingLR(optimizer, T_max=total, eta_min=config.min_lr or 0.0)
    if config.name == "onecycle":
        # OneCycleLR raises if stepped past total_steps: it must cover the whole run.
        if total < default_total_steps:
            raise BuildError(
                f"optimizer.scheduler.total_steps: onecycle needs at least the run's {default_total_steps} "
                f"optimizer steps (loop.warmup_steps + loop.steps), got {total}; raise it or leave it unset"
            )
        return sched.OneCycleLR(optimizer, max_lr=config.max_lr or base_lr, total_steps=total, cycle_momentum=cycle_momentum)
    if config.name == "linear-warmup":
        warmup = config.warmup_steps or max(1, total // 10)
        return sched.LinearLR(optimizer, start_factor=1.0 / (warmup + 1), end_factor=1.0, total_iters=warmup)
    raise BuildError(f"optimizer.scheduler.name: unknown scheduler '{config.name}'")


def _fmt(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
