"""Synthetic RunResults for tests of everything downstream of the loop (no torch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from perfkit.results import (
    PHASES,
    Counters,
    Environment,
    Measurement,
    Memory,
    RunResult,
    RunWarning,
    StepSample,
)

ENV = Environment(
    perfkit_version="0.1.0",
    python="3.11.7",
    platform="Linux",
    hostname="host",
    cpu_count=2,
    torch="2.13.0+cpu",
    cuda=None,
    cudnn=None,
    device_type="cpu",
    device_name="AMD EPYC",
    device_capability=None,
    device_memory_bytes=None,
    git_sha=None,
)

CONFIG: dict[str, Any] = {
    "name": "synthetic",
    "model": {"name": "convnet", "params": {}},
    "data": {"name": "synthetic-images", "batch_size": 32, "num_workers": 0, "pin_memory": False, "persistent_workers": False},
    "optimizer": {"name": "sgd", "foreach": None, "fused": None},
    "loop": {"steps": 10, "warmup_steps": 1, "grad_accum": 1},
    "toggles": {"amp": "off", "channels_last": False, "compile": False, "cudnn_benchmark": None, "tf32": None},
}


def step(
    index: int,
    phases: dict[str, float],
    *,
    warmup: bool = False,
    traced: bool = False,
    device: dict[str, float] | None = None,
    samples: int = 32,
    tokens: int | None = None,
    loss: float | None = 1.0,
    grad_norm: float | None = 1.0,
) -> StepSample:
    host = {p: phases.get(p, 0.0) for p in PHASES}
    host["other"] = phases.get("other", 0.0)
    device_ms = None
    step_device = None
    if device is not None:
        device_ms = {p: device.get(p, 0.0) for p in PHASES}
        device_ms["other"] = device.get("other", 0.0)
        step_device = sum(device_ms.values())
    return StepSample(
        index=index,
        warmup=warmup,
        traced=traced,
        host_ms=host,
        step_host_ms=sum(host.values()),
        device_ms=device_ms,
        step_device_ms=step_device,
        samples=samples,
        tokens=tokens,
        loss=loss,
        grad_norm=grad_norm,
    )


def run(
    steps: Sequence[StepSample] = (),
    *,
    name: str = "synthetic",
    environment: Environment = ENV,
    config: dict[str, Any] | None = None,
    flops: int | None = 1_000_000,
    peak_flops: float | None = None,
    warnings: Sequence[RunWarning] = (),
    partial: bool = False,
    memory: Memory | None = None,
    conv_layers: int = 2,
    trace: dict[str, Any] | None = None,
    dataset_samples: int | None = 1024,
) -> RunResult:
    return RunResult(
        name=name,
        started_at="2026-11-27T00:00:00+00:00",
        config=config if config is not None else dict(CONFIG, name=name),
        environment=environment,
        measurement=Measurement(clock="perf_counter", sync=False, amp_dtype=None, optimizer_variant="for-loop"),
        counters=Counters(
            parameters=1000,
            trainable_parameters=1000,
            flops_per_step=flops,
            flops_dtype="fp32",
            peak_flops_per_s=peak_flops,
            samples_per_step=32,
            tokens_per_step=None,
            conv_layers=conv_layers,
            dataset_samples=dataset_samples,
        ),
        memory=memory or Memory(None, None, None, 300 * 2**20),
        steps=tuple(steps),
        warnings=tuple(warnings),
        partial=partial,
        trace=trace,
    )


def steady_run(n: int = 10, base: float = 10.0, **kwargs: Any) -> RunResult:
    """One warm-up step and ``n`` measured steps with a small, deterministic spread."""
    steps = [step(0, {"data": 50.0, "forward": 50.0}, warmup=True)]
    for i in range(1, n + 1):
        jitter = (i % 3) * 0.1
        steps.append(
            step(i, {"data": base * 0.1, "h2d": 0.1, "forward": base * 0.4 + jitter, "backward": base * 0.4, "optimizer": base * 0.09, "other": 0.01})
        )
    return run(steps, **kwargs)
