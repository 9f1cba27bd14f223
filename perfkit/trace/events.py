"""The event model: a compact, columnar store of the trace events the analysis needs.

A Kineto trace holds far more than the analysis reads (flow arrows, Python frames from
``with_stack``, metadata rows, per-event argument dictionaries). :class:`EventStore` keeps
only complete (``ph: X``) events of the categories in :class:`Category`, as numpy columns
plus one interned name table, so that a trace of millions of events fits in tens of MB.

Conventions of every column:

* Times are **integer nanoseconds** relative to ``EventStore.origin_ns``. Integers make the
  interval arithmetic of the analysis exact (a step breakdown sums to the step to the
  nanosecond). JSON traces store microseconds with three decimals, so nothing is lost
  beyond the float precision of the file itself.
* ``correlation`` links a device event (kernel, memcpy, memset) to the runtime or driver
  call that launched it: Kineto writes the same CUPTI/roctracer ``correlation`` id on
  both. ``-1`` when absent.
* ``external_id`` is Kineto's ``External id``: on a launch and on its device events it is
  the id of the CPU op that issued it. ``-1`` when absent.
* ``device``/``stream`` are set on device events only (``-1`` on host events); ``pid``/
  ``tid`` are the process and thread for host events, and Kineto's device/stream
  "process"/"thread" for device events.
* ``blocks`` is a kernel's grid size (product of the grid dimensions), ``-1`` if unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


class Category(IntEnum):
    """The event categories kept (Kineto's ``cat`` field).

    Device categories come first: ``code < CPU_OP`` means "on a device stream".
    """

    KERNEL = 0
    MEMCPY = 1
    MEMSET = 2
    GPU_USER_ANNOTATION = 3
    CPU_OP = 4
    USER_ANNOTATION = 5
    RUNTIME = 6
    DRIVER = 7


#: Kineto ``cat`` strings (and the TensorBoard plugin's legacy spellings from torch 1.8)
#: mapped to the kept categories. ``python_function`` is deliberately absent.
CATEGORY_BY_NAME: dict[str, Category] = {
    "cpu_op": Category.CPU_OP,
    "Operator": Category.CPU_OP,
    "user_annotation": Category.USER_ANNOTATION,
    "gpu_user_annotation": Category.GPU_USER_ANNOTATION,
    "kernel": Category.KERNEL,
    "Kernel": Category.KERNEL,
    "gpu_memcpy": Category.MEMCPY,
    "Memcpy": Category.MEMCPY,
    "gpu_memset": Category.MEMSET,
    "Memset": Category.MEMSET,
    "cuda_runtime": Category.RUNTIME,
    "Runtime": Category.RUNTIME,
    "cuda_driver": Category.DRIVER,
}

HOST_CATEGORIES: frozenset[Category] = frozenset(
    {Category.CPU_OP, Category.USER_ANNOTATION, Category.RUNTIME, Category.DRIVER}
)
DEVICE_CATEGORIES: frozenset[Category] = frozenset(
    {Category.KERNEL, Category.MEMCPY, Category.MEMSET, Category.GPU_USER_ANNOTATION}
)
#: Launch calls: device work is linked to these through ``correlation``.
LAUNCH_CATEGORIES: frozenset[Category] = frozenset({Category.RUNTIME, Category.DRIVER})
#: Device work with a duration on a stream (gpu_user_annotation is a label, not work).
DEVICE_WORK_CATEGORIES: frozenset[Category] = frozenset(
    {Category.KERNEL, Category.MEMCPY, Category.MEMSET}
)


@dataclass(frozen=True)
class DeviceProperties:
    """One accelerator as the trace describes it (Kineto's ``deviceProperties``)."""

    id: int
    name: str
    sm_count: int | None
    compute_capability: str | None
    total_memory_bytes: int | None

    @classmethod
    def from_kineto(cls, data: Mapping[str, Any]) -> DeviceProperties:
        major, minor = data.get("computeMajor"), data.get("computeMinor")
        capability = (
            f"{major}.{minor}" if isinstance(major, int) and isinstance(minor, int) else None
        )
        sms = data.get("numSms")
        memory = data.get("totalGlobalMem")
        return cls(
            id=int(data.get("id", 0)),
            name=str(data.get("name", "unknown device")),
            sm_count=int(sms) if isinstance(sms, int) else None,
            compute_capability=capability,
            total_memory_bytes=int(memory) if isinstance(memory, int) else None,
        )


@dataclass(frozen=True)
class DistributedInfo:
    """The process group a trace was recorded in (Kineto's ``distributedInfo``)."""

    backend: str | None
    rank: int | None
    world_size: int | None

    @classmethod
    def from_kineto(cls, data: Mapping[str, Any]) -> DistributedInfo:
        rank, world = data.get("rank"), data.get("world_size")
        backend = data.get("backend")
        return cls(
            backend=str(backend) if backend is not None else None,
            rank=int(rank) if isinstance(rank, int) else None,
            world_size=int(world) if isinstance(world, int) else None,
        )


@dataclass(frozen=True)
class TraceMeta:
    """Trace-level metadata: where the events come from and on what hardware."""

    source: str
    devices: tuple[DeviceProperties, ...] = ()
    distributed: DistributedInfo | None = None

    @classmethod
    def from_document(cls, source: str, doc: Mapping[str, Any]) -> TraceMeta:
        """Read ``deviceProperties``/``distributedInfo`` from a trace's top-level object."""
        props = doc.get("deviceProperties")
        devices = tuple(
            DeviceProperties.from_kineto(p) for p in props or () if isinstance(p, Mapping)
        )
        dist = doc.get("distributedInfo")
        return cls(
            source=source,
            devices=devices,
            distributed=DistributedInfo.from_kineto(dist) if isinstance(dist, Mapping) else None,
        )


@dataclass(frozen=True, eq=False)
class MemoryEvents:
    """``[memory]`` instant events (recorded with ``profile_memory=True``).

    ``total_allocated`` is the allocator's total after the event (``-1`` when the source
    does not carry it: the in-process events only carry the signed ``nbytes`` delta).
    ``device`` is ``-1`` for host memory.
    """

    ts: IntArray
    device: IntArray
    nbytes: IntArray
    total_allocated: IntArray

    @classmethod
    def empty(cls) -> MemoryEvents:
        z = np.zeros(0, dtype=np.int64)
        return cls(ts=z, device=z, nbytes=z, total_allocated=z)

    def __len__(self) -> int:
        return int(self.ts.size)


@dataclass(frozen=True, eq=False)
class EventStore:
    """Columnar complete events; row ``i`` of every column is one event."""

    names: tuple[str, ...]
    cat: npt.NDArray[np.uint8]
    name: npt.NDArray[np.int32]
    ts: IntArray
    dur: IntArray
    pid: IntArray
    tid: IntArray
    correlation: IntArray
    external_id: IntArray
    device: IntArray
    stream: IntArray
    blocks: IntArray
    meta: TraceMeta
    memory: MemoryEvents = field(default_factory=MemoryEvents.empty)
    origin_ns: int = 0

    def __len__(self) -> int:
        return int(self.ts.size)

    @property
    def end(self) -> IntArray:
        """End time of every event (``ts + dur``)."""
        return self.ts + self.dur

    def mask(self, *categories: Category) -> npt.NDArray[np.bool_]:
        """Boolean row mask of the events in any of ``categories``."""
        return np.isin(self.cat, np.asarray([int(c) for c in categories], dtype=np.uint8))

    def name_ids(self, predicate: Callable[[str], bool]) -> npt.NDArray[np.int32]:
        """Ids of the interned names for which ``predicate(name)`` is true."""
        return np.asarray([i for i, n in enumerate(self.names) if predicate(n)], dtype=np.int32)

    def has_name(self, ids: npt.NDArray[np.int32]) -> npt.NDArray[np.bool_]:
        """Row mask of the events whose name id is in ``ids``."""
        return np.isin(self.name, ids)

    def count(self, category: Category) -> int:
        return int(np.count_nonzero(self.cat == int(category)))

    @classmethod
    def concatenate(cls, stores: Sequence[EventStore]) -> EventStore:
        """Merge stores of the same clock (e.g. several profiler cycles of one run)."""
        if len(stores) == 1:
            return stores[0]
        builder = EventStoreBuilder(stores[0].meta)
        builder.origin_ns = min(s.origin_ns for s in stores)
        for s in stores:
            shift = s.origin_ns - builder.origin_ns
            builder.add_columns(
                cat=s.cat,
                names=[s.names[i] for i in s.name.tolist()],
                ts=s.ts + shift,
                dur=s.dur,
                pid=s.pid,
                tid=s.tid,
                correlation=s.correlation,
                external_id=s.external_id,
                device=s.device,
                stream=s.stream,
                blocks=s.blocks,
            )
            m = s.memory
            builder.add_memory(m.ts + shift, m.device, m.nbytes, m.total_allocated)
        return builder.build()


_COLUMNS: tuple[tuple[str, type[np.generic]], ...] = (
    ("cat", np.uint8),
    ("ts", np.int64),
    ("dur", np.int64),
    ("pid", np.int64),
    ("tid", np.int64),
    ("correlation", np.int64),
    ("external_id", np.int64),
    ("device", np.int64),
    ("stream", np.int64),
    ("blocks", np.int64),
)


class EventStoreBuilder:
    """Accumulates batches of columns, then builds one :class:`EventStore`.

    Readers call :meth:`add_columns` once per batch (thousands of events) with plain
    sequences; values that are not integers (a string ``pid``, say) are mapped to
    stable negative ids rather than rejected.
    """

    def __init__(self, meta: TraceMeta) -> None:
        self.meta = meta
        self.origin_ns = 0
        self._intern: dict[str, int] = {}
        self._foreign_ids: dict[Any, int] = {}
        self._chunks: dict[str, list[np.ndarray]] = {name: [] for name, _ in _COLUMNS}
        self._chunks["name"] = []
        self._memory: list[tuple[np.ndarray, ...]] = []

    def intern(self, names: Iterable[str]) -> np.ndarray:
        """Name ids for ``names``, adding new names to the table."""
        table = self._intern
        return np.fromiter((table.setdefault(n, len(table)) for n in names), dtype=np.int32)

    def add_columns(self, *, names: Sequence[str], **columns: Any) -> None:
        """Append one batch. ``columns`` has one sequence per column of :data:`_COLUMNS`."""
        n = len(names)
        if n == 0:
            return
        self._chunks["name"].append(self.intern(names))
        for key, dtype in _COLUMNS:
            values = columns[key]
            arr = self._as_array(values, dtype)
            if arr.shape != (n,):
                raise ValueError(f"column {key} has {arr.shape} values for {n} names")
            self._chunks[key].append(arr)

    def add_memory(self, ts: Any, device: Any, nbytes: Any, total_allocated: Any) -> None:
        cols = tuple(self._as_array(v, np.int64) for v in (ts, device, nbytes, total_allocated))
        if cols[0].size:
            self._memory.append(cols)

    def _as_array(self, values: Any, dtype: type[np.generic]) -> np.ndarray:
        if isinstance(values, np.ndarray) and values.dtype == dtype:
            return values
        try:
            return np.asarray(values, dtype=dtype)
        except (TypeError, ValueError, OverflowError):
            return np.asarray([self._coerce(v) for v in values], dtype=dtype)

    def _coerce(self, value: Any) -> int:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value == value:
            return int(value)
        ids = self._foreign_ids
        return -ids.setdefault(value, len(ids) + 2)  # -1 stays "absent"

    def build(self) -> EventStore:
        cols: dict[str, np.ndarray] = {}
        for key, chunks in self._chunks.items():
            dtype = np.int32 if key == "name" else dict(_COLUMNS)[key]
            cols[key] = np.concatenate(chunks) if chunks else np.zeros(0, dtype=dtype)
            chunks.clear()
        if self._memory:
            mem = MemoryEvents(
                *(np.concatenate(parts) for parts in zip(*self._memory, strict=False))
            )
        else:
            mem = MemoryEvents.empty()
        names = tuple(self._intern)
        return EventStore(
            names=names,
            cat=cols["cat"],
            name=cols["name"],
            ts=cols["ts"],
            dur=np.maximum(cols["dur"], 0),
            pid=cols["pid"],
            tid=cols["tid"],
            correlation=cols["correlation"],
            external_id=cols["external_id"],
            device=cols["device"],
            stream=cols["stream"],
            blocks=cols["blocks"],
            meta=self.meta,
            memory=mem,
            origin_ns=self.origin_ns,
        )


__all__ = [
    "CATEGORY_BY_NAME",
    "DEVICE_CATEGORIES",
    "DEVICE_WORK_CATEGORIES",
    "HOST_CATEGORIES",
    "LAUNCH_CATEGORIES",
    "Category",
    "DeviceProperties",
    "DistributedInfo",
    "EventStore",
    "EventStoreBuilder",
    "MemoryEvents",
    "TraceMeta",
]
