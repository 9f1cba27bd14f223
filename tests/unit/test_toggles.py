"""The toggles are applied for real: channels_last, autocast, compile, backend flags."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from perfkit.config import config_from_dict, load_config
from perfkit.config.schema import TogglesConfig
from perfkit.errors import ConfigError
from perfkit.runtime.runner import run_experiment
from perfkit.runtime.toggles import (
    backend_flags,
    conv_tf32_enabled,
    matmul_fp32_dtype,
    plan_amp,
    prepare_model,
    tf32_supported,
)

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
sys.path.insert(0, str(HELPERS))
phase_costs = importlib.import_module("phase_costs")
sys.path.remove(str(HELPERS))


def _probe_run(tmp_path: Path, toggles: dict[str, Any]) -> list[dict[str, object]]:
    import yaml

    config = {
        "device": "cpu",
        "model": {"name": "phase_costs:Probe"},
        "data": {"name": "synthetic-images", "params": {"num_samples": 8, "image_size": 6, "num_classes": 2}, "batch_size": 2},
        "loop": {"steps": 1, "warmup_steps": 0},
        "toggles": toggles,
    }
    # In tmp_path, not beside tests/helpers: "phase_costs" resolves to the module imported
    # above (sys.modules), the one whose Probe.seen this test reads.
    path = tmp_path / "probe.yaml"
    path.write_text(yaml.safe_dump(config))
    phase_costs.Probe.seen.clear()
    run_experiment(load_config(path))
    return list(phase_costs.Probe.seen)


def test_bf16_autocast_is_active_inside_forward(tmp_path: Path) -> None:
    seen = _probe_run(tmp_path, {"amp": "bf16"})
    training = seen[0]  # the first call is the training step; later ones count FLOPs
    assert training["autocast"] is True
    assert training["dtype"] == torch.bfloat16
    assert training["conv_out_dtype"] == torch.bfloat16


def test_amp_off_runs_in_fp32(tmp_path: Path) -> None:
    seen = _probe_run(tmp_path, {"amp": "off"})
    assert seen[0]["autocast"] is False
    assert seen[0]["conv_out_dtype"] == torch.float32


def test_channels_last_reaches_inputs_and_parameters(tmp_path: Path) -> None:
    seen = _probe_run(tmp_path, {"channels_last": True})
    assert seen[0]["channels_last"] is True
    assert _probe_run(tmp_path, {"channels_last": False})[0]["channels_last"] is False
    module, _ = prepare_model(torch.nn.Conv2d(3, 8, 3), TogglesConfig(channels_last=True), torch.device("cpu"))
    assert module.weight.is_contiguous(memory_format=torch.channels_last)  # type: ignore[union-attr]
    assert not module.weight.is_contiguous()  # type: ignore[union-attr]


def test_compile_wraps_the_model() -> None:
    module, runnable = prepare_model(
        torch.nn.Linear(3, 2), TogglesConfig(compile=True, compile_backend="eager"), torch.device("cpu")
    )
    assert runnable is not module
    assert type(runnable).__name__ == "OptimizedModule"
    assert runnable(torch.randn(2, 3)).shape == (2, 2)


def test_compiled_run_end_to_end(tiny_config, write_yaml) -> None:  # type: ignore[no-untyped-def]
    tiny_config["toggles"] = {"compile": True, "compile_backend": "eager"}
    result = run_experiment(load_config(write_yaml(tiny_config)))
    assert len(result.steps) == 4
    assert result.config["toggles"]["compile"] is True


def test_fp16_on_cpu_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match=r"toggles\.amp: fp16 needs a CUDA device: .*use amp: bf16 on CPU"):
        plan_amp(TogglesConfig(amp="fp16"), torch.device("cpu"))
    plan = plan_amp(TogglesConfig(amp="bf16"), torch.device("cpu"))
    assert plan.dtype == torch.bfloat16 and not plan.use_scaler


def test_fp16_on_cpu_is_located_in_the_file(tiny_config, write_yaml) -> None:  # type: ignore[no-untyped-def]
    tiny_config["toggles"] = {"amp": "fp16"}
    path = write_yaml(tiny_config)
    with pytest.raises(ConfigError, match=rf"^{path}:\d+: toggles\.amp: fp16 needs a CUDA device"):
        run_experiment(load_config(path))


def test_backend_flags_are_set_and_restored() -> None:
    before = torch.backends.cudnn.benchmark
    with backend_flags(config_from_dict({"toggles": {"cudnn_benchmark": True, "tf32": True}}).config.toggles):
        assert torch.backends.cudnn.benchmark is True
        assert torch.get_float32_matmul_precision() == "high"
        assert torch.backends.cudnn.allow_tf32 is True
        assert matmul_fp32_dtype() == "tf32" and conv_tf32_enabled()
    assert torch.backends.cudnn.benchmark == before
    assert torch.get_float32_matmul_precision() == "highest"
    with backend_flags(TogglesConfig(tf32=False)):
        assert torch.get_float32_matmul_precision() == "highest"
        assert torch.backends.cudnn.allow_tf32 is False
        assert matmul_fp32_dtype() == "fp32" and not conv_tf32_enabled()
    assert torch.backends.cudnn.allow_tf32 is True


def test_tf32_toggle_leaves_torch_readable() -> None:
    """Setting torch>=2.9's per-backend fp32_precision directly puts torch in a 'mixed
    legacy and new API' state where get_float32_matmul_precision() and allow_tf32 raise;
    Inductor reads them (max-autotune). perfkit's toggle must not cause that state."""
    for enabled in (True, False):
        with backend_flags(TogglesConfig(tf32=enabled)):
            # Each reader works (no "mixed API" error) and tells the state that was set.
            assert torch.get_float32_matmul_precision() == ("high" if enabled else "highest")
            assert torch.backends.cuda.matmul.allow_tf32 is enabled
            assert torch.backends.cudnn.allow_tf32 is enabled


def test_tf32_readers_survive_a_user_who_mixed_the_apis() -> None:
    backends: Any = torch.backends
    if not hasattr(backends.cuda.matmul, "fp32_precision"):
        pytest.skip("torch < 2.9 has no per-backend fp32_precision")
    saved = backends.cuda.matmul.fp32_precision
    try:
        backends.cuda.matmul.fp32_precision = "tf32"
        assert matmul_fp32_dtype() == "tf32"
        with backend_flags(TogglesConfig(tf32=False)):  # saving what it cannot read must not crash
            assert matmul_fp32_dtype() == "fp32"
        assert matmul_fp32_dtype() == "tf32"  # the user's own setting is back
    finally:
        backends.cuda.matmul.fp32_precision = saved
        torch.set_float32_matmul_precision("highest")


def test_tf32_does_not_exist_before_ampere(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not tf32_supported(torch.device("cpu"))
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))  # V100
    assert not tf32_supported(torch.device("cuda", 0))
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))  # A100
    assert tf32_supported(torch.device("cuda", 0))


def test_mfu_dtypes_follow_the_gpu_and_the_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    """The peak MFU is measured against: fp32 on a V100 whatever the TF32 flags say."""
    from perfkit.runtime.runner import _math_dtypes
    from perfkit.runtime.toggles import AmpPlan

    cuda = torch.device("cuda", 0)
    off = AmpPlan(dtype=None, use_scaler=False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))
    with backend_flags(TogglesConfig(tf32=True)):
        assert _math_dtypes(off, cuda) == ("fp32", "fp32")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    with backend_flags(TogglesConfig(tf32=True)):
        assert _math_dtypes(off, cuda) == ("tf32", "tf32")
    with backend_flags(TogglesConfig(tf32=False)):
        assert _math_dtypes(off, cuda) == ("fp32", "fp32")
    assert _math_dtypes(AmpPlan(dtype=torch.bfloat16, use_scaler=False), cuda) == ("bf16", "bf16")
