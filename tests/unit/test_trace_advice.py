"""Advice from trace measurements: facts come from TraceAnalysis fields, rules fire on them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from perfkit.trace.model import TrainingSignals
from perfkit.trace_advice import build_trace_report, facts_from_trace

SHARED = Path(__file__).resolve().parents[3] / "shared" / "traces"
FIXTURE = Path(__file__).resolve().parents[1] / "data" / "traces" / "cuda_fixture.pt.trace.json"


def _analysis(path: Path):  # type: ignore[no-untyped-def]
    from perfkit.trace.analysis import analyze_file

    return analyze_file(path)


def test_facts_from_the_cuda_fixture() -> None:
    analysis = _analysis(FIXTURE)
    facts = facts_from_trace(analysis)
    assert analysis.device is not None
    assert facts.gpu_utilization == analysis.device.utilization
    assert facts.kernels_per_step == analysis.device.kernels_per_step
    assert facts.data_share == analysis.dataloader_share
    assert facts.compute_capability == float(analysis.device.compute_capability or 0)


def test_cpu_only_trace_has_no_device_facts() -> None:
    path = SHARED / "cpu_only.pt.trace.json.gz"
    if not path.exists():
        pytest.skip("../shared/traces is absent")
    facts = facts_from_trace(_analysis(path))
    assert facts.gpu_utilization is None and facts.tensor_core_share is None and facts.kernels_per_step is None
    assert "low-gpu-utilization" not in {a.rule for a in build_trace_report(_analysis(path)).advice}


def test_v100_without_tensor_cores_gets_amp_advice() -> None:
    path = SHARED / "v100_train_fwdbwd.pt.trace.json.gz"
    if not path.exists():
        pytest.skip("../shared/traces is absent")
    report = build_trace_report(_analysis(path))
    rules = {a.rule: a for a in report.advice}
    assert "no-tensor-cores" in rules
    assert "compute-capability 7.0" in rules["no-tensor-cores"].evidence


def test_fp16_without_a_grad_scaler_is_detected_from_signals() -> None:
    analysis = _analysis(FIXTURE)
    fp16_no_scaler = replace(analysis, signals=TrainingSignals(0, 5_000, 0, 0, 0))
    assert "fp16-without-scaler" in {a.rule for a in build_trace_report(fp16_no_scaler).advice}
    with_scaler = replace(analysis, signals=TrainingSignals(3, 5_000, 0, 0, 0))
    assert "fp16-without-scaler" not in {a.rule for a in build_trace_report(with_scaler).advice}
    bf16 = facts_from_trace(replace(analysis, signals=TrainingSignals(0, 0, 9_000, 1, 0)))
    assert bf16.amp == "bf16" and bf16.grad_scaler is None and bf16.optimizer_variant == "fused"


def test_signals_round_trip() -> None:
    from perfkit.trace.model import TraceAnalysis

    analysis = _analysis(FIXTURE)
    assert analysis.signals is not None
    assert TraceAnalysis.from_dict(analysis.to_dict()) == analysis
