"""The experiment config: pydantic v2 models, one per YAML section.

Each builder receives only its own section (``ModelConfig``, ``DataConfig``,
``OptimizerConfig``). Every model forbids unknown keys; :mod:`perfkit.config.loader`
turns validation errors into one line per problem that names the dotted key, the YAML
line and the fix. This module does not import torch.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

from perfkit.config.names import BUILTIN_DATASETS, BUILTIN_MODELS, OPTIMIZERS, SCHEDULERS

MAX_BATCH = 1 << 20
MAX_WORKERS = 256
ModelCall = Literal["input", "batch", "args", "kwargs"]
#: Built-in losses (``loss:``); anything else must be ``package.module:callable``.
BUILTIN_LOSSES: tuple[str, ...] = ("cross-entropy", "mse", "model")
#: What torch.device accepts: no leading zeros, ASCII digits only, nothing around it.
_DEVICE_RE = re.compile(r"auto|cpu|cuda|cuda:(0|[1-9][0-9]{0,3})", re.ASCII)


def _no_bool(value: Any) -> Any:
    # YAML `true` is not a number: without this, pydantic would read it as 1.0.
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    return value


#: An integer that refuses booleans and floats (``batch_size: true`` is an error, not 1).
Int = StrictInt
#: A finite float that refuses booleans (NaN/Inf are refused by ``allow_inf_nan=False``).
Float = Annotated[float, BeforeValidator(_no_bool)]


def _fraction(value: Any) -> Any:
    # "10%" → 0.10, like the CLI's --threshold; a bare number is already a fraction.
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100.0
        except ValueError:
            raise ValueError(f"expected a fraction (0.1) or a percentage (10%), got {value!r}") from None
    return _no_bool(value)


#: A relative change: ``0.1`` or ``"10%"``.
Fraction = Annotated[float, BeforeValidator(_fraction)]


class Section(BaseModel):
    """Base for every config section: unknown keys are errors; sections are immutable.

    A model validator that blames one field starts its message with ``@field: ``; the
    loader moves that field into the error's dotted key.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True, allow_inf_nan=False)


class ModelConfig(Section):
    """``model:`` which network to train.

    ``name`` is a built-in (mlp, convnet, resnet, transformer), ``torchvision:<name>``,
    ``timm:<name>`` or ``package.module:callable`` (resolved from the config file's folder
    first, then ``sys.path``). ``params`` are passed to the factory as keyword arguments.

    ``call`` says how a batch is passed to the model (:mod:`perfkit.runtime.batches`):
    ``input`` (the default) calls ``model(input)`` with the input of an ``(input, target)``
    pair or of an ``{"input": ..., "target": ...}`` dict; ``batch`` calls ``model(batch)``;
    ``args`` calls ``model(*batch)``; ``kwargs`` calls ``model(**batch)`` (dict batches,
    the Hugging Face shape).
    """

    name: str = "convnet"
    params: dict[str, Any] = Field(default_factory=dict)
    call: ModelCall = "input"

    @field_validator("name")
    @classmethod
    def _known_name(cls, value: str) -> str:
        return _check_component_name(value, BUILTIN_MODELS, "model", prefixes=("torchvision", "timm"))


class DataConfig(Section):
    """``data:`` the dataset and the DataLoader knobs."""

    name: str = "synthetic-images"
    params: dict[str, Any] = Field(default_factory=dict)
    batch_size: Int = 32
    num_workers: Int = 0
    pin_memory: bool = False
    persistent_workers: bool = False
    prefetch_factor: Int | None = None
    shuffle: bool = True
    drop_last: bool = True

    @field_validator("name")
    @classmethod
    def _known_name(cls, value: str) -> str:
        return _check_component_name(value, BUILTIN_DATASETS, "dataset")

    @field_validator("batch_size")
    @classmethod
    def _positive_batch(cls, value: int) -> int:
        if not 1 <= value <= MAX_BATCH:
            raise ValueError(f"must be between 1 and {MAX_BATCH} (got {value})")
        return value

    @field_validator("num_workers")
    @classmethod
    def _workers(cls, value: int) -> int:
        if value < 0:
            raise ValueError(
                f"must be >= 0 (got {value}); use 0 to load in the main process or N > 0 for "
                "N worker processes"
            )
        if value > MAX_WORKERS:
            raise ValueError(f"must be at most {MAX_WORKERS} (got {value}); each worker is a process")
        return value

    @field_validator("prefetch_factor")
    @classmethod
    def _prefetch(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"must be at least 1 (got {value}), or null for torch's default")
        return value

    @model_validator(mode="after")
    def _worker_only_options(self) -> DataConfig:
        if self.num_workers == 0:
            if self.persistent_workers:
                raise ValueError(
                    "@persistent_workers: needs num_workers > 0; set data.num_workers or drop "
                    "data.persistent_workers"
                )
            if self.prefetch_factor is not None:
                raise ValueError(
                    "@prefetch_factor: needs num_workers > 0; set data.num_workers or drop "
                    "data.prefetch_factor"
                )
        return self


class SchedulerConfig(Section):
    """``optimizer.scheduler:`` a learning-rate schedule stepped once per optimizer step."""

    name: str = "none"
    step_size: Int | None = None
    gamma: Float | None = None
    warmup_steps: Int | None = None
    total_steps: Int | None = None
    min_lr: Float | None = None
    max_lr: Float | None = None

    _APPLIES: ClassVar[dict[str, tuple[str, ...]]] = {
        "step_size": ("step",),
        "gamma": ("step",),
        "warmup_steps": ("linear-warmup",),
        "total_steps": ("cosine", "onecycle"),
        "min_lr": ("cosine",),
        "max_lr": ("onecycle",),
    }

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        return _check_choice(value, SCHEDULERS, "scheduler")

    @field_validator("gamma", "min_lr", "max_lr")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError(f"must be > 0 (got {value})")
        return value

    @model_validator(mode="after")
    def _applicable(self) -> SchedulerConfig:
        _reject_inapplicable(self, self._APPLIES, self.name, "scheduler")
        for key in ("step_size", "warmup_steps", "total_steps"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ValueError(f"@{key}: must be at least 1 (got {value})")
        return self


class OptimizerConfig(Section):
    """``optimizer:`` the optimizer, its hyper-parameters and the foreach/fused variant.

    ``foreach``/``fused`` default to ``null`` (torch's own choice). Options that do not
    apply to the chosen optimizer are errors, not silently ignored.
    """

    name: str = "sgd"
    lr: Float = 0.01
    weight_decay: Float = 0.0
    momentum: Float | None = None
    nesterov: bool | None = None
    dampening: Float | None = None
    alpha: Float | None = None
    centered: bool | None = None
    betas: tuple[Float, Float] | None = None
    eps: Float | None = None
    amsgrad: bool | None = None
    lr_decay: Float | None = None
    foreach: bool | None = None
    fused: bool | None = None
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)

    _APPLIES: ClassVar[dict[str, tuple[str, ...]]] = {
        "momentum": ("sgd", "rmsprop"),
        "nesterov": ("sgd",),
        "dampening": ("sgd",),
        "alpha": ("rmsprop",),
        "centered": ("rmsprop",),
        "betas": ("adam", "adamw"),
        "amsgrad": ("adam", "adamw"),
        "eps": ("rmsprop", "adam", "adamw", "adagrad"),
        "lr_decay": ("adagrad",),
        "fused": ("sgd", "adam", "adamw", "adagrad"),
    }

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        return _check_choice(value, OPTIMIZERS, "optimizer")

    @field_validator("lr")
    @classmethod
    def _positive_lr(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"must be > 0 (got {value})")
        return value

    @field_validator("weight_decay", "momentum", "dampening", "eps", "lr_decay")
    @classmethod
    def _non_negative(cls, value: float | None) -> float | None:
        if value is not None and value < 0:
            raise ValueError(f"must be >= 0 (got {value})")
        return value

    @field_validator("betas")
    @classmethod
    def _betas(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not all(0.0 <= b < 1.0 for b in value):
            raise ValueError(f"both betas must be in [0, 1) (got {list(value)})")
        return value

    @model_validator(mode="after")
    def _applicable(self) -> OptimizerConfig:
        _reject_inapplicable(self, self._APPLIES, self.name, "optimizer")
        if self.nesterov and not self.momentum:
            raise ValueError("@nesterov: needs momentum > 0 and dampening 0; set optimizer.momentum (e.g. 0.9)")
        if self.nesterov and (self.dampening or 0.0) != 0.0:
            raise ValueError(f"@nesterov: needs dampening 0 (got {self.dampening}); remove optimizer.dampening")
        if self.foreach and self.fused:
            raise ValueError("@fused: foreach and fused are exclusive; set at most one of them to true")
        return self


class LoopConfig(Section):
    """``loop:`` how many steps to run and what each step does besides forward/backward."""

    steps: Int = 30
    warmup_steps: Int = 5
    grad_accum: Int = 1
    grad_clip: Float | None = None
    track_grad_norm: bool = True

    @field_validator("steps", "grad_accum")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1 (got {value})")
        return value

    @field_validator("warmup_steps")
    @classmethod
    def _warmup(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"must be >= 0 (got {value})")
        return value

    @field_validator("grad_clip")
    @classmethod
    def _clip(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError(f"must be > 0 (got {value}), or null to disable clipping")
        return value


AmpMode = Literal["off", "fp16", "bf16"]
CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]


class TogglesConfig(Section):
    """``toggles:`` the performance switches users flip.

    ``cudnn_benchmark`` and ``tf32`` default to ``null``: torch's own defaults are left in
    place (cudnn.benchmark off; TF32 off for matmul and on for cuDNN convolutions).
    """

    amp: AmpMode = "off"
    channels_last: bool = False
    compile: bool = False
    compile_mode: CompileMode = "default"
    compile_backend: str = "inductor"
    cudnn_benchmark: bool | None = None
    tf32: bool | None = None

    @field_validator("amp", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `off` as False: accept it as the string it looks like.
        if value is False:
            return "off"
        if value is True:  # `on`, `yes` or `true`: which precision is meant is not said
            raise ValueError("YAML reads on/yes/true as a boolean, not a mode; choose amp: bf16 or amp: fp16")
        return value


class ProfilerConfig(Section):
    """``profiler:`` wraps the loop in torch.profiler (``--trace`` turns it on).

    The schedule follows ``torch.profiler.schedule``. ``skip_first`` defaults to the loop's
    warm-up steps, so the default traces ``active`` steps right after warm-up, after one
    ``wait`` and one profiler ``warmup`` step.
    """

    enabled: bool = False
    dir: str = "perfkit-traces"
    skip_first: Int | None = None
    wait: Int = 1
    warmup: Int = 1
    active: Int = 3
    repeat: Int = 1
    record_shapes: bool = False
    profile_memory: bool = False
    with_stack: bool = False
    with_flops: bool = False
    gzip: bool = False

    @field_validator("skip_first", "wait", "warmup")
    @classmethod
    def _non_negative(cls, value: int | None) -> int | None:
        if value is not None and value < 0:
            raise ValueError(f"must be >= 0 (got {value})")
        return value

    @field_validator("active")
    @classmethod
    def _active(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1 (got {value})")
        return value

    @field_validator("repeat")
    @classmethod
    def _repeat(cls, value: int) -> int:
        # torch.profiler reads repeat=0 as "cycle forever": a trace file every few steps.
        if value < 1:
            raise ValueError(f"must be at least 1 (got {value}); torch would read 0 as 'repeat forever'")
        return value


#: Metrics ``perfkit gate`` gates unless the policy names others: the headline times
#: (statistically) and every deterministic counter (exactly).
DEFAULT_GATE_METRICS: tuple[str, ...] = (
    "step_ms",
    "step_device_ms",
    "throughput.samples_per_s",
    "throughput.tokens_per_s",
    "flops_per_step",
    "parameters",
    "memory.device_peak_allocated_bytes",
    "trace.kernels_per_step",
    "trace.ops_per_step",
    "trace.syncs_per_step",
)


class GateConfig(Section):
    """``gate:`` the CI perf-gate policy (or the same keys in a ``--policy`` file).

    * ``repeats``: runs of the experiment for the baseline and for the candidate; the
      statistics treat each run as one sample, so run-to-run noise is measured, not
      assumed away. 5 runs per side is the fewest for which Mann–Whitney U can reach
      p < 0.01 (complete separation gives p = 2/252 ≈ 0.008).
    * ``threshold``/``thresholds``: relative change a measured metric must exceed (and be
      significant at ``alpha``) to fail, as a fraction (``0.1``) or a percentage
      (``"10%"``); per-metric patterns (``phase.*.host_ms``) win. Above 1 is allowed
      (``2.0``: three times slower) for loose gates on noisy runners.
    * ``counter_tolerance``: relative change a deterministic counter may show (0: exact).
    * ``metrics``: the gated metric names or patterns; other metrics are reported only.
    * ``trace``: also record a short trace in each run, so kernel, op and host-sync counts
      per step can be gated (traced steps are excluded from the timings).
    """

    repeats: Int = 5
    alpha: Float = 0.01
    threshold: Fraction = 0.10
    thresholds: dict[str, Fraction] = Field(default_factory=dict)
    counter_tolerance: Fraction = 0.0
    metrics: tuple[str, ...] = DEFAULT_GATE_METRICS
    trace: bool = True

    @field_validator("repeats")
    @classmethod
    def _repeats(cls, value: int) -> int:
        if not 1 <= value <= 1000:
            raise ValueError(f"must be between 1 and 1000 (got {value})")
        return value

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError(f"must be between 0 and 1 (got {value})")
        return value

    @field_validator("threshold", "counter_tolerance")
    @classmethod
    def _non_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError(f"must be >= 0 (got {value})")
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        for pattern, threshold in value.items():
            if threshold < 0:
                raise ValueError(f"threshold for {pattern} must be >= 0 (got {threshold})")
        return value


class ExperimentConfig(Section):
    """The whole experiment file.

    ``threads``: torch intra-op threads for the run (``torch.set_num_threads``), restored
    afterwards; ``null`` keeps torch's default (one per core). On a shared machine, fewer
    threads than cores keeps a neighbour's job from stalling every step.

    ``loss``: how a step's loss is computed from the model's output
    (:mod:`perfkit.runtime.batches`): ``cross-entropy`` (the default; the target is the
    second item of an ``(input, target)`` pair, or ``target``/``labels`` of a dict batch),
    ``mse`` (same target), ``model`` (the output is the loss, or a dict or object with a
    ``loss`` key or attribute) or ``package.module:callable`` called as
    ``callable(output, batch)``.
    """

    name: str = "experiment"
    seed: Int = 0
    device: str = "auto"
    threads: Int | None = None
    loss: str = "cross-entropy"
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)
    toggles: TogglesConfig = Field(default_factory=TogglesConfig)
    profiler: ProfilerConfig = Field(default_factory=ProfilerConfig)
    gate: GateConfig = Field(default_factory=GateConfig)

    @field_validator("seed")
    @classmethod
    def _seed(cls, value: int) -> int:
        if not 0 <= value < 2**32:
            raise ValueError(f"must be in [0, 2**32) (got {value}); numpy and torch seeds are 32-bit here")
        return value

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, value: str) -> str:
        return _check_component_name(value, BUILTIN_LOSSES, "loss")

    @field_validator("threads")
    @classmethod
    def _threads(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 1024:
            raise ValueError(f"must be between 1 and 1024 (got {value}), or null for torch's default")
        return value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE_RE.fullmatch(value):
            raise ValueError(f"'{value}' is not one of auto, cpu, cuda, cuda:N")
        return value


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise ValueError(f"unknown {what} '{value}'{_did_you_mean(value, choices)}; choose one of {', '.join(choices)}")
    return value


def _check_component_name(
    value: str, builtins: tuple[str, ...], what: str, prefixes: tuple[str, ...] = ()
) -> str:
    if value in builtins:
        return value
    prefix, sep, rest = value.partition(":")
    if sep and prefix in prefixes:
        if not rest:
            raise ValueError(f"'{value}' names no {prefix} {what}; write {prefix}:<name>")
        return value
    if sep and prefix and rest:
        return value  # package.module:callable, resolved by the builder
    forms = ", ".join(f"{p}:<name>" for p in prefixes)
    extra = f", {forms}" if forms else ""
    raise ValueError(
        f"unknown {what} '{value}'{_did_you_mean(value, builtins)}; use a built-in "
        f"({', '.join(builtins)}){extra} or package.module:callable"
    )


def _did_you_mean(value: str, choices: tuple[str, ...] | list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _reject_inapplicable(
    section: BaseModel, applies: dict[str, tuple[str, ...]], name: str, what: str
) -> None:
    """Refuse options set for another choice (``momentum`` with adam), all in one error
    that points at the first. ``null`` and ``false`` mean "off" and pass: a starter
    file's ``nesterov: false`` or ``fused: false`` must not block switching optimizers."""
    bad = [
        (key, names)
        for key, names in applies.items()
        if key in section.model_fields_set and getattr(section, key) not in (None, False) and name not in names
    ]
    if bad:
        key, names = bad[0]
        also = f" (also: {', '.join(k for k, _ in bad[1:])})" if len(bad) > 1 else ""
        raise ValueError(f"@{key}: does not apply to {what} '{name}' (it is for {', '.join(names)}); remove it{also}")
