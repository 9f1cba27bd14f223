"""Every advice rule: fires on facts that cross its threshold, stays silent otherwise,
and cites the numbers that triggered it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from perfkit.advice import RULES, AdviceFacts, advise, facts_from_run
from perfkit.results import Memory, RunWarning
from perfkit.summary import summarize
from tests.factories import CONFIG, ENV, run, steady_run, step

CASES = [
    # (rule id, facts that trigger it, facts that do not, text the evidence must contain)
    ("data-loading", AdviceFacts(data_share=0.12, data_ms=3.0, num_workers=0), AdviceFacts(data_share=0.04, num_workers=0), "12.0% of the step"),
    ("workers-oversubscribed", AdviceFacts(num_workers=2, cpu_count=2, data_share=0.01, forward_backward_share=0.9), AdviceFacts(num_workers=1, cpu_count=2), "2 workers on 2 CPU cores; this run: data 1.0% and forward+backward 90.0%"),
    ("low-gpu-utilization", AdviceFacts(gpu_utilization=0.3), AdviceFacts(gpu_utilization=0.8), "30.0% of the step"),
    ("no-tensor-cores", AdviceFacts(compute_capability=8.0, tensor_core_share=0.0, tensor_core_eligible_ops=True), AdviceFacts(compute_capability=8.0, tensor_core_share=0.6, tensor_core_eligible_ops=True), "compute-capability 8.0"),
    ("fp16-without-scaler", AdviceFacts(amp="fp16", grad_scaler=False), AdviceFacts(amp="fp16", grad_scaler=True), "no GradScaler"),
    ("optimizer-foreach-fused", AdviceFacts(optimizer_share=0.2, optimizer_name="adam", optimizer_variant="for-loop", device_type="cpu"), AdviceFacts(optimizer_share=0.2, optimizer_name="adam", optimizer_variant="fused"), "20.0% of the step"),
    ("channels-last", AdviceFacts(amp="bf16", conv_layers=20, channels_last=False, device_type="cuda"), AdviceFacts(amp="bf16", conv_layers=20, channels_last=True, device_type="cuda"), "20 convolution layers"),
    ("memory-pressure", AdviceFacts(peak_memory_bytes=95 * 2**30, device_memory_bytes=100 * 2**30), AdviceFacts(peak_memory_bytes=50 * 2**30, device_memory_bytes=100 * 2**30), "(95.0%)"),
    ("launch-bound", AdviceFacts(kernels_per_step=900, median_kernel_us=4.0, host_wait_share=0.6), AdviceFacts(kernels_per_step=900, median_kernel_us=80.0, host_wait_share=0.6), "900 kernels per step"),
    ("gradient-health", AdviceFacts(health_warnings=(RunWarning("grad-exploding", "gradient norm grew ×1e4", 7),)), AdviceFacts(), "grew ×1e4"),
    ("noisy-measurement", AdviceFacts(step_noise=0.3), AdviceFacts(step_noise=0.05), "30.0% of the median"),
]


@pytest.mark.parametrize(("rule", "fires", "silent", "evidence"), CASES, ids=[c[0] for c in CASES])
def test_rule_fires_and_stays_silent(rule: str, fires: AdviceFacts, silent: AdviceFacts, evidence: str) -> None:
    fired = {a.rule: a for a in advise(fires)}
    assert rule in fired
    assert evidence in fired[rule].evidence
    assert fired[rule].threshold  # every rule states its threshold
    assert rule not in {a.rule for a in advise(silent)}


def test_every_rule_has_a_case() -> None:
    covered = {c[0] for c in CASES}
    ids = {a.rule for facts in (c[1] for c in CASES) for a in advise(facts)}
    assert len(RULES) == len(covered) and ids >= covered


def test_unmeasured_facts_give_no_advice() -> None:
    assert advise(AdviceFacts()) == ()


def test_optimizer_advice_names_the_better_variant() -> None:
    cpu_loop = advise(AdviceFacts(optimizer_share=0.3, optimizer_name="rmsprop", optimizer_variant="for-loop"))
    assert "optimizer.foreach: true" in cpu_loop[0].title  # rmsprop has no fused variant
    cuda_foreach = advise(AdviceFacts(optimizer_share=0.3, optimizer_name="adamw", optimizer_variant="foreach", device_type="cuda"))
    assert "optimizer.fused: true" in cuda_foreach[0].title
    assert advise(AdviceFacts(optimizer_share=0.3, optimizer_name="rmsprop", optimizer_variant="foreach")) == ()


def test_data_advice_is_specific_to_the_config() -> None:
    advice = advise(AdviceFacts(data_share=0.3, num_workers=4, cpu_count=16, persistent_workers=False, pin_memory=False, device_type="cuda", epoch_restarts=2))
    title = advice[0].title
    assert "more than 4 data.num_workers" in title
    assert "pin_memory: true" in title
    assert "persistent_workers: true (2 epoch start(s) in the measured steps" in title
    # Without an epoch start in the measured steps, persistent workers would change nothing.
    quiet = advise(AdviceFacts(data_share=0.3, num_workers=4, cpu_count=16, persistent_workers=False, epoch_restarts=0))
    assert "persistent_workers" not in quiet[0].title


def test_oversubscribed_workers_are_not_told_to_add_workers() -> None:
    rules = {a.rule: a for a in advise(AdviceFacts(data_share=0.3, num_workers=2, cpu_count=2))}
    assert "workers-oversubscribed" in rules
    assert "more than" not in rules["data-loading"].title


def test_device_time_basis_on_cuda() -> None:
    # Host data time soaked up GPU work (a synchronising copy); the GPU itself never waited.
    steps = [step(i, {"data": 30.0, "forward": 1.0, "optimizer": 25.0}, device={"data": 0.0, "forward": 90.0, "optimizer": 5.0}) for i in range(1, 6)]
    result = run(steps)
    facts = facts_from_run(result, summarize(result))
    assert facts.time_basis == "device"
    assert facts.data_share == pytest.approx(0.0)
    assert facts.optimizer_share == pytest.approx(5 / 95)
    assert {"data-loading", "optimizer-foreach-fused"}.isdisjoint(a.rule for a in advise(facts))


def test_epoch_restarts_are_counted_from_the_run() -> None:
    from perfkit.advice import _epoch_restarts

    # 1 warm-up + 10 measured steps of 32 samples over a 96-sample dataset: 3 batches per
    # epoch; batches 1..10 are measured, new epochs start at batches 3, 6 and 9.
    assert _epoch_restarts(steady_run(dataset_samples=96)) == 3
    assert _epoch_restarts(steady_run(dataset_samples=10_000)) == 0
    assert _epoch_restarts(steady_run(dataset_samples=None)) is None


def test_facts_from_a_run() -> None:
    result = steady_run(memory=Memory(None, None, None, 1))
    facts = facts_from_run(result, summarize(result))
    assert facts.data_share == pytest.approx(0.1, rel=0.05)
    assert facts.num_workers == 0 and facts.cpu_count == 2
    assert facts.optimizer_variant == "for-loop"  # CPU default when foreach/fused are unset
    assert facts.gpu_utilization is None  # not measured without a trace


def test_most_severe_first() -> None:
    steps = [step(i, {"data": 5.0, "forward": 5.0}) for i in range(1, 6)]
    config = dict(CONFIG, data=dict(CONFIG["data"], num_workers=2))
    result = run(steps, config=config, warnings=[RunWarning("loss-non-finite", "loss is nan at step 3", 3)])
    from perfkit.report import build_run_report

    severities = [a.severity for a in build_run_report(result).advice]
    assert severities == sorted(severities, key={"high": 0, "medium": 1, "low": 2}.__getitem__)
    assert {a.rule for a in build_run_report(result).advice} >= {"gradient-health", "data-loading", "workers-oversubscribed"}


def test_no_tensor_cores_is_vendor_aware() -> None:
    amd = AdviceFacts(device_vendor="amd", tensor_core_share=0.0, tensor_core_eligible_ops=True)
    (advice,) = advise(amd)
    assert advice.rule == "no-tensor-cores" and "matrix cores" in advice.title
    assert "bf16 or fp16" in advice.title
    for text in (advice.title, advice.evidence, advice.threshold):
        assert "capability" not in text and "TF32" not in text and "tensor cores" not in text
    # A HIP "compute capability" (9.0 on an MI250) must not turn it into NVIDIA advice.
    assert advise(replace(amd, compute_capability=9.0)) == (advice,)
    assert advise(replace(amd, tensor_core_share=0.3)) == ()
    nvidia = replace(amd, device_vendor="nvidia", compute_capability=8.0)
    assert "tensor cores" in advise(nvidia)[0].title
    assert advise(replace(nvidia, compute_capability=6.1)) == ()  # Pascal has none


@pytest.mark.parametrize(
    ("cuda", "name", "vendor", "capability"),
    [("12.4", "NVIDIA A100-SXM4-40GB", "nvidia", 8.0), (None, "AMD Instinct MI250X", "amd", None),
     (None, "Device 740c", "amd", None)],
)  # fmt: skip
def test_run_facts_know_the_vendor(cuda: str | None, name: str, vendor: str, capability: float | None) -> None:
    env = replace(ENV, device_type="cuda", cuda=cuda, device_name=name, device_capability="8.0" if vendor == "nvidia" else "9.0")
    result = steady_run(memory=Memory(None, None, None, 1))
    result = replace(result, environment=env)
    facts = facts_from_run(result, summarize(result))
    assert (facts.device_vendor, facts.compute_capability) == (vendor, capability)


def test_launch_advice_needs_the_gpu_to_wait_for_launches() -> None:
    tiny = AdviceFacts(kernels_per_step=1400, median_kernel_us=9.0, gpu_utilization=0.79)
    # A busy GPU that rarely waits for the host: tiny kernels are not what bounds it.
    assert advise(replace(tiny, host_wait_share=0.08)) == ()
    (some,) = advise(replace(tiny, host_wait_share=0.18))
    assert some.severity == "low" and "waits for the host 18.0% of the step" in some.evidence
    assert "bound by kernel launches" not in some.title
    launch = next(a for a in advise(replace(tiny, host_wait_share=0.65)) if a.rule == "launch-bound")
    assert launch.severity == "medium" and "bound by kernel launches" in launch.title


def test_compiled_code_is_not_told_to_compile() -> None:
    facts = AdviceFacts(kernels_per_step=1400, median_kernel_us=4.0, host_wait_share=0.7, gpu_utilization=0.2, compiled=True)
    for advice in advise(facts):
        assert "toggles.compile: true" not in advice.title and "torch.compile (" not in advice.title
    launch = next(a for a in advise(facts) if a.rule == "launch-bound")
    assert "CUDA graphs" in launch.title
    assert "torch.compile (toggles.compile: true)" in advise(replace(facts, compiled=False))[0].title


def test_pre_ampere_gpus_are_told_fp16_only() -> None:
    volta = AdviceFacts(compute_capability=7.0, tensor_core_share=0.0, tensor_core_eligible_ops=True)
    (advice,) = advise(volta)
    assert "toggles.amp: fp16" in advice.title and "bf16" not in advice.title.replace("no bf16", "")
    assert "toggles.tf32" not in advice.title
    (ampere,) = advise(replace(volta, compute_capability=8.0))
    assert "toggles.amp: bf16" in ampere.title and "toggles.tf32: true" in ampere.title


def test_foreign_traces_get_pytorch_settings_not_perfkit_keys() -> None:
    foreign = dict(perfkit_run=False, device_type="cuda")
    cases = [
        AdviceFacts(compute_capability=8.0, tensor_core_share=0.0, tensor_core_eligible_ops=True, **foreign),  # type: ignore[arg-type]
        AdviceFacts(gpu_utilization=0.2, **foreign),  # type: ignore[arg-type]
        AdviceFacts(kernels_per_step=900, median_kernel_us=4.0, host_wait_share=0.6, **foreign),  # type: ignore[arg-type]
        AdviceFacts(optimizer_share=0.3, optimizer_name="adamw", optimizer_variant="for-loop", **foreign),  # type: ignore[arg-type]
        AdviceFacts(data_share=0.3, **foreign),  # type: ignore[arg-type]
    ]
    for facts in cases:
        (advice,) = advise(facts) or (None,)
        assert advice is not None, facts
        assert not any(key in advice.title for key in ("toggles.", "data.", "optimizer.")), advice.title
    titles = " ".join(advise(f)[0].title for f in cases)
    for pytorch in ("torch.autocast(dtype=torch.bfloat16)", "torch.compile(model)", "fused=True", "num_workers"):
        assert pytorch in titles
