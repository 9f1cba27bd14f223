"""Build an experiment from its config, run the instrumented loop, return a RunResult.

Order of work: seed → device → AMP plan → dataset/loader → model (+ toggles) →
optimizer → environment → loop (under backend flags and, if asked, the profiler) →
FLOP count (one extra forward/backward, outside the measured window) → memory →
health checks → :class:`~perfkit.results.RunResult`.
"""

from __future__ import annotations

import datetime as dt
import gc
import random
import warnings as pywarnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from perfkit.build.data import build_dataset, build_loader
from perfkit.build.models import build_model
from perfkit.build.optim import build_optimizer
from perfkit.config.loader import LoadedConfig
from perfkit.errors import PerfkitError, RunFailed
from perfkit.health import check_health
from perfkit.results import Counters, Measurement, RunResult, RunWarning
from perfkit.runtime.batches import build_step_math, to_device
from perfkit.runtime.clock import Clock, PerfCounterClock
from perfkit.runtime.device import capture_environment, resolve_device
from perfkit.runtime.flops import FlopCount, count_step_flops
from perfkit.runtime.loop import LoopOptions, LoopRecord, Workload, marks_per_step, run_loop
from perfkit.runtime.peaks import effective_peak_flops_per_s
from perfkit.runtime.session import Session
from perfkit.runtime.toggles import (
    AmpPlan,
    autocast_context,
    backend_flags,
    conv_tf32_enabled,
    make_scaler,
    matmul_fp32_dtype,
    plan_amp,
    prepare_model,
    tf32_supported,
)

ProgressCallback = Callable[[int, int], None]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _math_dtypes(amp: AmpPlan, device: torch.device) -> tuple[str, str]:
    """(matmul dtype, convolution dtype) the run's FLOPs execute in, for the MFU peak."""
    if amp.dtype is not None:
        dtype = {torch.bfloat16: "bf16", torch.float16: "fp16"}[amp.dtype]
        return dtype, dtype
    if not tf32_supported(device):  # CPU, or a GPU before Ampere: fp32 math stays fp32
        return "fp32", "fp32"
    return matmul_fp32_dtype(), "tf32" if conv_tf32_enabled() else "fp32"


#: Steps torch.compile needs before its steady state: the compile itself, plus CUDA-graph
#: recording for mode reduce-overhead.
COMPILE_WARMUP = {"reduce-overhead": 3}
DEFAULT_COMPILE_WARMUP = 2


def run_experiment(
    loaded: LoadedConfig,
    *,
    clock: Clock | None = None,
    sync: bool = False,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Run the experiment described by ``loaded`` and return everything measured.

    ``clock`` defaults to ``time.perf_counter``; tests inject a fake one. ``sync``
    synchronises the device at every phase boundary (see :mod:`perfkit.runtime.loop`).
    Tracing is on when ``loaded.config.profiler.enabled``.
    """
    threads = torch.get_num_threads()
    try:
        if loaded.config.threads is not None:
            torch.set_num_threads(loaded.config.threads)
        with pywarnings.catch_warnings():
            # torch warns about more workers than cores at DataLoader creation and again at
            # every epoch's iterator; perfkit's workers-oversubscribed advice says it once,
            # with the measured data and compute shares.
            pywarnings.filterwarnings("ignore", message="This DataLoader will create", category=UserWarning)
            return _run(loaded, clock or PerfCounterClock(), sync, progress)
    except RunFailed as exc:
        raise RunFailed(loaded.locate(exc.error), exc.partial) from exc.__cause__
    except PerfkitError as exc:
        raise loaded.locate(exc) from exc.__cause__
    finally:
        torch.set_num_threads(threads)


def start_from_a_clean_process_state(device: torch.device, compile_enabled: bool) -> None:
    """Undo what an earlier run in this process left behind (``perfkit compare`` and
    ``perfkit gate`` make several runs in one process), so that each run measures as if
    it had the process to itself:

    * ``gc.collect()``: an earlier run's model and optimizer can survive in reference
      cycles until the cycle collector happens to run, inflating this run's memory peaks;
    * ``torch.cuda.empty_cache()``: blocks the caching allocator kept from an earlier run
      would count in this run's reserved-memory peak (``reset_peak_memory_stats`` resets
      the peak to the *current* reservation);
    * ``torch.compiler.reset()`` when compiling: dynamo's code cache outlives a run, so a
      later run would reuse (or, for another shape, trip over) an earlier run's graphs and
      skip the compilation its warm-up is meant to absorb; after 8 configs it would hit
      the recompile limit and silently fall back to eager.
    """
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    if compile_enabled:
        torch.compiler.reset()


def _run(loaded: LoadedConfig, clock: Clock, sync: bool, progress: ProgressCallback | None) -> RunResult:
    cfg = loaded.config
    started_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    cuda = device.type == "cuda"
    start_from_a_clean_process_state(device, cfg.toggles.compile)
    amp = plan_amp(cfg.toggles, device)
    notes: list[str] = []
    warnings: list[RunWarning] = []
    if sync and not cuda:
        notes.append("--sync has no effect on CPU: CPU work is synchronous")
    if cfg.data.pin_memory and not cuda:
        warnings.append(RunWarning("pin-memory-cpu", "data.pin_memory has no effect without a CUDA device; it was not used"))

    if cfg.toggles.compile:
        needed = COMPILE_WARMUP.get(cfg.toggles.compile_mode, DEFAULT_COMPILE_WARMUP)
        if cfg.loop.warmup_steps < needed:
            warnings.append(
                RunWarning(
                    "compile-warmup",
                    f"torch.compile needs about {needed} warm-up steps (mode {cfg.toggles.compile_mode}); "
                    f"with loop.warmup_steps {cfg.loop.warmup_steps} compilation lands in measured steps",
                )
            )

    spec = build_dataset(cfg.data, loaded.base_dir, seed=cfg.seed)
    loader = build_loader(cfg.data, spec.dataset, pin_memory=cfg.data.pin_memory and cuda, seed=cfg.seed)
    module, runnable = prepare_model(build_model(cfg.model, loaded.base_dir), cfg.toggles, device)
    setup = build_optimizer(
        cfg.optimizer,
        module.parameters(),
        default_total_steps=cfg.loop.warmup_steps + cfg.loop.steps,
        device_type=device.type,
    )
    environment = capture_environment(device, loaded.base_dir)
    work = Workload(
        runnable=runnable,
        module=module,
        loader=loader,
        optimizer=setup.optimizer,
        scheduler=setup.scheduler,
        scaler=make_scaler(amp, device),
        device=device,
        autocast=lambda: autocast_context(amp, device),
        non_blocking=cfg.data.pin_memory and cuda,
        channels_last=cfg.toggles.channels_last,
        tokens_per_sample=spec.tokens_per_sample,
        math=build_step_math(cfg.model.call, cfg.loss, loaded.base_dir),
        batch_size=cfg.data.batch_size,
    )
    options = LoopOptions(
        steps=cfg.loop.steps,
        warmup_steps=cfg.loop.warmup_steps,
        grad_accum=cfg.loop.grad_accum,
        grad_clip=cfg.loop.grad_clip,
        track_grad_norm=cfg.loop.track_grad_norm,
    )
    flops: FlopCount | None = None
    with backend_flags(cfg.toggles):
        matmul_dtype, conv_dtype = _math_dtypes(amp, device)
        session = Session(
            cfg.name,
            device=device,
            warmup_steps=options.warmup_steps,
            steps=options.steps,
            trace=cfg.profiler if cfg.profiler.enabled else False,
            sync=sync and cuda,
            count_flops=False,  # counted below, on one micro-batch of the plain module
            clock=clock,
            progress=progress,
            marks_per_step=marks_per_step(options.grad_accum),
            source="yaml",
        )
        session.start()
        loop = LoopRecord()
        try:
            loop = run_loop(work, options, session)
        finally:
            session.finish(loop.failure or (KeyboardInterrupt() if loop.interrupted else None))
        record = session.record
        if loop.failure is not None and not record.steps:
            raise loop.failure
        compiled_inside = record.compiled_after_measuring - record.compiled_before_measuring
        if cfg.toggles.compile and compiled_inside > 0 and any(s.measured for s in record.steps):
            warnings.append(
                RunWarning(
                    "compile-in-measured-steps",
                    f"torch.compile compiled {compiled_inside} graph(s) during measured steps (a recompile, "
                    "e.g. for a smaller last batch): those steps include compile time; raise loop.warmup_steps "
                    "or set data.drop_last: true",
                )
            )
        if loop.full_batch is not None and not loop.interrupted and loop.failure is None:
            flops = _count_flops(work, loop.full_batch, warnings)
        if cuda:
            torch.cuda.synchronize(device)
    parameters = sum(p.numel() for p in module.parameters())
    samples_per_step = cfg.data.batch_size * cfg.loop.grad_accum
    accum = options.grad_accum
    flops_per_step = flops.total * accum if flops is not None else None
    conv_flops = flops.conv * accum if flops is not None else None
    peak = None
    if cuda and flops_per_step and conv_flops is not None:
        peak = effective_peak_flops_per_s(environment.device_name, flops_per_step, conv_flops, matmul_dtype, conv_dtype)
    counters = Counters(
        parameters=int(parameters),
        trainable_parameters=int(sum(p.numel() for p in module.parameters() if p.requires_grad)),
        flops_per_step=flops_per_step,
        flops_dtype=matmul_dtype,
        peak_flops_per_s=peak,
        samples_per_step=samples_per_step,
        tokens_per_step=samples_per_step * spec.tokens_per_sample if spec.tokens_per_sample else None,
        conv_layers=sum(isinstance(m, torch.nn.Conv2d) for m in module.modules()),
        conv_flops_per_step=conv_flops,
        conv_flops_dtype=conv_dtype,
        dataset_samples=len(spec.dataset),  # type: ignore[arg-type]
    )
    measured = [s for s in record.steps if not s.warmup]
    warnings += check_health(
        [s.index for s in measured],
        [s.loss for s in measured],
        [s.grad_norm for s in measured],
        scaler_in_use=work.scaler is not None,
    )
    total = options.warmup_steps + options.steps
    if loop.interrupted:
        notes.append(f"interrupted after {len(record.steps)} of {total} steps")
    if loop.failure is not None:
        warnings.append(
            RunWarning(
                "stopped-by-error",
                f"the run stopped at step {len(record.steps)} of {total} on an error: {loop.failure.message}",
            )
        )
    measurement = Measurement(
        clock="cuda-events+perf_counter" if cuda else "perf_counter",
        sync=session.sync,
        amp_dtype=amp.label,
        trace_path=record.trace_path,
        notes=tuple(notes),
        optimizer_variant=setup.variant,
        torch_threads=torch.get_num_threads(),
    )
    result = RunResult(
        name=cfg.name,
        started_at=started_at,
        config=cfg.model_dump(mode="json"),
        environment=environment,
        measurement=measurement,
        counters=counters,
        memory=record.memory,
        steps=tuple(record.steps),
        warnings=tuple(warnings),
        partial=loop.interrupted or loop.failure is not None,
        trace=record.trace_analysis,
    )
    if loop.failure is not None:
        raise RunFailed(loop.failure, result)
    return result


def _count_flops(work: Workload, batch: Any, warnings: list[RunWarning]) -> FlopCount | None:
    """FLOPs of one full-size micro-batch, counted after the loop on the plain module."""
    on_device = to_device(batch, work.device, False, work.channels_last)
    try:
        return count_step_flops(work.module, lambda module: work.math(module, on_device), work.autocast)
    except Exception as exc:  # counting is best-effort: an op the counter cannot handle
        warnings.append(
            RunWarning("flops-unavailable", f"FLOP counting failed ({type(exc).__name__}: {exc}); FLOPs and MFU are absent")
        )
        return None
