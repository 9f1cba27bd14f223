"""CUDA-only checks of the measurement (skipped without a GPU; run by scripts/gpu_check.sh)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

from perfkit.config import config_from_dict  # noqa: E402
from perfkit.runtime.runner import run_experiment  # noqa: E402
from perfkit.summary import summarize  # noqa: E402


def _mlp(**overrides: object) -> dict:
    config = {
        "device": "cuda",
        "model": {"name": "mlp", "params": {"input_dim": 3 * 32 * 32, "hidden": 4096, "depth": 4, "num_classes": 10}},
        "data": {"name": "synthetic-images", "params": {"num_samples": 2048, "image_size": 32}, "batch_size": 512, "num_workers": 2, "pin_memory": True},
        "optimizer": {"name": "adamw", "lr": 1e-3},
        "loop": {"steps": 10, "warmup_steps": 3},
    }
    for key, value in overrides.items():
        section, _, field = key.partition("__")
        config.setdefault(section, {})[field] = value  # type: ignore[index]
    return config


def test_device_time_is_measured_without_per_phase_sync() -> None:
    result = run_experiment(config_from_dict(_mlp()))
    assert result.measurement.clock == "cuda-events+perf_counter" and not result.measurement.sync
    for step in result.steps:
        assert step.device_ms is not None and step.step_device_ms is not None
        assert sum(step.device_ms.values()) == pytest.approx(step.step_device_ms, rel=1e-6)
    summary = summarize(result)
    forward = summary.phase("forward")
    assert forward is not None and forward.device is not None
    # Launching is cheap; the GPU work of a 4096-wide MLP on 512 samples is not.
    assert forward.device.median > forward.host.median
    assert result.memory.device_peak_allocated_bytes and result.memory.device_total_bytes


def test_sync_mode_moves_device_work_into_host_time() -> None:
    loose = summarize(run_experiment(config_from_dict(_mlp())))
    strict_result = run_experiment(config_from_dict(_mlp()), sync=True)
    strict = summarize(strict_result)
    assert strict_result.measurement.sync
    f_loose, f_strict = loose.phase("forward"), strict.phase("forward")
    assert f_loose is not None and f_strict is not None and f_strict.device is not None
    assert f_strict.host.median >= 0.8 * f_strict.device.median
    assert f_strict.host.median > f_loose.host.median


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_runs_and_reports_mfu_on_known_gpus(amp: str) -> None:
    result = run_experiment(config_from_dict(_mlp(toggles__amp=amp)))
    assert result.measurement.amp_dtype == {"bf16": "bfloat16", "fp16": "float16"}[amp]
    assert result.counters.flops_dtype == amp
    summary = summarize(result)
    if result.counters.peak_flops_per_s is not None:
        assert summary.mfu is not None and 0 < summary.mfu < 1
    assert not [w for w in result.warnings if w.code == "loss-non-finite"]


def test_traced_run_attributes_kernels_to_phases(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = _mlp()
    config["profiler"] = {"enabled": True, "dir": str(tmp_path), "active": 2}
    result = run_experiment(config_from_dict(config))
    assert result.trace is not None and result.measurement.trace_path
    from perfkit.trace.analysis import TraceAnalysis

    analysis = TraceAnalysis.from_dict(result.trace)
    assert analysis.phase_mapping == "perfkit" and analysis.device is not None
    for name in ("forward", "backward", "optimizer"):
        phase = analysis.phases[name]
        assert phase.kernel_ns is not None and phase.kernel_ns > 0, name
        assert phase.launches is not None and phase.launches > 0, name
    assert analysis.phases["h2d"].memcpy_ns  # the pinned, non-blocking batch copy
    assert analysis.device.unlinked_device_events == 0
