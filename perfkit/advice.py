"""Advice: rules that say what to change, each with a stated threshold and the numbers
that triggered it.

Rules read :class:`AdviceFacts`, a flat record of measured quantities that can come from
a perfkit run (:func:`facts_from_run`), from a trace analysis (:func:`facts_from_trace`),
or both merged. A fact that was not measured is ``None`` and a rule that needs it stays
silent: advice is never based on a guess. ``docs/advice.md`` lists every rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from perfkit.results import RunResult, RunWarning
from perfkit.summary import PhaseSummary, RunSummary

#: DataLoader share of the step above which loading is worth fixing (the TensorBoard
#: plugin's threshold: at 5 % the best possible saving is already worth a config change).
DATA_SHARE_THRESHOLD = 0.05
#: GPU busy less than half the step: the device mostly waits (the plugin's threshold).
LOW_UTILIZATION_THRESHOLD = 0.50
#: Optimizer above 10 % of the step: multi-tensor (foreach) or fused kernels typically
#: cut a for-loop optimizer's time several-fold, which matters at this share.
OPTIMIZER_SHARE_THRESHOLD = 0.10
#: Peak memory above 90 % of the device leaves no room for fragmentation or growth.
MEMORY_PRESSURE_THRESHOLD = 0.90
#: Launch-bound: more than this many kernels per step with a median kernel shorter than
#: ``TINY_KERNEL_US``. A launch costs ~5 µs of host time, so kernels this short cannot
#: keep the GPU busy from one Python thread.
LAUNCH_BOUND_KERNELS_PER_STEP = 200
TINY_KERNEL_US = 10.0
#: ...and the device waits for the host (gaps ended by a kernel launched only after the
#: gap began) more than 10 % of the step: fusing launches can save at most that share,
#: so below it tiny kernels are not what bounds the step. Above half the step the loop
#: is launch-bound outright.
LAUNCH_WAIT_THRESHOLD = 0.10
LAUNCH_BOUND_SHARE = 0.50
#: TF32 and bf16 tensor cores exist from compute capability 8.0 (Ampere); Volta and
#: Turing have fp16 tensor cores only.
AMPERE_CAPABILITY = 8.0
#: Tensor cores exist from compute capability 7.0 (Volta).
TENSOR_CORE_CAPABILITY = 7.0
#: Step-time IQR above 10 % of the median (torch.utils.benchmark's "fluctuation" level).
NOISE_THRESHOLD = 0.10

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class Advice:
    rule: str
    severity: str
    title: str
    evidence: str
    threshold: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Advice:
        return cls(**{f.name: str(data[f.name]) for f in fields(cls)})


@dataclass(frozen=True)
class AdviceFacts:
    """Measured inputs of the rules. ``None`` = not measured (the rule stays silent)."""

    device_type: str | None = None
    #: ``"nvidia"``/``"amd"``: decides tensor cores (NVIDIA, compute capability) versus
    #: matrix cores (AMD) in the advice; ``None`` when unknown.
    device_vendor: str | None = None
    cpu_count: int | None = None
    time_basis: str = "host"
    data_share: float | None = None
    data_ms: float | None = None
    num_workers: int | None = None
    pin_memory: bool | None = None
    persistent_workers: bool | None = None
    epoch_restarts: int | None = None
    forward_backward_share: float | None = None
    gpu_utilization: float | None = None
    tensor_core_share: float | None = None
    tensor_core_eligible_ops: bool | None = None
    compute_capability: float | None = None
    amp: str | None = None
    grad_scaler: bool | None = None
    optimizer_share: float | None = None
    optimizer_ms: float | None = None
    optimizer_name: str | None = None
    optimizer_variant: str | None = None
    conv_layers: int | None = None
    channels_last: bool | None = None
    peak_memory_bytes: int | None = None
    device_memory_bytes: int | None = None
    kernels_per_step: float | None = None
    median_kernel_us: float | None = None
    #: Share of the step the main device sat idle waiting for the host to launch work.
    host_wait_share: float | None = None
    #: The trace was recorded by perfkit (config keys in advice apply) or by another
    #: script (advice names the PyTorch setting instead).
    perfkit_run: bool = True
    #: The steps already run torch.compile'd code ("Torch-Compiled Region" ranges).
    compiled: bool | None = None
    step_noise: float | None = None
    health_warnings: tuple[RunWarning, ...] = field(default_factory=tuple)

    def merged(self, other: AdviceFacts) -> AdviceFacts:
        """These facts, with ``other``'s measured values filling the gaps."""
        updates = {
            f.name: getattr(other, f.name)
            for f in fields(self)
            if getattr(self, f.name) in (None, ()) and getattr(other, f.name) not in (None, ())
        }
        return replace(self, **updates)


def _share_and_ms(phase: PhaseSummary | None, device: bool) -> tuple[float | None, float | None]:
    if phase is None:
        return None, None
    if device and phase.device is not None:
        return phase.device_share, phase.device.median
    return phase.share, phase.host.median


def _epoch_restarts(result: RunResult) -> int | None:
    """Epoch starts (new DataLoader iterators) inside the measured steps, or None if unknown."""
    if result.config.get("source", "yaml") != "yaml":
        return None  # batches per step are not known on a user's own loop
    data_cfg = result.config.get("data", {})
    size = result.counters.dataset_samples
    batch = data_cfg.get("batch_size")
    if not size or not batch:
        return None
    batch = int(batch)
    per_epoch = size // batch if data_cfg.get("drop_last", True) else -(-size // batch)
    if per_epoch <= 0:
        return None
    accum = int(result.config.get("loop", {}).get("grad_accum", 1))
    measured = [s.index for s in result.steps if s.measured]
    if not measured:
        return None
    start = measured[0] * accum  # batches drawn before the first measured step
    end = (measured[-1] + 1) * accum
    # A new epoch starts when batch number k (0-based) is a multiple of per_epoch, k > 0.
    return (end - 1) // per_epoch - start // per_epoch + (1 if start > 0 and start % per_epoch == 0 else 0)


def facts_from_run(result: RunResult, summary: RunSummary) -> AdviceFacts:
    """Facts measured by a perfkit run (config + summary).

    On CUDA, shares come from device (CUDA-event) time: host time of a phase soaks up GPU
    work queued earlier whenever the phase synchronises (a pageable copy, GradScaler's inf
    check), so a host share can blame data loading or the optimizer for time the GPU spent
    on forward/backward. The device share of ``data`` is the GPU idling for the next batch.
    """
    config = result.config
    data_cfg = config.get("data", {})
    toggles = config.get("toggles", {})
    env = result.environment
    device = summary.device_step is not None
    data_share, data_ms = _share_and_ms(summary.phase("data"), device)
    optimizer_share, optimizer_ms = _share_and_ms(summary.phase("optimizer"), device)
    fwd_share = sum(_share_and_ms(summary.phase(p), device)[0] or 0.0 for p in ("forward", "backward"))
    capability = float(env.device_capability) if env.device_capability else None
    vendor = _run_vendor(env.device_type, env.device_name, env.cuda)
    if vendor == "amd":
        capability = None  # HIP's major.minor is a GCN family, not a CUDA capability
    # Runs record the allocator's peak *reserved* memory (what the device really had to
    # hold: allocations plus cached blocks); traces carry peak *allocated* only.
    peak = result.memory.device_peak_reserved_bytes
    return AdviceFacts(
        device_type=env.device_type,
        device_vendor=vendor,
        cpu_count=env.cpu_count,
        time_basis="device" if device else "host",
        data_share=data_share,
        data_ms=data_ms,
        num_workers=data_cfg.get("num_workers"),
        pin_memory=data_cfg.get("pin_memory"),
        persistent_workers=data_cfg.get("persistent_workers"),
        epoch_restarts=_epoch_restarts(result),
        forward_backward_share=fwd_share if summary.phases else None,
        compute_capability=capability,
        amp=toggles.get("amp"),
        # perfkit's own fp16 runs always use a GradScaler: True, or unknown (None).
        grad_scaler=toggles.get("amp") == "fp16" or None,
        optimizer_share=optimizer_share,
        optimizer_ms=optimizer_ms,
        optimizer_name=config.get("optimizer", {}).get("name"),
        optimizer_variant=result.measurement.optimizer_variant,
        conv_layers=result.counters.conv_layers,
        channels_last=toggles.get("channels_last"),
        compiled=toggles.get("compile"),
        peak_memory_bytes=peak,
        device_memory_bytes=result.memory.device_total_bytes,
        step_noise=summary.noise,
        health_warnings=tuple(w for w in result.warnings if w.code.startswith(("grad-", "loss-"))),
        # A run on the user's own loop (API, `perfkit run`) is fixed in PyTorch code, not
        # in a perfkit config key.
        perfkit_run=config.get("source", "yaml") == "yaml",
    )


def _run_vendor(device_type: str, device_name: str, cuda_version: str | None) -> str | None:
    """The GPU vendor of a run: ROCm builds of torch run AMD GPUs as device type "cuda"
    without a CUDA version; the device name says it too (``AMD Instinct MI250X``)."""
    if device_type != "cuda":
        return None
    if cuda_version is None or re.search(r"\b(AMD|Radeon|Instinct)\b", device_name or ""):
        return "amd"
    return "nvidia"


Rule = Callable[[AdviceFacts], Advice | None]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _oversubscribed(f: AdviceFacts) -> bool:
    return bool(f.num_workers) and f.cpu_count is not None and (f.num_workers or 0) >= f.cpu_count


def rule_data_loading(f: AdviceFacts) -> Advice | None:
    if f.data_share is None or f.data_share <= DATA_SHARE_THRESHOLD:
        return None
    fixes = []
    if f.num_workers == 0:
        fixes.append(
            _setting(f, "set data.num_workers", "pass num_workers=N to the DataLoader")
            + " (loading runs in the training process now)"
        )
    elif f.num_workers is not None and not _oversubscribed(f):
        fixes.append(f"try more than {f.num_workers} " + _setting(f, "data.num_workers", "DataLoader workers"))
    if f.device_type == "cuda" and f.pin_memory is False:
        fixes.append(
            _setting(f, "set data.pin_memory: true", "pass pin_memory=True to the DataLoader")
            + " (pinned host memory allows async copies)"
        )
    if f.num_workers and f.persistent_workers is False and f.epoch_restarts:
        fixes.append(
            _setting(f, "set data.persistent_workers: true", "pass persistent_workers=True to the DataLoader")
            + f" ({f.epoch_restarts} epoch start(s) in the measured steps restarted the workers)"
        )
    if not f.perfkit_run and f.num_workers is None:
        fixes.append("give the DataLoader more workers (num_workers), pin_memory=True and persistent_workers=True")
    if not fixes:
        fixes.append("make each sample cheaper to load (pre-decode, smaller images, a faster transform)")
    ms = f" (median {f.data_ms:.2f} ms)" if f.data_ms is not None else ""
    basis = "GPU idle waiting for data" if f.time_basis == "device" else "data loading"
    return Advice(
        "data-loading",
        "high" if f.data_share > 4 * DATA_SHARE_THRESHOLD else "medium",
        "The step waits on data loading: " + "; ".join(fixes),
        f"{basis} is {_pct(f.data_share)} of the step{ms}",
        f"data > {_pct(DATA_SHARE_THRESHOLD)} of the step",
    )


def rule_workers_oversubscribed(f: AdviceFacts) -> Advice | None:
    if not _oversubscribed(f):
        return None
    measured = ""
    if f.data_share is not None and f.forward_backward_share is not None:
        measured = (
            f"; this run: data {_pct(f.data_share)} and forward+backward {_pct(f.forward_backward_share)} "
            "of the step"
        )
    return Advice(
        "workers-oversubscribed",
        "medium",
        "DataLoader workers compete with the training process for CPU cores, slowing compute: "
        "compare fewer workers (perfkit compare exp.yaml --vs data.num_workers=N)",
        f"{f.num_workers} workers on {f.cpu_count} CPU cores{measured}",
        "num_workers ≥ CPU cores (the training process needs cores of its own)",
    )


def rule_low_utilization(f: AdviceFacts) -> Advice | None:
    if f.gpu_utilization is None or f.gpu_utilization >= LOW_UTILIZATION_THRESHOLD:
        return None
    compile_fix = "" if f.compiled else " or " + _setting(f, "torch.compile (toggles.compile: true)", "torch.compile(model)")
    return Advice(
        "low-gpu-utilization",
        "high",
        f"The GPU is idle most of the step: use a larger batch, CUDA graphs{compile_fix}, and check the data phase",
        f"kernels keep the GPU busy {_pct(f.gpu_utilization)} of the step",
        f"GPU utilization < {_pct(LOW_UTILIZATION_THRESHOLD)}",
    )


def rule_no_tensor_cores(f: AdviceFacts) -> Advice | None:
    if f.tensor_core_share is None or f.tensor_core_share > 0 or not f.tensor_core_eligible_ops:
        return None
    if f.device_vendor == "amd":
        return Advice(
            "no-tensor-cores",
            "medium",
            "No kernel used matrix cores although matmul/conv ops ran: enable AMP ("
            + _setting(f, "toggles.amp: bf16 or fp16", "torch.autocast with bf16 or fp16")
            + ") so that rocBLAS/hipBLASLt and MIOpen pick MFMA matrix-core kernels (Instinct MI100 and "
            "later; RDNA3 has WMMA)",
            "0% of kernel time in matrix-core (MFMA/WMMA) kernels on an AMD GPU",
            "AMD GPU, eligible ops present, no kernel named for a matrix instruction (…_MI32x32x8…)",
        )
    if f.compute_capability is None or f.compute_capability < TENSOR_CORE_CAPABILITY:
        return None
    if f.compute_capability < AMPERE_CAPABILITY:
        fix = "enable fp16 AMP with loss scaling (" + _setting(
            f, "toggles.amp: fp16", "torch.autocast(dtype=torch.float16) with torch.amp.GradScaler"
        ) + "); this GPU has fp16 tensor cores only, no bf16 or TF32"
    else:
        fix = (
            "enable AMP ("
            + _setting(f, "toggles.amp: bf16", "torch.autocast(dtype=torch.bfloat16)")
            + ") or TF32 ("
            + _setting(f, "toggles.tf32: true", 'torch.set_float32_matmul_precision("high")')
            + ")"
        )
    return Advice(
        "no-tensor-cores",
        "high",
        f"No kernel used tensor cores although matmul/conv ops ran: {fix}",
        f"0% of kernel time on tensor cores on a compute-capability {f.compute_capability:.1f} GPU",
        f"compute capability ≥ {TENSOR_CORE_CAPABILITY:.1f}, eligible ops present, no tensor-core kernels",
    )


def _setting(f: AdviceFacts, perfkit_key: str, pytorch: str) -> str:
    """How to apply a fix: perfkit's config key for its own runs, the PyTorch call for a
    trace recorded by another script."""
    return perfkit_key if f.perfkit_run else pytorch


def rule_fp16_without_scaler(f: AdviceFacts) -> Advice | None:
    if f.amp != "fp16" or f.grad_scaler is not False:
        return None
    return Advice(
        "fp16-without-scaler",
        "high",
        "fp16 autocast runs without a GradScaler: small gradients underflow to zero; wrap the "
        "backward and step with torch.amp.GradScaler, or use bf16",
        "fp16 autocast ops present, no GradScaler unscale/update ops",
        "fp16 autocast without loss scaling",
    )


def rule_optimizer(f: AdviceFacts) -> Advice | None:
    if f.optimizer_share is None or f.optimizer_share <= OPTIMIZER_SHARE_THRESHOLD:
        return None
    if f.optimizer_variant == "fused":
        return None
    fused_ok = f.optimizer_name in ("sgd", "adam", "adamw", "adagrad") and not (
        f.optimizer_name == "adagrad" and f.device_type == "cuda"
    )
    if f.optimizer_variant == "foreach" and not fused_ok:
        return None
    target = "fused: true" if fused_ok else "foreach: true"
    how = f"set optimizer.{target}" if f.perfkit_run else f"pass {'fused=True' if fused_ok else 'foreach=True'} to the optimizer"
    ms = f" (median {f.optimizer_ms:.2f} ms)" if f.optimizer_ms is not None else ""
    runs_as = f" and runs as {f.optimizer_variant}" if f.optimizer_variant else ""
    unless = "" if f.optimizer_variant else " (unless it already does)"
    return Advice(
        "optimizer-foreach-fused",
        "medium",
        f"The optimizer step is a large share of the step{runs_as}: {how}{unless}",
        f"optimizer is {_pct(f.optimizer_share)} of the step{ms}",
        f"optimizer > {_pct(OPTIMIZER_SHARE_THRESHOLD)} of the step, a faster variant available",
    )


def rule_channels_last(f: AdviceFacts) -> Advice | None:
    if f.amp in (None, "off") or not f.conv_layers or f.channels_last is not False or f.device_type != "cuda":
        return None
    return Advice(
        "channels-last",
        "medium",
        "A conv net under AMP without channels_last: set toggles.channels_last: true (tensor-core "
        "convolutions want NHWC and otherwise pay for layout transposes)",
        f"{f.conv_layers} convolution layers, amp {f.amp}, channels_last off",
        "conv layers + AMP on CUDA + channels_last off",
    )


def rule_memory_pressure(f: AdviceFacts) -> Advice | None:
    if f.peak_memory_bytes is None or not f.device_memory_bytes:
        return None
    share = f.peak_memory_bytes / f.device_memory_bytes
    if share <= MEMORY_PRESSURE_THRESHOLD:
        return None
    return Advice(
        "memory-pressure",
        "medium",
        "Device memory is nearly full: use activation checkpointing, AMP, or a smaller batch",
        f"peak {f.peak_memory_bytes / 2**30:.1f} GiB of {f.device_memory_bytes / 2**30:.1f} GiB ({_pct(share)})",
        f"peak memory > {_pct(MEMORY_PRESSURE_THRESHOLD)} of the device",
    )


def rule_launch_bound(f: AdviceFacts) -> Advice | None:
    if f.kernels_per_step is None or f.median_kernel_us is None:
        return None
    if f.kernels_per_step <= LAUNCH_BOUND_KERNELS_PER_STEP or f.median_kernel_us >= TINY_KERNEL_US:
        return None
    if f.host_wait_share is not None and f.host_wait_share <= LAUNCH_WAIT_THRESHOLD:
        return None  # the GPU rarely waits for launches: tiny kernels cost little here
    bound = f.host_wait_share is None or f.host_wait_share > LAUNCH_BOUND_SHARE
    waits = f", the GPU waits for the host {_pct(f.host_wait_share)} of the step" if f.host_wait_share is not None else ""
    busy = f", GPU busy {_pct(f.gpu_utilization)}" if f.gpu_utilization is not None else ""
    if f.compiled:
        fix = "the step already runs compiled code: compile more of it (fewer graph breaks), or capture it in CUDA graphs (torch.compile mode reduce-overhead)"
    else:
        fix = _setting(f, "torch.compile (toggles.compile: true)", "torch.compile(model)") + " fuses them, CUDA graphs remove launch cost"
    title = "The step is bound by kernel launches" if bound else "Many tiny kernels leave the GPU waiting for launches"
    return Advice(
        "launch-bound",
        "medium" if bound else "low",
        f"{title}: {fix}",
        f"{f.kernels_per_step:.0f} kernels per step, median kernel {f.median_kernel_us:.1f} µs{waits}{busy}",
        f"> {LAUNCH_BOUND_KERNELS_PER_STEP} kernels/step, median kernel < {TINY_KERNEL_US:.0f} µs and the GPU "
        f"waiting for launches > {_pct(LAUNCH_WAIT_THRESHOLD)} of the step (bound: > {_pct(LAUNCH_BOUND_SHARE)})",
    )


def rule_gradient_health(f: AdviceFacts) -> Advice | None:
    if not f.health_warnings:
        return None
    return Advice(
        "gradient-health",
        "high",
        "Training is numerically unhealthy; timings of a diverging run may not be representative",
        "; ".join(w.message for w in f.health_warnings),
        "non-finite loss/gradients, a gradient norm changing by ≥ 1000×, or 0 on every step (perfkit.health)",
    )


def rule_noisy(f: AdviceFacts) -> Advice | None:
    if f.step_noise is None or f.step_noise <= NOISE_THRESHOLD:
        return None
    return Advice(
        "noisy-measurement",
        "low",
        "Step times vary a lot: run more steps (loop.steps), close other work on the machine, and use "
        "perfkit compare (it tests significance) before trusting small differences",
        f"step-time IQR is {_pct(f.step_noise)} of the median",
        f"IQR/median > {_pct(NOISE_THRESHOLD)} (torch.utils.benchmark's fluctuation warning)",
    )


RULES: tuple[Rule, ...] = (
    rule_gradient_health,
    rule_data_loading,
    rule_workers_oversubscribed,
    rule_low_utilization,
    rule_no_tensor_cores,
    rule_fp16_without_scaler,
    rule_optimizer,
    rule_channels_last,
    rule_memory_pressure,
    rule_launch_bound,
    rule_noisy,
)


def advise(facts: AdviceFacts) -> tuple[Advice, ...]:
    """Every rule that fires, most severe first."""
    fired = [advice for rule in RULES if (advice := rule(facts)) is not None]
    return tuple(sorted(fired, key=lambda a: SEVERITY_ORDER.get(a.severity, 9)))
