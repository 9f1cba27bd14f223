"""The raw record of one run: :class:`RunResult` and its JSON round trip.

A ``RunResult`` holds measurements only: per-step samples (warm-up steps included and
marked), the environment, the resolved config, counters measured once per run and the
warnings raised while running. Every statistic a report shows is derived from it later
(:mod:`perfkit.summary`), so any report can be rebuilt from a saved ``run.json``.

Timing conventions (see ``docs/result-schema.md``):

* ``host_ms[phase]``: ``perf_counter`` time the Python thread spent in the phase. On CUDA
  this is enqueue time unless ``measurement.sync`` is true.
* ``device_ms[phase]``: CUDA stream time between the events recorded at the phase's
  boundaries, read once after the measured window. ``None`` on CPU.
* ``other``: the step time minus the five named phases (loop bookkeeping), so that the
  phases always add up to the step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, replace
from types import MappingProxyType
from typing import Any

from perfkit.errors import InputError, SchemaError

SCHEMA_VERSION = 1
RESULT_KIND = "perfkit.run"

#: The five measured phases of a training step, in execution order.
PHASES: tuple[str, ...] = ("data", "h2d", "forward", "backward", "optimizer")
#: The phases plus the remainder, which together add up to the step time.
ALL_PHASES: tuple[str, ...] = (*PHASES, "other")


def _encode_float(value: float | None) -> float | str | None:
    """JSON has no NaN/Inf: store them as the strings 'NaN', 'Infinity', '-Infinity'."""
    if value is None or math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _decode_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in ("NaN", "Infinity", "-Infinity"):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value.replace("Infinity", "inf"))
    return _float(value)


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else _float(value)


def _opt_str(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _typed(cls: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """Field values of ``cls`` from ``data``, checked against the field's annotation
    (``int``, ``float``, ``str``, optionally ``| None``): a hand-edited or corrupted file
    fails with a clear error instead of crashing a later computation."""
    out: dict[str, Any] = {}
    for name, field in cls.__dataclass_fields__.items():
        value = data.get(name, field.default if field.default is not MISSING else None)
        kind = str(field.type)
        optional = "None" in kind
        if value is None:
            if not optional:
                raise ValueError(f"{name} is missing")
            out[name] = None
        elif kind.startswith("int"):
            out[name] = _int(value)
        elif kind.startswith("float"):
            out[name] = _float(value)
        elif kind.startswith("str"):
            out[name] = _opt_str(value)
        else:
            out[name] = value
    return out


def frozen(value: Any) -> Any:
    """``value`` made read-only all the way down: mappings become ``MappingProxyType``,
    lists tuples. A result is evidence: a report must not be able to edit it."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: frozen(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen(item) for item in value)
    return value


def thawed(value: Any) -> Any:
    """The plain JSON-ready copy of a :func:`frozen` value (dicts and lists)."""
    if isinstance(value, Mapping):
        return {key: thawed(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [thawed(item) for item in value]
    return value


#: Relative tolerance of "the phases add up to the step" when reading a saved result
#: (the loop makes ``other`` the exact remainder; only float rounding may remain).
_SUM_TOLERANCE = 1e-6


def _check_phases(index: int, kind: str, phases: Mapping[str, float], total: float | None) -> None:
    if set(phases) != set(ALL_PHASES):
        raise ValueError(
            f"step {index}: {kind} has phases {', '.join(sorted(phases)) or 'none'}; expected {', '.join(ALL_PHASES)}"
        )
    if total is not None and abs(sum(phases.values()) - total) > _SUM_TOLERANCE * max(1.0, abs(total)):
        raise ValueError(f"step {index}: {kind} phases add up to {sum(phases.values()):.6g} ms, not the step's {total:.6g} ms")


@dataclass(frozen=True)
class StepSample:
    """One training step (``grad_accum`` micro-batches and one optimizer step)."""

    index: int
    warmup: bool
    traced: bool
    host_ms: Mapping[str, float]
    step_host_ms: float
    device_ms: Mapping[str, float] | None
    step_device_ms: float | None
    samples: int
    tokens: int | None
    loss: float | None
    grad_norm: float | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "host_ms", MappingProxyType(dict(self.host_ms)))
        if self.device_ms is not None:
            object.__setattr__(self, "device_ms", MappingProxyType(dict(self.device_ms)))

    @property
    def measured(self) -> bool:
        """True for a step that counts in the headline statistics (not warm-up)."""
        return not self.warmup

    @property
    def sustained_ms(self) -> float:
        """The step's share of the time the loop needs to keep going: the longer of its
        host and device spans.

        Without ``--sync`` nothing in a step waits for the GPU, so a GPU-bound loop's host
        runs ahead and queues several steps; the work those queued steps leave finishes
        after the last host timestamp, and host times alone undercount it (rates and MFU
        would read high). The device span (CUDA events around the step on its stream)
        covers the GPU's side; the host span covers a host-bound loop, whose GPU waits. On
        CPU there is no device span and this is the host time."""
        if self.step_device_ms is None:
            return self.step_host_ms
        return max(self.step_host_ms, self.step_device_ms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "warmup": self.warmup,
            "traced": self.traced,
            "step_host_ms": self.step_host_ms,
            "host_ms": dict(self.host_ms),
            "step_device_ms": self.step_device_ms,
            "device_ms": None if self.device_ms is None else dict(self.device_ms),
            "samples": self.samples,
            "tokens": self.tokens,
            "loss": _encode_float(self.loss),
            "grad_norm": _encode_float(self.grad_norm),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepSample:
        """Read one saved step; refuses phases missing, extra or not adding up to the step
        (every report relies on ``step = data + h2d + forward + backward + optimizer + other``)."""
        device = data.get("device_ms")
        index = _int(data["index"])
        _check_phases(index, "host_ms", data["host_ms"], _float(data["step_host_ms"]))
        if device is not None:
            _check_phases(index, "device_ms", device, _decode_float(data.get("step_device_ms")))
        return cls(
            index=_int(data["index"]),
            warmup=bool(data["warmup"]),
            traced=bool(data.get("traced", False)),
            host_ms={str(k): _float(v) for k, v in data["host_ms"].items()},
            step_host_ms=_float(data["step_host_ms"]),
            device_ms=None if device is None else {str(k): _float(v) for k, v in device.items()},
            step_device_ms=_decode_float(data.get("step_device_ms")),
            samples=_int(data["samples"]),
            tokens=_opt_int(data.get("tokens")),
            loss=_decode_float(data.get("loss")),
            grad_norm=_decode_float(data.get("grad_norm")),
        )


@dataclass(frozen=True)
class Environment:
    """Where the run happened. Runs from different environments are not comparable."""

    perfkit_version: str
    python: str
    platform: str
    hostname: str
    cpu_count: int
    torch: str
    cuda: str | None
    cudnn: str | None
    device_type: str
    device_name: str
    device_capability: str | None
    device_memory_bytes: int | None
    git_sha: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Environment:
        return cls(**_typed(cls, data))


@dataclass(frozen=True)
class Counters:
    """Deterministic per-run quantities: immune to machine noise, gated exactly in CI.

    ``flops_per_step`` counts forward and backward of every micro-batch of one step, as
    ``torch.utils.flop_counter.FlopCounterMode`` counts them (a matmul is 2·M·N·K), plus
    perfkit's formula for CPU flash attention, which the counter misses. The optimizer's
    element-wise work is not counted. ``None`` when counting failed (the warning says why).
    It is counted on a micro-batch of the configured ``batch_size``, so a short last batch
    never changes it. ``conv_flops_per_step`` is the convolutions' part of it.

    ``flops_dtype``/``conv_flops_dtype``: the precision matmuls and convolutions ran in
    ('fp32', 'tf32', 'bf16', 'fp16'). ``peak_flops_per_s`` is the datasheet peak for that
    mix (:func:`perfkit.runtime.peaks.effective_peak_flops_per_s`), ``None`` when unknown.
    ``samples_per_step`` is the nominal ``batch_size × grad_accum``; ``dataset_samples`` is
    the dataset's length. ``conv_layers`` counts ``nn.Conv2d`` modules (what channels_last
    applies to).

    Runs on a user's own loop (``perfkit.Session``, ``perfkit run``) fill these from what
    they observed: ``parameters``/``conv_layers`` are ``None`` when no model was seen,
    ``samples_per_step`` is the most common sample count of the measured steps (0 when
    no step said), and the FLOPs come from the last warm-up step, counted whole.
    """

    parameters: int | None
    trainable_parameters: int | None
    flops_per_step: int | None
    flops_dtype: str
    peak_flops_per_s: float | None
    samples_per_step: int
    tokens_per_step: int | None
    conv_layers: int | None
    conv_flops_per_step: int | None = None
    conv_flops_dtype: str | None = None
    dataset_samples: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Counters:
        return cls(**_typed(cls, data))


@dataclass(frozen=True)
class Memory:
    """Peak memory over the measured window.

    On CUDA, ``torch.cuda.max_memory_allocated``/``max_memory_reserved`` after a reset at
    the end of warm-up. On the host, the process's peak resident set size; its scope,
    ``host_peak_rss_scope``, is ``measured`` when the high-water mark was reset at the end
    of warm-up (Linux, :mod:`perfkit.runtime.host_memory`) and ``process`` when it is the
    lifetime peak (``ru_maxrss``), which includes everything the process did before the
    loop. ``None`` in results saved before the field existed: read as ``process``.
    """

    device_peak_allocated_bytes: int | None
    device_peak_reserved_bytes: int | None
    device_total_bytes: int | None
    host_peak_rss_bytes: int | None
    host_peak_rss_scope: str | None = None

    @property
    def host_peak_is_lifetime(self) -> bool:
        """The host peak covers the whole process, not only the measured steps."""
        return self.host_peak_rss_scope != "measured"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Memory:
        return cls(**_typed(cls, data))


@dataclass(frozen=True)
class Measurement:
    """How the run was measured, so that a report can say it.

    ``optimizer_variant`` is what the optimizer actually ran as: 'fused', 'foreach' or
    'for-loop' (torch's own default resolved: foreach on CUDA, a for-loop on CPU).
    ``torch_threads`` is ``torch.get_num_threads()`` during the run.
    """

    clock: str
    sync: bool
    amp_dtype: str | None
    trace_path: str | None = None
    notes: tuple[str, ...] = ()
    optimizer_variant: str | None = None
    torch_threads: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "clock": self.clock,
            "sync": self.sync,
            "amp_dtype": self.amp_dtype,
            "optimizer_variant": self.optimizer_variant,
            "torch_threads": self.torch_threads,
            "trace_path": self.trace_path,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        return cls(
            clock=str(data["clock"]),
            sync=bool(data["sync"]),
            amp_dtype=data.get("amp_dtype"),
            trace_path=data.get("trace_path"),
            notes=tuple(data.get("notes", ())),
            optimizer_variant=data.get("optimizer_variant"),
            torch_threads=_opt_int(data.get("torch_threads")),
        )


@dataclass(frozen=True)
class RunWarning:
    """Something the run noticed that the user should know (NaN loss, exploding grads...)."""

    code: str
    message: str
    step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "step": self.step}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunWarning:
        return cls(code=str(data["code"]), message=str(data["message"]), step=data.get("step"))


@dataclass(frozen=True)
class RunResult:
    """Everything measured in one run. Frozen; statistics are derived from it later."""

    name: str
    started_at: str
    config: Mapping[str, Any]
    environment: Environment
    measurement: Measurement
    counters: Counters
    memory: Memory
    steps: tuple[StepSample, ...]
    warnings: tuple[RunWarning, ...] = ()
    partial: bool = False
    trace: Mapping[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        # Frozen all the way down: config and trace analysis are read-only mappings.
        object.__setattr__(self, "config", frozen(self.config))
        if self.trace is not None:
            object.__setattr__(self, "trace", frozen(self.trace))

    @property
    def measured_steps(self) -> tuple[StepSample, ...]:
        """Non-warm-up steps that ran without the profiler (the headline samples).

        Falls back to the traced measured steps when every measured step was traced.
        """
        measured = tuple(s for s in self.steps if s.measured)
        untraced = tuple(s for s in measured if not s.traced)
        return untraced or measured

    @property
    def traced_steps(self) -> tuple[StepSample, ...]:
        return tuple(s for s in self.steps if s.measured and s.traced)

    def with_updates(self, **changes: Any) -> RunResult:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": RESULT_KIND,
            "schema_version": self.schema_version,
            "name": self.name,
            "started_at": self.started_at,
            "partial": self.partial,
            "environment": self.environment.to_dict(),
            "measurement": self.measurement.to_dict(),
            "counters": self.counters.to_dict(),
            "memory": self.memory.to_dict(),
            "config": thawed(self.config),
            "warnings": [w.to_dict() for w in self.warnings],
            "trace": None if self.trace is None else thawed(self.trace),
            "steps": [s.to_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "result") -> RunResult:
        """Rebuild a result; raises :class:`InputError`/:class:`SchemaError` on foreign input."""
        if not isinstance(data, Mapping) or data.get("kind") != RESULT_KIND:
            raise InputError(
                f"{source}: not a perfkit run result (no \"kind\": \"{RESULT_KIND}\"); "
                "pass a file written by 'perfkit profile --output'"
            )
        version = data.get("schema_version")
        if isinstance(version, bool) or not isinstance(version, int):
            got = "it is missing" if version is None else f"got {version!r}, a {type(version).__name__}"
            raise SchemaError(
                f"{source}: schema_version must be a whole number ({got}); re-create the file "
                "with 'perfkit profile --output'"
            )
        if version != SCHEMA_VERSION:
            raise SchemaError(
                f"{source}: written with result schema_version {version}, this perfkit reads "
                f"version {SCHEMA_VERSION}; re-run the experiment with this perfkit"
            )
        try:
            return cls(
                name=str(data["name"]),
                started_at=str(data["started_at"]),
                config=dict(data["config"]),
                environment=Environment.from_dict(data["environment"]),
                measurement=Measurement.from_dict(data["measurement"]),
                counters=Counters.from_dict(data["counters"]),
                memory=Memory.from_dict(data["memory"]),
                steps=tuple(StepSample.from_dict(s) for s in data["steps"]),
                warnings=tuple(RunWarning.from_dict(w) for w in data.get("warnings", ())),
                partial=bool(data.get("partial", False)),
                trace=data.get("trace"),
                schema_version=int(version),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise InputError(f"{source}: malformed perfkit result ({detail}); re-create it") from exc


def phase_values(steps: Sequence[StepSample], phase: str, device: bool = False) -> list[float]:
    """The per-step values of one phase (``phase='step'`` for the whole step)."""
    out: list[float] = []
    for s in steps:
        if device:
            if phase == "step":
                if s.step_device_ms is not None:
                    out.append(s.step_device_ms)
            elif s.device_ms is not None:
                out.append(s.device_ms[phase])
        else:
            out.append(s.step_host_ms if phase == "step" else s.host_ms[phase])
    return out


__all__ = [
    "ALL_PHASES",
    "PHASES",
    "SCHEMA_VERSION",
    "Counters",
    "Environment",
    "Measurement",
    "Memory",
    "RunResult",
    "RunWarning",
    "StepSample",
    "phase_values",
]
