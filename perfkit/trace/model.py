"""``TraceAnalysis``: what perfkit measured in one trace, as plain frozen data.

Units and conventions (every renderer and every consumer relies on them):

* Durations are **integer nanoseconds** (``*_ns``); medians over steps are floats in ns.
* Ratios (``*_share``, ``utilization``, ``*_overlap``, ``est_sm_efficiency``) are
  fractions in ``[0, 1]``; each definition below keeps its numerator a part of its
  denominator, so no ratio can exceed 1 (concurrent kernels and several devices
  included).
* ``None`` means *not measured* or *not applicable*, never zero. A CPU-only trace has
  ``device = None`` and per-phase device times of ``None``; its breakdown still has a
  ``Kernel`` category of 0 ns, because "no kernel ran in this step" is a measurement.
* Step times are device-anchored windows (see :mod:`perfkit.trace.steps`).

``to_dict``/``from_dict`` round-trip through JSON (``RunResult.trace`` stores the dict);
``schema`` marks the layout so that a later perfkit can refuse what it cannot read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from perfkit.errors import SchemaError

TRACE_SCHEMA = "perfkit.trace_analysis/1"

#: Step-time breakdown categories, in the priority order they claim time.
BREAKDOWN_CATEGORIES: tuple[str, ...] = (
    "Kernel",
    "Memcpy",
    "Memset",
    "Communication",
    "Runtime",
    "DataLoader",
    "CPU Exec",
    "Other",
)

NOT_APPLICABLE_NO_DEVICE = "not applicable (no device activity in trace)"


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class DeviceInfo:
    """An accelerator that ran work in the trace (from ``deviceProperties``).

    ``vendor``: ``"nvidia"``, ``"amd"`` or ``None`` (unknown), from the device name,
    ``gcnArchName``, or the runtime calls (``hip*`` means AMD). ``sm_count``: SMs on
    NVIDIA, compute units (CUs) on AMD. ``compute_capability``: NVIDIA only (``"8.0"``);
    ``architecture``: AMD only (``"gfx90a"``, or ``"gfx9"`` when the trace gives only
    HIP's major version).
    """

    id: int
    name: str
    sm_count: int | None
    compute_capability: str | None
    total_memory_bytes: int | None
    vendor: str | None = None
    architecture: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeviceInfo:
        return cls(
            id=int(data["id"]),
            name=str(data["name"]),
            sm_count=_opt_int(data.get("sm_count")),
            compute_capability=data.get("compute_capability"),
            total_memory_bytes=_opt_int(data.get("total_memory_bytes")),
            vendor=data.get("vendor"),
            architecture=data.get("architecture"),
        )


@dataclass(frozen=True)
class Distributed:
    """The process group the trace was recorded in (``distributedInfo``)."""

    backend: str | None
    rank: int | None
    world_size: int | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Distributed:
        return cls(
            backend=data.get("backend"),
            rank=_opt_int(data.get("rank")),
            world_size=_opt_int(data.get("world_size")),
        )


@dataclass(frozen=True)
class PhaseTimes:
    """One loop phase: in one step (integers) or the median over steps (floats).

    * ``host_ns``: wall time of the loop thread in the phase: its phase ranges there,
      plus (foreign traces) the derived forward/backward spans (:mod:`perfkit.trace.phases`).
    * ``cpu_op_ns``: self CPU time of the operators run in the phase, summed over
      threads (autograd's backward thread included), so it can exceed ``host_ns``.
    * ``kernel_ns``/``memcpy_ns``/``memset_ns``: summed device durations of the work
      launched in the phase (a launch belongs to the phase of its own thread: the
      innermost phase range around it there, backward on autograd's thread, the derived
      span on the loop thread; never the phase another thread is in). Device work
      without a launch in the trace is in no phase. Concurrent streams add up. ``None``
      when the trace has no device activity.
    * ``kernels``: kernels launched; ``launches``: launch calls that started at least
      one kernel (fewer than ``kernels`` with CUDA graphs). ``None`` without a device.
    """

    host_ns: float
    cpu_op_ns: float
    kernel_ns: float | None
    memcpy_ns: float | None
    memset_ns: float | None
    kernels: float | None
    launches: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhaseTimes:
        return cls(
            host_ns=float(data["host_ns"]),
            cpu_op_ns=float(data["cpu_op_ns"]),
            kernel_ns=_opt_float(data.get("kernel_ns")),
            memcpy_ns=_opt_float(data.get("memcpy_ns")),
            memset_ns=_opt_float(data.get("memset_ns")),
            kernels=_opt_float(data.get("kernels")),
            launches=_opt_float(data.get("launches")),
        )


@dataclass(frozen=True)
class StepStats:
    """One step.

    ``breakdown`` maps every category of :data:`BREAKDOWN_CATEGORIES` to ns and sums to
    ``duration_ns`` exactly. ``phases`` has one entry per phase seen in the trace plus
    ``other`` (work outside every phase range). ``kernel_busy_ns`` is the union of the
    main device's kernel intervals within the step window (see :class:`DeviceMetrics`;
    ``None`` without a device), so that the steps' values add up to
    ``DeviceMetrics.kernel_busy_ns``; ``kernel_ns``/``kernels`` are the summed durations
    and the count of the kernels the step launched (their launch call is in the trace and
    starts in the step's host range), on every device. ``ops`` counts the
    cpu_op events (aten calls, ``ProfilerStep#`` excluded) that started inside the step:
    deterministic for a given program.
    """

    name: str
    start_ns: int
    duration_ns: int
    host_duration_ns: int
    breakdown: Mapping[str, int]
    phases: Mapping[str, PhaseTimes]
    kernel_busy_ns: int | None
    kernel_ns: int | None
    kernels: int | None
    ops: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "start_ns": self.start_ns,
            "duration_ns": self.duration_ns,
            "host_duration_ns": self.host_duration_ns,
            "breakdown": dict(self.breakdown),
            "phases": {k: v.to_dict() for k, v in self.phases.items()},
            "kernel_busy_ns": self.kernel_busy_ns,
            "kernel_ns": self.kernel_ns,
            "kernels": self.kernels,
            "ops": self.ops,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepStats:
        return cls(
            name=str(data["name"]),
            start_ns=int(data["start_ns"]),
            duration_ns=int(data["duration_ns"]),
            host_duration_ns=int(data["host_duration_ns"]),
            breakdown={k: int(v) for k, v in data["breakdown"].items()},
            phases={k: PhaseTimes.from_dict(v) for k, v in data["phases"].items()},
            kernel_busy_ns=_opt_int(data.get("kernel_busy_ns")),
            kernel_ns=_opt_int(data.get("kernel_ns")),
            kernels=_opt_int(data.get("kernels")),
            ops=_opt_int(data.get("ops")),
        )


@dataclass(frozen=True)
class CategoryTime:
    """One breakdown category over all steps: total, share of all steps, median per step."""

    name: str
    total_ns: int
    share: float
    median_ns: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoryTime:
        return cls(
            name=str(data["name"]),
            total_ns=int(data["total_ns"]),
            share=float(data["share"]),
            median_ns=float(data["median_ns"]),
        )


@dataclass(frozen=True)
class DeviceUsage:
    """One device over the steps (``steps_total_ns`` of :class:`DeviceMetrics` is the
    denominator of every ratio).

    * ``kernel_busy_ns``: union of this device's kernel intervals within the step
      windows (concurrent streams count once); ``utilization`` = ``kernel_busy_ns`` ÷
      step time; ``idle_ns`` = step time - ``kernel_busy_ns``, split into
      ``idle_host_wait_ns`` and ``idle_other_ns`` as in :class:`DeviceMetrics`.
    * ``kernel_ns``/``kernels``: summed durations and count of the step's kernels that
      ran on this device (concurrent kernels add up).
    * ``communication_ns``: union of this device's NCCL/RCCL kernel intervals within the
      windows.
    * ``est_sm_efficiency``: see :class:`DeviceMetrics`; ``None`` when a kernel of this
      device has no grid or the device's SM count is unknown.
    """

    id: int
    kernel_busy_ns: int
    utilization: float | None
    idle_ns: int
    idle_host_wait_ns: int
    idle_other_ns: int
    kernel_ns: int
    kernels: int
    communication_ns: int
    est_sm_efficiency: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeviceUsage:
        return cls(
            id=int(data["id"]),
            kernel_busy_ns=int(data["kernel_busy_ns"]),
            utilization=_opt_float(data.get("utilization")),
            idle_ns=int(data["idle_ns"]),
            idle_host_wait_ns=int(data["idle_host_wait_ns"]),
            idle_other_ns=int(data["idle_other_ns"]),
            kernel_ns=int(data["kernel_ns"]),
            kernels=int(data["kernels"]),
            communication_ns=int(data.get("communication_ns", 0)),
            est_sm_efficiency=_opt_float(data.get("est_sm_efficiency")),
        )


@dataclass(frozen=True)
class DeviceMetrics:
    """Device-side measurements over the steps (``steps_total_ns`` is the denominator).

    **Several devices.** Device *time* figures describe one device, ``main_device``: the
    one with the most kernel time (ties: the lowest id). Adding devices together would
    let two GPUs that are each busy half the time, one after the other, read as 100 %
    busy. These are ``kernel_busy_ns``, ``utilization``, ``idle_*``,
    ``communication_ns``/``communication_busy_share``/``communication_overlap`` and
    ``est_sm_efficiency``; ``per_device`` has them for every device that ran work (one
    entry per device, lowest id first). *Counts and summed durations* (``kernel_ns``,
    ``kernels``, ``launches``, per-step medians, kernel duration statistics,
    ``memcpy_ns``/``memset_ns``, tensor-core figures, ``syncs``) cover all devices.

    * ``utilization`` = ``kernel_busy_ns`` ÷ ``steps_total_ns``: the share of step time in
      which at least one kernel ran on the main device (memcpy and memset excluded, as
      in the TensorBoard plugin).
    * ``idle_ns`` = ``steps_total_ns`` - ``kernel_busy_ns``, split into
      ``idle_host_wait_ns`` (gaps whose next kernel was launched only after the gap had
      begun: the device waited for the host, HTA's definition applied to the device
      rather than per stream) and ``idle_other_ns`` (the kernel was queued in time but
      waited on something else: a sync, a copy, an event, or the end of the trace).
    * ``kernel_ns``: summed durations of the steps' kernels (concurrent kernels add up);
      ``kernels`` and ``launches`` as in :class:`PhaseTimes`;
      ``kernels_per_step``/``launches_per_step`` are medians over steps;
      ``mean_kernel_ns`` = ``kernel_ns`` ÷ ``kernels`` and ``median_kernel_ns`` the
      median kernel duration (many launches of short kernels point to a launch-bound
      loop: a launch costs the host several µs).
    * ``memcpy_ns``/``memset_ns``: summed durations of the steps' copies and fills.
    * ``syncs``/``syncs_per_step``: runtime calls that block the host until the device
      catches up (``cudaStreamSynchronize`` from ``.item()``, ``cudaDeviceSynchronize``,
      synchronous ``cudaMemcpy``), in total and the median per step;
    * ``tensor_core_kernel_ns``: kernel time of tensor-core (AMD: matrix-core) kernels
      (:func:`perfkit.trace.kernels.uses_tensor_cores`); ``tensor_core_share`` = that ÷
      ``kernel_ns``. ``tensor_core_eligible_ops`` lists the conv/matmul-family
      operators seen; ``tensor_core_eligible_kernel_ns`` is the kernel time they launched.
    * ``communication_ns`` = union of the main device's NCCL/RCCL kernel intervals within
      the steps (overlapped or not); ``communication_busy_share`` = that ÷
      ``steps_total_ns`` (the top-level ``TraceAnalysis.communication_share`` is another
      number: the *exposed* share, the breakdown's Communication);
      ``communication_overlap`` = the part of ``communication_ns`` overlapped by the same
      device's compute kernels (HTA's comm/compute overlap).
    * ``est_sm_efficiency`` (the TensorBoard plugin's estimate, capped as the plugin
      does): each kernel of the main device weighs min(1, blocks ÷ SMs); at every instant
      the running kernels' weights are added and capped at 1, and the result is
      integrated over the step windows and divided by ``steps_total_ns``. It never
      exceeds ``utilization``. ``None`` when a kernel has no grid (ROCm traces) or the SM
      count is unknown.
    * ``peak_memory_bytes``: highest device memory allocated in a ``[memory]`` event
      (``Total Allocated``; needs ``profile_memory=True``) on the device with the highest
      peak, ``peak_memory_share`` of that device's ``device_memory_bytes``.
    * ``compute_capability``/``vendor``: of the main device (``compute_capability`` is
      ``None`` on AMD, whose architecture is in ``TraceAnalysis.devices``).
    * ``unlinked_device_events``: device work with no launch found (attributed by time).
    """

    steps_total_ns: int
    kernel_busy_ns: int
    utilization: float | None
    idle_ns: int
    idle_host_wait_ns: int
    idle_other_ns: int
    kernel_ns: int
    kernels: int
    launches: int
    kernels_per_step: float
    launches_per_step: float
    mean_kernel_ns: float | None
    median_kernel_ns: float | None
    memcpy_ns: int
    memset_ns: int
    tensor_core_kernel_ns: int
    tensor_core_share: float | None
    tensor_core_eligible_ops: tuple[str, ...]
    tensor_core_eligible_kernel_ns: int
    communication_ns: int
    communication_busy_share: float | None
    communication_overlap: float | None
    est_sm_efficiency: float | None
    compute_capability: str | None
    peak_memory_bytes: int | None
    device_memory_bytes: int | None
    peak_memory_share: float | None
    unlinked_device_events: int
    syncs: int = 0
    syncs_per_step: float = 0.0
    main_device: int | None = None
    vendor: str | None = None
    per_device: tuple[DeviceUsage, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["tensor_core_eligible_ops"] = list(self.tensor_core_eligible_ops)
        out["per_device"] = [d.to_dict() for d in self.per_device]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeviceMetrics:
        # ``communication_busy_share`` was called ``communication_share`` before.
        busy_share = data.get("communication_busy_share", data.get("communication_share"))
        return cls(
            steps_total_ns=int(data["steps_total_ns"]),
            kernel_busy_ns=int(data["kernel_busy_ns"]),
            utilization=_opt_float(data.get("utilization")),
            idle_ns=int(data["idle_ns"]),
            idle_host_wait_ns=int(data["idle_host_wait_ns"]),
            idle_other_ns=int(data["idle_other_ns"]),
            kernel_ns=int(data["kernel_ns"]),
            kernels=int(data["kernels"]),
            launches=int(data["launches"]),
            kernels_per_step=float(data["kernels_per_step"]),
            launches_per_step=float(data["launches_per_step"]),
            mean_kernel_ns=_opt_float(data.get("mean_kernel_ns")),
            median_kernel_ns=_opt_float(data.get("median_kernel_ns")),
            memcpy_ns=int(data["memcpy_ns"]),
            memset_ns=int(data["memset_ns"]),
            tensor_core_kernel_ns=int(data["tensor_core_kernel_ns"]),
            tensor_core_share=_opt_float(data.get("tensor_core_share")),
            tensor_core_eligible_ops=tuple(data.get("tensor_core_eligible_ops", ())),
            tensor_core_eligible_kernel_ns=int(data["tensor_core_eligible_kernel_ns"]),
            communication_ns=int(data["communication_ns"]),
            communication_busy_share=_opt_float(busy_share),
            communication_overlap=_opt_float(data.get("communication_overlap")),
            est_sm_efficiency=_opt_float(data.get("est_sm_efficiency")),
            compute_capability=data.get("compute_capability"),
            peak_memory_bytes=_opt_int(data.get("peak_memory_bytes")),
            device_memory_bytes=_opt_int(data.get("device_memory_bytes")),
            peak_memory_share=_opt_float(data.get("peak_memory_share")),
            unlinked_device_events=int(data.get("unlinked_device_events", 0)),
            syncs=int(data.get("syncs", 0)),
            syncs_per_step=float(data.get("syncs_per_step", 0.0)),
            main_device=_opt_int(data.get("main_device")),
            vendor=data.get("vendor"),
            per_device=tuple(DeviceUsage.from_dict(d) for d in data.get("per_device", ())),
        )


@dataclass(frozen=True)
class KernelStat:
    """One kernel name over the steps: summed duration, calls, mean, share of kernel time."""

    name: str
    total_ns: int
    count: int
    mean_ns: float
    share: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KernelStat:
        return cls(
            name=str(data["name"]),
            total_ns=int(data["total_ns"]),
            count=int(data["count"]),
            mean_ns=float(data["mean_ns"]),
            share=float(data["share"]),
        )


@dataclass(frozen=True)
class OpStat:
    """One operator name over the steps.

    ``self_cpu_ns``: durations minus direct children's, summed over calls.
    ``self_device_ns``: kernel time of the launches whose innermost enclosing op is this
    one (``None`` without a device). ``calls``: occurrences.
    """

    name: str
    calls: int
    self_cpu_ns: int
    self_device_ns: int | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OpStat:
        return cls(
            name=str(data["name"]),
            calls=int(data["calls"]),
            self_cpu_ns=int(data["self_cpu_ns"]),
            self_device_ns=_opt_int(data.get("self_device_ns")),
        )


@dataclass(frozen=True)
class TrainingSignals:
    """Counts that reveal AMP and optimizer variants (see :mod:`perfkit.trace.signals`)."""

    grad_scaler_calls: int
    fp16_kernel_ns: int
    bf16_kernel_ns: int
    fused_optimizer_calls: int
    foreach_calls: int
    compiled_region_calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingSignals:
        return cls(**{name: int(data.get(name, 0)) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class TraceAnalysis:
    """Everything perfkit measured in one trace. See the module doc for units.

    * ``source``: the file analyzed, or ``"in-process"``; ``trace_path``: the trace file
      on disk to open in a viewer (``None`` if not written); ``tensorboard_logdir``: the
      directory to pass to ``tensorboard --logdir``.
    * ``steps``/``steps_from_profiler``: per-step stats, and whether they come from
      ``ProfilerStep#`` events (``False``: the whole trace is one span).
    * ``breakdown``: the step-time categories over all steps (sum of ``total_ns`` =
      ``steps_total_ns``).
    * ``phase_mapping``: ``"perfkit"`` (perfkit/<phase> ranges), ``"torch"`` (a foreign
      trace: DataLoader and Optimizer ranges, autograd's events and the forward/backward
      spans derived from them) or ``"none"``; ``phases``: per-phase medians over steps.
    * ``dataloader_share``/``communication_share``: the breakdown's DataLoader and
      (exposed) Communication shares of step time (the communication that no
      higher-priority category hid; ``device.communication_busy_share`` counts all NCCL
      kernel time instead).
    * ``device``: device metrics, ``None`` for a trace without device activity (then
      ``device_not_applicable`` says why); ``devices``: the devices that ran work, from
      ``deviceProperties``.
    * ``top_kernels``: by total device time; ``top_ops_by_device``: by self device time;
      ``top_ops_by_cpu``: by self CPU time.
    * ``event_counts``: events kept per category; ``notes``: what the reader should know
      about how the numbers were obtained; ``signals``: AMP/optimizer-variant evidence for
      advice.
    """

    source: str
    trace_path: str | None
    tensorboard_logdir: str | None
    steps_from_profiler: bool
    steps: tuple[StepStats, ...]
    steps_total_ns: int
    breakdown: tuple[CategoryTime, ...]
    phase_mapping: str
    phases: Mapping[str, PhaseTimes]
    dataloader_share: float | None
    communication_share: float | None
    device: DeviceMetrics | None
    device_not_applicable: str | None
    devices: tuple[DeviceInfo, ...]
    distributed: Distributed | None
    top_kernels: tuple[KernelStat, ...]
    top_ops_by_device: tuple[OpStat, ...]
    top_ops_by_cpu: tuple[OpStat, ...]
    event_counts: Mapping[str, int]
    notes: tuple[str, ...] = ()
    signals: TrainingSignals | None = None
    schema: str = field(default=TRACE_SCHEMA)

    @property
    def has_device(self) -> bool:
        return self.device is not None

    def category(self, name: str) -> CategoryTime:
        """The breakdown entry named ``name`` (one of :data:`BREAKDOWN_CATEGORIES`)."""
        for c in self.breakdown:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "source": self.source,
            "trace_path": self.trace_path,
            "tensorboard_logdir": self.tensorboard_logdir,
            "steps_from_profiler": self.steps_from_profiler,
            "steps_total_ns": self.steps_total_ns,
            "breakdown": [c.to_dict() for c in self.breakdown],
            "phase_mapping": self.phase_mapping,
            "phases": {k: v.to_dict() for k, v in self.phases.items()},
            "dataloader_share": self.dataloader_share,
            "communication_share": self.communication_share,
            "device": None if self.device is None else self.device.to_dict(),
            "device_not_applicable": self.device_not_applicable,
            "devices": [d.to_dict() for d in self.devices],
            "distributed": None if self.distributed is None else self.distributed.to_dict(),
            "top_kernels": [k.to_dict() for k in self.top_kernels],
            "top_ops_by_device": [o.to_dict() for o in self.top_ops_by_device],
            "top_ops_by_cpu": [o.to_dict() for o in self.top_ops_by_cpu],
            "event_counts": dict(self.event_counts),
            "notes": list(self.notes),
            "signals": None if self.signals is None else self.signals.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "trace analysis") -> TraceAnalysis:
        """Rebuild from :meth:`to_dict` output; :class:`SchemaError` on another layout."""
        schema = data.get("schema") if isinstance(data, Mapping) else None
        if schema != TRACE_SCHEMA:
            raise SchemaError(
                f"{source}: trace analysis schema {schema!r}, this perfkit reads "
                f"{TRACE_SCHEMA!r}; re-run 'perfkit analyze' on the trace file"
            )
        device = data.get("device")
        dist = data.get("distributed")
        return cls(
            source=str(data["source"]),
            trace_path=data.get("trace_path"),
            tensorboard_logdir=data.get("tensorboard_logdir"),
            steps_from_profiler=bool(data["steps_from_profiler"]),
            steps=tuple(StepStats.from_dict(s) for s in data["steps"]),
            steps_total_ns=int(data["steps_total_ns"]),
            breakdown=tuple(CategoryTime.from_dict(c) for c in data["breakdown"]),
            phase_mapping=str(data["phase_mapping"]),
            phases={k: PhaseTimes.from_dict(v) for k, v in data["phases"].items()},
            dataloader_share=_opt_float(data.get("dataloader_share")),
            communication_share=_opt_float(data.get("communication_share")),
            device=None if device is None else DeviceMetrics.from_dict(device),
            device_not_applicable=data.get("device_not_applicable"),
            devices=tuple(DeviceInfo.from_dict(d) for d in data.get("devices", ())),
            distributed=None if dist is None else Distributed.from_dict(dist),
            top_kernels=tuple(KernelStat.from_dict(k) for k in data.get("top_kernels", ())),
            top_ops_by_device=tuple(OpStat.from_dict(o) for o in data.get("top_ops_by_device", ())),
            top_ops_by_cpu=tuple(OpStat.from_dict(o) for o in data.get("top_ops_by_cpu", ())),
            event_counts={k: int(v) for k, v in data.get("event_counts", {}).items()},
            notes=tuple(str(n) for n in data.get("notes", ())),
            signals=None if data.get("signals") is None else TrainingSignals.from_dict(data["signals"]),
            schema=TRACE_SCHEMA,
        )


__all__ = [
    "BREAKDOWN_CATEGORIES",
    "NOT_APPLICABLE_NO_DEVICE",
    "TRACE_SCHEMA",
    "CategoryTime",
    "DeviceInfo",
    "DeviceMetrics",
    "DeviceUsage",
    "Distributed",
    "KernelStat",
    "OpStat",
    "PhaseTimes",
    "StepStats",
    "TraceAnalysis",
    "TrainingSignals",
]
