"""A finished :class:`~perfkit.runtime.session.Session` → :class:`RunResult`, for runs
on a user's own loop (the API and ``perfkit run``). The YAML runner assembles its own
result from the same :class:`~perfkit.runtime.session.SessionRecord`, with the counters
its config knows (:mod:`perfkit.runtime.runner`).

Every field is measured or observed in the run: counters come from the observed model
and the FLOP-counted warm-up step; ``samples_per_step`` is the most common sample count
of the measured steps (the nominal batch × accumulation); the config section is what
:class:`~perfkit.runtime.observe.Observations` saw.
"""

from __future__ import annotations

from collections import Counter as Tally
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from perfkit.health import check_health
from perfkit.results import Counters, Measurement, RunResult, RunWarning
from perfkit.runtime.device import capture_environment
from perfkit.runtime.peaks import effective_peak_flops_per_s

if TYPE_CHECKING:
    from perfkit.runtime.session import Session, SessionRecord

_AMP_LABELS = {"bf16": "bfloat16", "fp16": "float16"}


def _most_common(values: list[int]) -> int | None:
    return Tally(values).most_common(1)[0][0] if values else None


def session_result(session: Session, record: SessionRecord) -> RunResult:
    observed = session.observed
    cuda = record.device.type == "cuda"
    environment = capture_environment(record.device, Path.cwd())
    measured = [s for s in record.steps if s.measured]
    samples_per_step = _most_common([s.samples for s in measured]) or 0
    tokens_per_step = _most_common([s.tokens for s in measured if s.tokens is not None])
    parameters, trainable, conv_layers = observed.parameters()
    matmul_dtype = record.matmul_dtype or "fp32"
    conv_dtype = record.conv_dtype or matmul_dtype
    peak = None
    if cuda and record.flops_per_step and record.conv_flops_per_step is not None:
        peak = effective_peak_flops_per_s(
            environment.device_name, record.flops_per_step, record.conv_flops_per_step, matmul_dtype, conv_dtype
        )
    counters = Counters(
        parameters=parameters,
        trainable_parameters=trainable,
        flops_per_step=record.flops_per_step,
        flops_dtype=matmul_dtype,
        peak_flops_per_s=peak,
        samples_per_step=samples_per_step,
        tokens_per_step=tokens_per_step,
        conv_layers=conv_layers,
        conv_flops_per_step=record.conv_flops_per_step,
        conv_flops_dtype=conv_dtype if record.conv_flops_per_step else None,
        dataset_samples=observed.dataset_samples,
    )
    warnings: list[RunWarning] = []
    notes: list[str] = []
    if record.flops_per_step is None:
        reason = record.flops_note or (
            "FLOPs not counted: no warm-up step to count them in" if session.warmup_steps == 0 else None
        )
        if reason is None and session.count_flops and not record.interrupted and record.error is None:
            reason = "FLOPs not counted: the run ended before its last warm-up step"
        if reason is not None:
            notes.append(reason)
    compiled_inside = record.compiled_after_measuring - record.compiled_before_measuring
    if compiled_inside > 0 and measured:
        warnings.append(
            RunWarning(
                "compile-in-measured-steps",
                f"torch.compile compiled {compiled_inside} graph(s) during measured steps: those steps include "
                "compile time; use more warm-up steps",
            )
        )
    if record.error is not None:
        warnings.append(
            RunWarning(
                "stopped-by-error",
                f"the run stopped at step {len(record.steps)} on an error ({record.error}); the finished steps are kept",
            )
        )
    warnings += check_health(
        [s.index for s in measured],
        [s.loss for s in measured],
        [s.grad_norm for s in measured],
        scaler_in_use=False,
    )
    if record.interrupted:
        notes.append(f"interrupted after {len(record.steps)} steps")
    config = observed.config()
    config["source"] = session.source
    config["loop"] = {"warmup_steps": session.warmup_steps, "steps": session.steps, "grad_accum": None}
    config.update(session.extra_config)
    measurement = Measurement(
        clock="cuda-events+perf_counter" if cuda else "perf_counter",
        sync=session.sync,
        amp_dtype=_AMP_LABELS.get(observed.amp or ""),
        trace_path=record.trace_path,
        notes=tuple(notes),
        optimizer_variant=observed.optimizer_variant,
        torch_threads=torch.get_num_threads(),
    )
    return RunResult(
        name=session.name,
        started_at=record.started_at,
        config=config,
        environment=environment,
        measurement=measurement,
        counters=counters,
        memory=record.memory,
        steps=tuple(record.steps),
        warnings=tuple(warnings),
        partial=record.interrupted or record.error is not None,
        trace=record.trace_analysis,
    )


__all__ = ["session_result"]
