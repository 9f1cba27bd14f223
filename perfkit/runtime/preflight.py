"""Checks that need torch but not a training run (``perfkit validate``, and ``profile``
before it builds anything, so that a bad setting fails in seconds, not after a run)."""

from __future__ import annotations

from pathlib import Path

from perfkit.build.imports import resolve_callable
from perfkit.config.loader import LoadedConfig
from perfkit.config.names import BUILTIN_DATASETS, BUILTIN_MODELS
from perfkit.errors import BuildError, PerfkitError
from perfkit.io import check_writable
from perfkit.runtime.device import resolve_device
from perfkit.runtime.toggles import check_compile_backend, plan_amp


def preflight(loaded: LoadedConfig) -> None:
    """Resolve the device, the AMP plan and every component name, without building."""
    cfg = loaded.config
    try:
        device = resolve_device(cfg.device)
        plan_amp(cfg.toggles, device)
        if cfg.toggles.compile:
            check_compile_backend(cfg.toggles.compile_backend)
        sched = cfg.optimizer.scheduler
        run_steps = cfg.loop.warmup_steps + cfg.loop.steps
        if sched.name == "onecycle" and sched.total_steps is not None and sched.total_steps < run_steps:
            raise BuildError(
                f"optimizer.scheduler.total_steps: onecycle needs at least the run's {run_steps} optimizer steps, "
                f"got {sched.total_steps}; raise it or leave it unset"
            )
        if cfg.profiler.enabled:
            check_writable(Path(cfg.profiler.dir) / cfg.name / "probe")
        model = cfg.model.name
        if model.startswith("torchvision:"):
            try:
                import torchvision  # noqa: F401
            except ImportError as exc:
                raise BuildError(
                    f"model.name: {model} needs torchvision, which is not installed; "
                    "install the build matching your torch (pip install 'perfkit[vision]')"
                ) from exc
        elif model.startswith("timm:"):
            try:
                import timm  # noqa: F401
            except ImportError as exc:
                raise BuildError(f"model.name: {model} needs timm, which is not installed; pip install 'perfkit[timm]'") from exc
        elif model not in BUILTIN_MODELS:
            resolve_callable(model, loaded.base_dir, "model.name")
        if cfg.data.name not in BUILTIN_DATASETS:
            resolve_callable(cfg.data.name, loaded.base_dir, "data.name")
    except PerfkitError as exc:
        raise loaded.locate(exc) from exc.__cause__
