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
* ``correlation`` links a device event (kernel, memcpy, memset) to the runtime or
  driver call that launched it: Kineto writes the same CUPTI/roctracer ``correlation`` id
  on both. ``-1`` when absent. It is int32 while every id fits, else int64 (the builder
  widens the column at the first id that does not fit): 4 bytes per event saved.
* ``device`` (int32) is set on device events only (``-1`` on host events); ``pid``/``tid``
  (int32) are the process and thread for host events, and Kineto's device/stream
  "process"/"thread" for device events.
* ``blocks`` (int32) is a kernel's grid size (product of the grid dimensions), ``-1`` if
  unknown; a grid above 2**31 - 1 blocks is stored as 2**31 - 1 (it only ever matters
  whether it fills the SMs).
* Ids that are not integers, or do not fit their column (a 2**64 - 1 thread id, a
  ``1e30`` pid, a string), become stable negative "foreign" ids (``-2``, ``-3``, ...), so
  equal values stay equal and nothing overflows; ``-1`` keeps meaning "absent". A
  foreign correlation id links nothing.
* Kineto's ``External id`` and the stream id are not kept: no measurement reads them.

Rows whose time cannot be represented (see :data:`MAX_ABS_NS`) are dropped by the
builder and counted in :attr:`EventStore.skipped_bad_times`.

Besides the rows, two small side tables are kept (a handful of entries, or one per
autograd node): the **profiler sessions** (Kineto's ``cat: Trace`` span
``PyTorch Profiler (N)``, one per recording; correlation ids are only unique within one)
and the **forward marks** (the start of every ``fwdbwd`` flow: the forward op that
recorded an autograd node, on its thread).

Columns are filled through :class:`EventStoreBuilder`, which appends every batch into
buffers of anonymous memory that grow by doubling: untouched capacity is never resident,
and replaced buffers go straight back to the operating system (a list of small numpy
chunks concatenated at the end would leave the size of the store behind as freed but
resident heap).
"""

from __future__ import annotations

import math
import mmap
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
#: Row numbers of the store, or per-row values that are row numbers or small codes:
#: int32 while the store has fewer than 2**31 rows (see :func:`row_dtype`), else int64.
RowArray = npt.NDArray[np.signedinteger[Any]]

#: Largest ``|ts|`` (from the store's origin) and ``dur`` kept, in ns (2**61 ns, about 73
#: years): every sum of two times then fits in int64, and so does every span the
#: analysis shifts by. An event outside is dropped and counted, never wrapped around.
MAX_ABS_NS = 2**61
#: Largest grid size stored in ``blocks`` (int32); larger grids saturate here.
MAX_BLOCKS = 2**31 - 1

#: Vendors perfkit tells apart; ``None`` when the trace does not say.
NVIDIA = "nvidia"
AMD = "amd"
_AMD_NAME_RE = re.compile(r"\b(AMD|Radeon|Instinct)\b|\bgfx\d|\bMI\d{3}", re.IGNORECASE)
_NVIDIA_NAME_RE = re.compile(r"\b(NVIDIA|Tesla|GeForce|Quadro|RTX)\b", re.IGNORECASE)


#: Rows a per-event lookup handles at a time. Working on slices keeps the temporaries of a
#: 10 M-event trace (gathered timestamps, masks, search results) at a few MiB each instead
#: of several full-length int64 arrays alive at once; a million rows keeps numpy's
#: per-call cost negligible.
ROW_SLICE = 1 << 20


def row_dtype(rows: int) -> type[np.signedinteger[Any]]:
    """The dtype of arrays of row numbers (``-1``: none) for a store of ``rows`` rows.

    int32 halves the memory of every per-event index array (links, call tree, owning op)
    of traces of millions of events; int64 only when a row number would not fit.
    """
    return np.int32 if rows < 2**31 else np.int64


def vendor_from_name(name: str) -> str | None:
    """``"amd"``/``"nvidia"`` when a device name says so (``AMD Instinct MI250X``, ``gfx90a``,
    ``NVIDIA A100-SXM4-40GB``, ``Tesla V100``), else ``None``."""
    if _AMD_NAME_RE.search(name):
        return AMD
    if _NVIDIA_NAME_RE.search(name):
        return NVIDIA
    return None


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


def _small_int(value: Any) -> int | None:
    """``value`` if it is an int (not a bool) that fits int64, else ``None``."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    return None


@dataclass(frozen=True)
class DeviceProperties:
    """One accelerator as the trace describes it (Kineto's ``deviceProperties``).

    ``sm_count`` is NVIDIA's SM count or AMD's compute-unit (CU) count (HIP reports CUs in
    the same field). ``compute_capability`` is NVIDIA's ``major.minor``; on AMD the HIP
    ``major.minor`` is a GCN architecture family, not a CUDA capability, so it is kept as
    ``architecture`` instead (``gfx90a`` from ``gcnArchName`` when the trace has it, else
    ``gfx9`` from the major version) and ``compute_capability`` is ``None``.
    """

    id: int
    name: str
    sm_count: int | None
    compute_capability: str | None
    total_memory_bytes: int | None
    vendor: str | None = None
    architecture: str | None = None

    @classmethod
    def from_kineto(cls, data: Mapping[str, Any]) -> DeviceProperties:
        """Parse one ``deviceProperties`` entry (the vendor from its name or ``gcnArchName``)."""
        major, minor = _small_int(data.get("computeMajor")), _small_int(data.get("computeMinor"))
        name = str(data.get("name", "unknown device"))
        arch_name = data.get("gcnArchName")
        vendor = vendor_from_name(name)
        if isinstance(arch_name, str) and arch_name:
            vendor = AMD
        capability = f"{major}.{minor}" if major is not None and minor is not None else None
        architecture = None
        if vendor == AMD:
            if isinstance(arch_name, str) and arch_name:
                architecture = arch_name.split(":", 1)[0]
            elif major is not None:
                architecture = f"gfx{major}"
            capability = None
        sms = _small_int(data.get("numSms"))
        memory = _small_int(data.get("totalGlobalMem"))
        dev_id = _small_int(data.get("id"))
        return cls(
            id=dev_id if dev_id is not None else 0,
            name=name,
            sm_count=sms if sms is not None and sms > 0 else None,
            compute_capability=capability,
            total_memory_bytes=memory if memory is not None and memory > 0 else None,
            vendor=vendor,
            architecture=architecture,
        )

    def with_vendor(self, vendor: str | None) -> DeviceProperties:
        """These properties with ``vendor`` filled in where the entry did not say.

        An AMD device's HIP ``major.minor`` moves from ``compute_capability`` to
        ``architecture`` (``9.0`` → ``gfx9``).
        """
        if self.vendor is not None or vendor is None:
            return self
        if vendor != AMD:
            return replace(self, vendor=vendor)
        arch = self.architecture
        if arch is None and self.compute_capability:
            arch = "gfx" + self.compute_capability.split(".", 1)[0]
        return replace(self, vendor=vendor, architecture=arch, compute_capability=None)


@dataclass(frozen=True)
class DistributedInfo:
    """The process group a trace was recorded in (Kineto's ``distributedInfo``)."""

    backend: str | None
    rank: int | None
    world_size: int | None

    @classmethod
    def from_kineto(cls, data: Mapping[str, Any]) -> DistributedInfo:
        backend = data.get("backend")
        return cls(
            backend=str(backend) if backend is not None else None,
            rank=_small_int(data.get("rank")),
            world_size=_small_int(data.get("world_size")),
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
        if not isinstance(props, (list, tuple)):
            props = ()
        devices = tuple(DeviceProperties.from_kineto(p) for p in props if isinstance(p, Mapping))
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
class ForwardMarks:
    """Starts of Kineto's ``fwdbwd`` flow arrows (``ph: s``): a forward op that recorded an
    autograd node starts at ``ts`` on thread ``(pid, tid)`` (ids coerced as the rows')."""

    ts: IntArray
    pid: Int32Array
    tid: Int32Array

    @classmethod
    def empty(cls) -> ForwardMarks:
        z = np.zeros(0, dtype=np.int32)
        return cls(ts=np.zeros(0, dtype=np.int64), pid=z, tid=z)

    def __len__(self) -> int:
        return int(self.ts.size)


def _no_sessions() -> IntArray:
    return np.zeros((0, 2), dtype=np.int64)


@dataclass(frozen=True, eq=False)
class EventStore:
    """Columnar complete events; row ``i`` of every column is one event.

    ``skipped_bad_times`` counts the complete events of a kept category that were left
    out because their ``ts`` or ``dur`` is missing, not a number, not finite, or out of
    range (:data:`MAX_ABS_NS`); the analysis says so in a note.

    ``sessions`` holds one ``(start, end)`` row (ns, store clock) per profiler session
    the events come from (empty: not known, one session); ``forward_marks`` the forward
    side of the ``fwdbwd`` flows (empty when the trace has none).
    """

    names: tuple[str, ...]
    cat: npt.NDArray[np.uint8]
    name: Int32Array
    ts: IntArray
    dur: IntArray
    pid: Int32Array
    tid: Int32Array
    correlation: npt.NDArray[np.signedinteger[Any]]
    device: Int32Array
    blocks: Int32Array
    meta: TraceMeta
    memory: MemoryEvents = field(default_factory=MemoryEvents.empty)
    origin_ns: int = 0
    skipped_bad_times: int = 0
    sessions: IntArray = field(default_factory=_no_sessions)
    forward_marks: ForwardMarks = field(default_factory=ForwardMarks.empty)

    def __len__(self) -> int:
        return int(self.ts.size)

    @property
    def end(self) -> IntArray:
        """End time of every event (``ts + dur``; never overflows, see :data:`MAX_ABS_NS`)."""
        return self.ts + self.dur

    def mask(self, *categories: Category) -> npt.NDArray[np.bool_]:
        """Boolean row mask of the events in any of ``categories``.

        A 256-entry lookup table indexed by ``cat``: one byte per row and no temporaries
        (``np.isin`` needs about 7 bytes per row besides its result, and is slower).
        """
        lookup = np.zeros(256, dtype=bool)
        lookup[[int(c) for c in categories]] = True
        return lookup[self.cat]

    def name_ids(self, predicate: Callable[[str], bool]) -> Int32Array:
        """Ids of the interned names for which ``predicate(name)`` is true."""
        return np.asarray([i for i, n in enumerate(self.names) if predicate(n)], dtype=np.int32)

    def has_name(self, ids: Int32Array) -> npt.NDArray[np.bool_]:
        """Row mask of the events whose name id is in ``ids``."""
        lookup = np.zeros(len(self.names) + 1, dtype=bool)
        lookup[ids] = True
        return lookup[self.name]

    def count(self, category: Category) -> int:
        return int(np.count_nonzero(self.cat == int(category)))

    @classmethod
    def concatenate(cls, stores: Sequence[EventStore]) -> EventStore:
        """Merge stores of the same clock (e.g. several profiler cycles of one run).

        Each store is a profiler session of its own: its ``sessions``, or, when it has
        none, the span of its events.
        """
        if len(stores) == 1:
            return stores[0]
        builder = EventStoreBuilder(stores[0].meta)
        builder.origin_ns = min(s.origin_ns for s in stores)
        for s in stores:
            shift = s.origin_ns - builder.origin_ns
            if len(s.sessions):
                builder.add_sessions(s.sessions[:, 0] + shift, s.sessions[:, 1] + shift)
            elif len(s):
                first, last = int(s.ts.min()), int((s.ts + s.dur).max())
                builder.add_sessions([first + shift], [last + shift])
            f = s.forward_marks
            builder.add_forward_marks(f.ts + shift, f.pid, f.tid)
            builder.add_columns(
                cat=s.cat,
                names=[s.names[i] for i in s.name.tolist()],
                ts=s.ts + shift,
                dur=s.dur,
                pid=s.pid,
                tid=s.tid,
                correlation=s.correlation,
                device=s.device,
                blocks=s.blocks,
            )
            builder.skipped_bad_times += s.skipped_bad_times
            m = s.memory
            builder.add_memory(m.ts + shift, m.device, m.nbytes, m.total_allocated)
        return builder.build()


#: The store's columns and their dtypes (``name`` is interned separately).
_COLUMNS: tuple[tuple[str, type[np.generic]], ...] = (
    ("cat", np.uint8),
    ("ts", np.int64),
    ("dur", np.int64),
    ("pid", np.int32),
    ("tid", np.int32),
    ("correlation", np.int64),
    ("device", np.int32),
    ("blocks", np.int32),
)
_SATURATING = frozenset({"blocks"})
#: Columns stored as int32 until a value does not fit (then widened to their dtype above).
_NARROW = frozenset({"correlation"})
_INT32 = np.iinfo(np.int32)


class _Buffer:
    """A growing 1-d array in anonymous memory (see the module doc)."""

    def __init__(self, dtype: type[np.generic], capacity: int = 1 << 14) -> None:
        self.dtype = np.dtype(dtype)
        self.size = 0
        self._data = self._allocate(capacity)

    def _allocate(self, capacity: int) -> np.ndarray:
        nbytes = max(capacity * self.dtype.itemsize, mmap.PAGESIZE)
        return np.frombuffer(mmap.mmap(-1, nbytes), dtype=self.dtype, count=capacity)

    def append(self, values: np.ndarray) -> None:
        k = int(values.size)
        if self.size + k > self._data.size:
            bigger = self._allocate(max(2 * self._data.size, self.size + k))
            bigger[: self.size] = self._data[: self.size]
            self._data = bigger  # the old mapping is unmapped as its last view goes
        self._data[self.size : self.size + k] = values
        self.size += k

    def widen(self, dtype: type[np.generic]) -> None:
        """Convert the values appended so far (and the buffer) to ``dtype``."""
        wider = _Buffer(dtype, max(self._data.size, 1))
        wider.append(self.array())
        self.dtype, self.size, self._data = wider.dtype, wider.size, wider._data

    def array(self) -> np.ndarray:
        """The values appended so far (a view: the unused capacity is never touched)."""
        return self._data[: self.size]


class EventStoreBuilder:
    """Accumulates batches of columns, then builds one :class:`EventStore`.

    Readers call :meth:`add_columns` once per batch (thousands of events) with plain
    sequences or arrays. Ids that are not integers or do not fit their column become
    stable negative ids (see the module doc); rows whose ``ts``/``dur`` lie outside
    :data:`MAX_ABS_NS` are dropped and counted in :attr:`skipped_bad_times`.
    """

    def __init__(self, meta: TraceMeta) -> None:
        self.meta = meta
        self.origin_ns = 0
        self.skipped_bad_times = 0
        self._intern: dict[str, int] = {}
        self._foreign_ids: dict[Any, int] = {}
        self._columns = {
            name: _Buffer(np.int32 if name in _NARROW else dtype) for name, dtype in _COLUMNS
        }
        self._columns["name"] = _Buffer(np.int32)
        self._memory = {name: _Buffer(np.int64, 64) for name in ("ts", "device", "nbytes", "total")}
        self._sessions = {name: _Buffer(np.int64, 4) for name in ("start", "end")}
        self._marks = {"ts": _Buffer(np.int64, 64), "pid": _Buffer(np.int32, 64), "tid": _Buffer(np.int32, 64)}

    def intern(self, names: Iterable[str]) -> Int32Array:
        """Name ids for ``names``, adding new names to the table."""
        table = self._intern
        return np.fromiter((table.setdefault(n, len(table)) for n in names), dtype=np.int32)

    def add_columns(self, *, names: Sequence[str], **columns: Any) -> None:
        """Append one batch. ``columns`` has one sequence per column of :data:`_COLUMNS`
        (``ts``/``dur`` as integer nanoseconds)."""
        n = len(names)
        if n == 0:
            return
        arrays: dict[str, np.ndarray] = {}
        for key, dtype in _COLUMNS:
            arr = self._as_array(columns[key], dtype, saturate=key in _SATURATING)
            if arr.shape != (n,):
                raise ValueError(f"column {key} has {arr.shape} values for {n} names")
            arrays[key] = arr
        ok = _times_ok(arrays["ts"], arrays["dur"])
        name_ids = self.intern(names)
        if not ok.all():
            self.skipped_bad_times += int(n - np.count_nonzero(ok))
            arrays = {k: v[ok] for k, v in arrays.items()}
            name_ids = name_ids[ok]
        self._columns["name"].append(name_ids)
        for key, arr in arrays.items():
            buffer = self._columns[key]
            narrow = buffer.dtype != arr.dtype and arr.size
            if narrow and (arr.min() < _INT32.min or arr.max() > _INT32.max):
                buffer.widen(arr.dtype.type)
            buffer.append(arr)

    def add_memory(self, ts: Any, device: Any, nbytes: Any, total_allocated: Any) -> None:
        """Append ``[memory]`` events (``ts`` in integer ns; rows out of range are dropped)."""
        cols = [self._as_array(v, np.int64) for v in (ts, device, nbytes, total_allocated)]
        if not cols[0].size:
            return
        ok = np.abs(cols[0]) <= MAX_ABS_NS
        if not ok.all():
            cols = [c[ok] for c in cols]
        for buffer, values in zip(self._memory.values(), cols, strict=True):
            buffer.append(values)

    def add_sessions(self, start: Any, end: Any) -> None:
        """Append profiler sessions (``start``/``end`` in integer ns; out of range: dropped)."""
        s, e = self._as_array(start, np.int64), self._as_array(end, np.int64)
        ok = (np.abs(s) <= MAX_ABS_NS) & (np.abs(e) <= MAX_ABS_NS)
        self._sessions["start"].append(s[ok])
        self._sessions["end"].append(np.maximum(e[ok], s[ok]))

    def add_forward_marks(self, ts: Any, pid: Any, tid: Any) -> None:
        """Append ``fwdbwd`` flow starts (``ts`` in integer ns; ids coerced like the rows')."""
        t = self._as_array(ts, np.int64)
        if not t.size:
            return
        p, d = self._as_array(pid, np.int32), self._as_array(tid, np.int32)
        ok = np.abs(t) <= MAX_ABS_NS
        for buffer, values in zip(self._marks.values(), (t, p, d), strict=True):
            buffer.append(values[ok])

    def _as_array(self, values: Any, dtype: type[np.generic], saturate: bool = False) -> np.ndarray:
        if isinstance(values, np.ndarray) and values.dtype == dtype:
            return values
        if saturate:
            wide = self._as_array(values, np.int64)
            return np.minimum(wide, np.iinfo(dtype).max).astype(dtype)  # type: ignore[type-var]
        try:
            if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
                info = np.iinfo(dtype)  # type: ignore[type-var]
                if values.size and (values.min() < info.min or values.max() > info.max):
                    raise OverflowError
            return np.asarray(values, dtype=dtype)
        except (TypeError, ValueError, OverflowError):
            info = np.iinfo(dtype)  # type: ignore[type-var]
            lo, hi = int(info.min), int(info.max)
            return np.asarray([self._coerce(v, lo, hi) for v in list(values)], dtype=dtype)

    def _coerce(self, value: Any, lo: int, hi: int) -> int:
        """``value`` as an int of ``[lo, hi]``, or its stable negative foreign id."""
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bool):
            return int(value)
        number: int | None = None
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and math.isfinite(value):
            number = int(value)
        elif isinstance(value, str):
            try:
                number = int(value)
            except ValueError:
                number = None
        if number is not None and lo <= number <= hi:
            return number
        key = value if isinstance(value, (int, float, str)) else repr(value)
        ids = self._foreign_ids
        return -ids.setdefault(key, len(ids) + 2)  # -1 stays "absent"

    def build(self) -> EventStore:
        cols = {key: buffer.array() for key, buffer in self._columns.items()}
        np.maximum(cols["dur"], 0, out=cols["dur"])
        mem = MemoryEvents(*(b.array() for b in self._memory.values()))
        start, end = (b.array() for b in self._sessions.values())
        order = np.argsort(start, kind="stable")
        sessions = np.stack([start[order], end[order]], axis=1) if start.size else _no_sessions()
        marks = ForwardMarks(*(b.array() for b in self._marks.values()))
        return EventStore(
            names=tuple(self._intern),
            cat=cols["cat"],
            name=cols["name"],
            ts=cols["ts"],
            dur=cols["dur"],
            pid=cols["pid"],
            tid=cols["tid"],
            correlation=cols["correlation"],
            device=cols["device"],
            blocks=cols["blocks"],
            meta=self.meta,
            memory=mem,
            origin_ns=self.origin_ns,
            skipped_bad_times=self.skipped_bad_times,
            sessions=sessions,
            forward_marks=marks,
        )


def _times_ok(ts: IntArray, dur: IntArray) -> npt.NDArray[np.bool_]:
    """Rows whose start and duration are within :data:`MAX_ABS_NS` (negative ``dur`` is
    kept: it counts as 0)."""
    return (np.abs(ts) <= MAX_ABS_NS) & (dur <= MAX_ABS_NS) & (dur >= -MAX_ABS_NS)


__all__ = [
    "AMD",
    "CATEGORY_BY_NAME",
    "DEVICE_CATEGORIES",
    "DEVICE_WORK_CATEGORIES",
    "HOST_CATEGORIES",
    "LAUNCH_CATEGORIES",
    "MAX_ABS_NS",
    "MAX_BLOCKS",
    "NVIDIA",
    "Category",
    "DeviceProperties",
    "DistributedInfo",
    "EventStore",
    "EventStoreBuilder",
    "ForwardMarks",
    "MemoryEvents",
    "RowArray",
    "TraceMeta",
    "row_dtype",
    "vendor_from_name",
]
