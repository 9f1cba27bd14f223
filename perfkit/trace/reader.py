"""Streaming reader for ``.pt.trace.json`` and ``.pt.trace.json.gz`` files.

``json.load`` materialises every event as a dict: a 52 MB trace costs ~300 MiB and a
1.35 GB one 6.6 GiB. This reader holds at most two chunks of text and one batch of parsed
events besides the columns it keeps:

1. **Fast path (Kineto's layout).** The file is read in chunks of :data:`CHUNK_BYTES`.
   The bytes between the first two events of ``traceEvents`` (e.g. ``"},\\n  {"``) are
   taken as the event delimiter; each chunk is cut at its last delimiter and the whole
   events before the cut are parsed with one ``orjson.loads`` call. A cut that falls
   anywhere but between two top-level events leaves unbalanced brackets, so orjson
   rejects it; the reader then restarts on the fallback path. A wrong cut can therefore
   cost time but never change the result.
2. **Fallback (any layout).** ``ijson`` (yajl2 C backend) streams the events one by one.

Both paths hand batches of event dicts to :func:`extract_batch`, which keeps only the
columns of :class:`~perfkit.trace.events.EventStore`. Trace-level keys
(``deviceProperties``, ``distributedInfo``) are parsed from the text around the event
array. A bare JSON array of events is accepted as well.

Every failure is a :class:`~perfkit.errors.TraceError` whose one line names the file and
what to do.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import operator
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from perfkit.errors import TraceError
from perfkit.trace.events import (
    CATEGORY_BY_NAME,
    MAX_ABS_NS,
    MAX_BLOCKS,
    Category,
    EventStore,
    EventStoreBuilder,
    TraceMeta,
)

#: Bytes read per chunk: large enough that orjson's per-call cost is negligible, small
#: enough that a chunk's parsed events (~5x the text) stay far below the file size.
CHUNK_BYTES = 1024 * 1024
#: Events per batch on the ijson path.
IJSON_BATCH = 20_000
#: Longest run of text without an event delimiter the fast path buffers.
MAX_EVENT_BYTES = 64 * 1024 * 1024
#: Text kept from the end of the file on the ijson path, for the keys after the events.
TAIL_BYTES = 1024 * 1024
#: Longest header (text before ``"traceEvents"``) the fast path accepts.
MAX_HEADER_BYTES = 64 * 1024 * 1024

#: Delimiter positions tried, right to left, before a chunk is declared not Kineto-like.
_MAX_CUT_TRIES = 16

_TRACE_EVENTS_KEY = b'"traceEvents"'
_DELIMITER_RE = re.compile(rb"\}\s*,\s*\{")
_ARRAY_END_RE = re.compile(rb"\}\s*\]")
_TRAILER_START_RE = re.compile(rb"\]\s*,\s*(?=\")")
_WS = b" \t\r\n"
_FIX_HINT = "expected a torch.profiler trace (.pt.trace.json or .pt.trace.json.gz)"

_KERNEL = int(Category.KERNEL)
_FIRST_HOST_CODE = int(Category.CPU_OP)
_CAT_CODES: dict[str, int] = {k: int(v) for k, v in CATEGORY_BY_NAME.items()}
_FIELDS = operator.itemgetter("ph", "name", "ts", "dur", "pid", "tid")
_EMPTY: dict[str, Any] = {}


class _LayoutMismatch(Exception):
    """The fast path's assumptions do not hold for this file: use ijson instead."""


def read_trace(path: str | Path) -> EventStore:
    """Read one trace file into an :class:`EventStore` (streaming; see the module doc)."""
    source = Path(path)
    if not source.exists():
        raise TraceError(f"{source}: no such file; check the path")
    if source.is_dir():
        raise TraceError(f"{source}: is a directory, {_FIX_HINT}")
    try:
        with _open(source) as stream:
            try:
                store = _FastReader(source, stream).read()
            except _LayoutMismatch:
                store = None
        if store is None:
            with _open(source) as stream:
                store = _read_with_ijson(source, stream)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise _io_error(source, exc) from exc
    if len(store) == 0:
        if store.skipped_bad_times:
            n = store.skipped_bad_times
            which = "its 1 complete event has" if n == 1 else f"all {n} complete events have"
            raise TraceError(
                f"{source}: the trace has no events perfkit can analyze: {which} a "
                '"ts" or "dur" that is missing, not a number, or out of range; export the '
                "trace with torch.profiler (numeric microseconds)"
            )
        raise TraceError(
            f"{source}: the trace has no events perfkit can analyze (no complete cpu_op, "
            "user_annotation, kernel, memcpy, memset or runtime events); record it with the "
            "profiler's active steps inside the run (schedule active >= 1)"
        )
    return store


@contextlib.contextmanager
def _open(path: Path) -> Iterator[IO[bytes]]:
    """Open raw or gzip-compressed (by magic number, not by extension)."""
    with path.open("rb") as raw:
        magic = raw.read(2)
        raw.seek(0)
        if magic == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped  # type: ignore[misc]  # GzipFile is a binary IO
        else:
            yield raw


def _io_error(source: Path, exc: BaseException) -> TraceError:
    if isinstance(exc, EOFError):
        return TraceError(
            f"{source}: the gzip stream ends early (truncated file); re-record the trace or "
            "copy it again"
        )
    if isinstance(exc, (zlib.error, gzip.BadGzipFile)):
        return TraceError(f"{source}: not a valid gzip file ({exc}); {_FIX_HINT}")
    return TraceError(f"{source}: cannot read it ({exc})")


def _truncated(source: Path) -> TraceError:
    return TraceError(
        f'{source}: truncated JSON (the file ends inside "traceEvents"); the trace was not '
        "written completely: re-record it"
    )


def _not_json(source: Path, detail: str) -> TraceError:
    return TraceError(f"{source}: not JSON ({detail}); {_FIX_HINT}")


def _not_a_trace(source: Path) -> TraceError:
    return TraceError(
        f'{source}: JSON, but not a torch.profiler trace (no "traceEvents" array); {_FIX_HINT}'
    )


# --------------------------------------------------------------------------- extraction


class _Batch:
    """Column lists for one batch of events."""

    __slots__ = (
        "blocks", "cat", "corr", "device", "dur", "mark_pid", "mark_tid", "mark_ts", "mem_bytes",
        "mem_device", "mem_total", "mem_ts", "names", "pid", "session_dur", "session_ts",
        "skipped", "tid", "ts",
    )  # fmt: skip

    def __init__(self) -> None:
        self.cat: list[int] = []
        self.names: list[str] = []
        self.ts: list[float] = []
        self.dur: list[Any] = []
        self.pid: list[Any] = []
        self.tid: list[Any] = []
        self.corr: list[Any] = []
        self.device: list[Any] = []
        self.blocks: list[int] = []
        self.mem_ts: list[float] = []
        self.mem_device: list[int] = []
        self.mem_bytes: list[int] = []
        self.mem_total: list[int] = []
        self.mark_ts: list[float] = []
        self.mark_pid: list[Any] = []
        self.mark_tid: list[Any] = []
        self.session_ts: list[float] = []
        self.session_dur: list[Any] = []
        #: Kept-category complete events whose ``ts`` is not a number.
        self.skipped = 0


def _number(value: Any) -> float | None:
    """A JSON time value as a float: numbers, and numeric strings (``"100"``, ``"1e3"``).

    ``None`` for anything else (``null``, ``true``, ``"abc"``, NaN, infinities): the event
    is then skipped and counted, never read as 0.
    """
    if type(value) is float or type(value) is int:
        number = float(value) if type(value) is float or abs(value) < 2**1023 else math.inf
    elif type(value) is str:
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _int_or(value: Any, default: int) -> int:
    """``value`` as an int64 (ints and integral floats), else ``default``."""
    if type(value) is float and math.isfinite(value):
        value = int(value)
    if type(value) is int and -(2**63) <= value < 2**63:
        return value
    return default


def _grid_blocks(grid: Any) -> int:
    """Blocks of a kernel's ``grid`` ``[x, y, z]`` (saturating at :data:`MAX_BLOCKS`), -1 if unknown."""
    if type(grid) is not list or len(grid) != 3:
        return -1
    blocks = 1
    for g in grid:
        if type(g) is float and math.isfinite(g):
            g = int(g)
        if type(g) is not int or g < 0:
            return -1
        blocks = min(blocks * min(g, MAX_BLOCKS), MAX_BLOCKS)
    return blocks


def extract_batch(events: list[Any], batch: _Batch) -> None:
    """Append the kept events of one parsed batch to ``batch``'s column lists.

    Kept: complete (``ph: X``) events whose ``cat`` is in
    :data:`~perfkit.trace.events.CATEGORY_BY_NAME`, ``[memory]`` instant events, the start
    (``ph: s``) of each ``fwdbwd`` flow, and the profiler's session spans (``cat: Trace``).
    Events without a string ``name`` are skipped; a ``ts`` that is not a number (or a
    numeric string) skips the event and counts it in ``batch.skipped``. This loop is the
    reader's hot spot, hence the local bindings and the single ``itemgetter`` call.
    """
    codes = _CAT_CODES
    fields = _FIELDS
    cat_a, name_a, ts_a, dur_a = (
        batch.cat.append,
        batch.names.append,
        batch.ts.append,
        batch.dur.append,
    )
    pid_a, tid_a, corr_a = batch.pid.append, batch.tid.append, batch.corr.append
    dev_a, blocks_a = batch.device.append, batch.blocks.append
    for e in events:
        if type(e) is not dict:
            continue
        cat = e.get("cat")
        code = codes.get(cat) if type(cat) is str else None
        if code is None:
            ph = e.get("ph")
            if ph == "s":
                if cat == "fwdbwd":
                    _extract_mark(e, batch)
            elif ph == "i":
                if e.get("name") == "[memory]":
                    _extract_memory(e, batch)
            elif ph == "X" and cat == "Trace":
                _extract_session(e, batch)
            continue
        try:
            ph, name, ts, dur, pid, tid = fields(e)
        except KeyError:
            ph, name, ts = e.get("ph"), e.get("name"), e.get("ts")
            dur, pid, tid = e.get("dur"), e.get("pid", -1), e.get("tid", -1)
        if ph != "X" or type(name) is not str:
            continue
        if type(ts) is not float and type(ts) is not int:
            ts = _number(ts)
            if ts is None:
                batch.skipped += 1
                continue
        args = e.get("args")
        if type(args) is not dict:
            args = _EMPTY
        cat_a(code)
        name_a(name)
        ts_a(ts)
        dur_a(dur)
        pid_a(pid)
        tid_a(tid)
        corr_a(args.get("correlation", -1))
        if code < _FIRST_HOST_CODE:  # device work or gpu_user_annotation
            dev_a(args.get("device", pid))
            blocks_a(_grid_blocks(args.get("grid")) if code == _KERNEL else -1)
        else:
            dev_a(-1)
            blocks_a(-1)


def _extract_mark(e: dict[str, Any], batch: _Batch) -> None:
    ts = _number(e.get("ts"))
    if ts is None:
        return
    batch.mark_ts.append(ts)
    batch.mark_pid.append(e.get("pid", -1))
    batch.mark_tid.append(e.get("tid", -1))


def _extract_session(e: dict[str, Any], batch: _Batch) -> None:
    """Kineto's ``{"cat": "Trace", "name": "PyTorch Profiler (0)", "ph": "X", ...}`` span."""
    name = e.get("name")
    ts = _number(e.get("ts"))
    if ts is None or type(name) is not str or not name.startswith("PyTorch Profiler"):
        return
    batch.session_ts.append(ts)
    batch.session_dur.append(e.get("dur"))


def _extract_memory(e: dict[str, Any], batch: _Batch) -> None:
    ts = _number(e.get("ts"))
    args = e.get("args")
    if ts is None or type(args) is not dict:
        return
    device_type = args.get("Device Type", 0)
    device = _int_or(args.get("Device Id", -1), -1) if device_type not in (0, None) else -1
    batch.mem_ts.append(ts)
    batch.mem_device.append(device)
    batch.mem_bytes.append(_int_or(args.get("Bytes", 0), 0))
    batch.mem_total.append(_int_or(args.get("Total Allocated", -1), -1))


#: Stands for a time that cannot be stored: the builder drops the row and counts it.
_BAD_NS = MAX_ABS_NS + 1


def _floats(values: list[Any]) -> np.ndarray:
    """``values`` as float64; what is not a number (or a numeric string) becomes NaN."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return np.asarray(
            [math.nan if (v := _number(x)) is None else v for x in values], dtype=np.float64
        )


def _to_ns(values: list[Any], origin_us: float) -> np.ndarray:
    """Microsecond values to integer ns from ``origin_us``; unusable ones (not a number,
    not finite, out of range) become ``MAX_ABS_NS + 1`` and are dropped by the builder."""
    us = _floats(values)
    with np.errstate(invalid="ignore", over="ignore"):
        ns = np.rint((us - origin_us) * 1000.0)
        ok = np.abs(ns) <= MAX_ABS_NS  # false for NaN and infinities too
    out = np.where(ok, ns, 0.0).astype(np.int64)
    out[~ok] = _BAD_NS
    return out


class _Columns:
    """Turns batches of microsecond floats into nanosecond integer columns."""

    def __init__(self, meta: TraceMeta) -> None:
        self.builder = EventStoreBuilder(meta)
        self.origin_us: float | None = None

    def _origin(self, ts: list[float]) -> float:
        if self.origin_us is None:
            first = _floats(ts)
            first = first[np.isfinite(first)]
            self.origin_us = float(math.floor(first.min())) if first.size else 0.0
            self.builder.origin_ns = int(self.origin_us) * 1000
        return self.origin_us

    def flush(self, batch: _Batch) -> None:
        self.builder.skipped_bad_times += batch.skipped
        batch.skipped = 0
        if batch.ts:
            origin = self._origin(batch.ts)
            self.builder.add_columns(
                cat=np.asarray(batch.cat, dtype=np.uint8),
                names=batch.names,
                ts=_to_ns(batch.ts, origin),
                # A duration is a difference: it needs no origin. Missing/null is unusable.
                dur=_to_ns(batch.dur, 0.0),
                pid=batch.pid,
                tid=batch.tid,
                correlation=batch.corr,
                device=batch.device,
                blocks=batch.blocks,
            )
        if batch.mem_ts:
            origin = self._origin(batch.mem_ts)
            self.builder.add_memory(
                _to_ns(batch.mem_ts, origin), batch.mem_device, batch.mem_bytes, batch.mem_total
            )
        if batch.mark_ts:
            origin = self._origin(batch.mark_ts)
            self.builder.add_forward_marks(
                _to_ns(batch.mark_ts, origin), batch.mark_pid, batch.mark_tid
            )
        if batch.session_ts:
            origin = self._origin(batch.session_ts)
            start = _to_ns(batch.session_ts, origin)
            dur = _to_ns(batch.session_dur, 0.0)
            ok = (start != _BAD_NS) & (dur != _BAD_NS)
            self.builder.add_sessions(start[ok], start[ok] + np.maximum(dur[ok], 0))

    def build(self, meta: TraceMeta) -> EventStore:
        self.builder.meta = meta
        return self.builder.build()


# --------------------------------------------------------------------------- fast path


class _FastReader:
    """Chunked orjson parsing for files laid out like Kineto's (see the module doc)."""

    def __init__(self, source: Path, stream: IO[bytes]) -> None:
        self.source = source
        self.stream = stream
        self.eof = False
        self.columns = _Columns(TraceMeta(source=str(source)))

    def _read(self) -> bytes:
        if self.eof:
            return b""
        data = self.stream.read(CHUNK_BYTES)
        if len(data) < CHUNK_BYTES:
            self.eof = True
        return data

    def read(self) -> EventStore:
        buf = self._read()
        if buf.startswith(b"\xef\xbb\xbf"):
            buf = buf[3:]
        start = _skip_ws(buf, 0)
        if start >= len(buf):
            raise _not_json(self.source, "the file is empty")
        first = buf[start : start + 1]
        if first == b"[":
            header, pos = b"", start
        elif first == b"{":
            while (key := buf.find(_TRACE_EVENTS_KEY)) < 0:
                if self.eof or len(buf) > MAX_HEADER_BYTES:
                    if self.eof:
                        self._classify_small_document(buf)
                    raise _LayoutMismatch
                buf += self._read()
            pos = _skip_ws(buf, key + len(_TRACE_EVENTS_KEY))
            if buf[pos : pos + 1] == b":":
                pos = _skip_ws(buf, pos + 1)
            if buf[pos : pos + 1] != b"[":
                if self.eof:
                    self._classify_small_document(buf)
                raise _LayoutMismatch
            header = buf[:pos]
        else:
            if self.eof:
                self._classify_small_document(buf)
            raise _not_json(self.source, f"it starts with {buf[start : start + 20]!r}")
        trailer = self._events(buf[pos + 1 :])
        try:
            doc = orjson.loads(header + b"[]" + trailer) if header else {}
        except orjson.JSONDecodeError as exc:
            # The position orjson gives is in the text rebuilt without the events: useless.
            if _ends_early(header + b"[]" + trailer, exc):
                raise TraceError(
                    f"{self.source}: truncated JSON (the file ends after the events, before the "
                    "document closes); the trace was not written completely: re-record it"
                ) from exc
            raise _not_json(self.source, f"around the keys before or after \"traceEvents\": {exc.msg}") from exc
        if header and not isinstance(doc, dict):
            raise _LayoutMismatch
        if not header and trailer.strip(_WS):
            raise _not_json(self.source, "text after the top-level array")
        return self.columns.build(TraceMeta.from_document(str(self.source), doc))

    def _classify_small_document(self, buf: bytes) -> None:
        """The whole file is in memory and has no "traceEvents": say what it is."""
        try:
            orjson.loads(buf)
        except orjson.JSONDecodeError as exc:
            if _ends_early(buf, exc):
                raise _truncated(self.source) from exc
            raise _not_json(self.source, str(exc)) from exc
        raise _not_a_trace(self.source)

    def _events(self, buf: bytes) -> bytes:
        """Parse every event after ``[``; return the text after the closing ``]``."""
        # Find the delimiter between the first two events.
        while True:
            pos = _skip_ws(buf, 0)
            if pos < len(buf) or self.eof:
                break
            buf += self._read()
        if buf[pos : pos + 1] == b"]":
            return self._rest(buf[pos + 1 :])
        if buf[pos : pos + 1] != b"{":
            if pos >= len(buf):
                raise _truncated(self.source)
            raise _LayoutMismatch
        buf = buf[pos:]
        delimiter, buf = self._find_delimiter(buf)
        if delimiter is not None:
            dlen = len(delimiter)
            while True:
                cut = self._parse_up_to_last_event_cut(buf, delimiter)
                if cut > 0:
                    buf = buf[cut + dlen - 1 :]
                elif len(buf) > MAX_EVENT_BYTES:
                    raise _LayoutMismatch  # the layout changed: don't let the buffer grow
                if self.eof:
                    break
                buf += self._read()
        return self._last_events(buf)

    def _find_delimiter(self, buf: bytes) -> tuple[bytes | None, bytes]:
        """The exact bytes between the first and second event (None: a single event).

        Returns the buffer too, which may have grown by further chunks.
        """
        while True:
            for tries, match in enumerate(_DELIMITER_RE.finditer(buf)):
                if tries >= 64:
                    raise _LayoutMismatch
                try:
                    first = orjson.loads(buf[: match.start() + 1])
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(first, dict):
                    raise _LayoutMismatch
                return match.group(0), buf
            if self.eof:
                return None, buf
            if len(buf) > MAX_EVENT_BYTES:
                raise _LayoutMismatch
            buf += self._read()

    def _parse_up_to_last_event_cut(self, buf: bytes, delimiter: bytes) -> int:
        """Parse the events before the last delimiter in ``buf`` that is *between events*;
        return its position (0: none in ``buf`` yet).

        The last occurrence is normally it. Near the end of the file it can lie in the
        text after the event array instead: a re-saved trace may put ``deviceProperties``
        (a list of objects, written with the same ``}, {``) after ``traceEvents``. A cut
        there leaves unbalanced brackets, orjson refuses it, and the next occurrence to
        the left is tried, a few times at most.
        """
        cut = buf.rfind(delimiter)
        for _ in range(_MAX_CUT_TRIES):
            if cut <= 0:
                return 0
            if self._try_parse_events(buf[: cut + 1]):
                return cut
            cut = buf.rfind(delimiter, 0, cut)
        raise _LayoutMismatch

    def _try_parse_events(self, text: bytes) -> bool:
        try:
            self._parse_events(text)
        except _LayoutMismatch:
            return False
        return True

    def _parse_events(self, text: bytes) -> None:
        try:
            events = orjson.loads(b"[" + text + b"]")
        except orjson.JSONDecodeError:
            raise _LayoutMismatch from None
        batch = _Batch()
        extract_batch(events, batch)
        del events
        self.columns.flush(batch)

    def _last_events(self, buf: bytes) -> bytes:
        """``buf`` holds the final event(s), ``]``, and the rest of the document."""
        for match in _ARRAY_END_RE.finditer(buf):
            try:
                self._parse_events(buf[: match.start() + 1])
            except _LayoutMismatch:
                continue
            return self._rest(buf[match.end() :])
        try:
            orjson.loads(b"[" + buf)
        except orjson.JSONDecodeError as exc:
            if _ends_early(b"[" + buf, exc):
                raise _truncated(self.source) from exc
        raise _LayoutMismatch

    def _rest(self, buf: bytes) -> bytes:
        while not self.eof:
            buf += self._read()
        return buf


def _skip_ws(buf: bytes, pos: int) -> int:
    n = len(buf)
    while pos < n and buf[pos] in _WS:
        pos += 1
    return pos


def _ends_early(text: bytes, exc: orjson.JSONDecodeError) -> bool:
    """True when parsing failed only because the text stops: a truncated file."""
    return exc.pos >= len(text.rstrip(_WS))


# --------------------------------------------------------------------------- ijson path


def _read_with_ijson(source: Path, stream: IO[bytes]) -> EventStore:
    import ijson

    header = _read_header_with_ijson(source, stream)
    stream.seek(0)
    prefix = "item" if header is None else "traceEvents.item"
    columns = _Columns(TraceMeta(source=str(source)))
    batch = _Batch()
    chunk: list[Any] = []
    tail = _TailKeeper(stream)
    try:
        for event in ijson.items(tail, prefix, use_float=True):
            chunk.append(event)
            if len(chunk) >= IJSON_BATCH:
                extract_batch(chunk, batch)
                columns.flush(batch)
                batch, chunk = _Batch(), []
        extract_batch(chunk, batch)
        columns.flush(batch)
    except ijson.IncompleteJSONError as exc:
        raise _ijson_error(source, exc) from exc
    except ijson.JSONError as exc:
        raise _not_json(source, str(exc).strip()) from exc
    doc = header or {}
    if header is not None:
        doc = {**_keys_after_event_array(tail.tail()), **doc}
    return columns.build(TraceMeta.from_document(str(source), doc))


class _TailKeeper:
    """A read-only stream wrapper that remembers the last :data:`TAIL_BYTES` read, so that
    the keys after the event array can be parsed without a second pass over the file."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._tail = b""

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._tail = (self._tail + data)[-TAIL_BYTES:]
        return data

    def tail(self) -> bytes:
        return self._tail


def _keys_after_event_array(tail: bytes) -> dict[str, Any]:
    """Top-level keys written after ``traceEvents`` (``{"traceEvents": [...], "k": v}``).

    ``tail`` ends the document. The event array ends at the first ``]`` in it after which
    ``, "k": v ... }`` is valid JSON once a ``{`` is put in front: at a ``]`` inside the
    last event, the text that follows still closes that event and the array, so it is not
    an object; ``]`` inside the trailing keys come after the array's own, and the scan
    stops at the first success. Empty when nothing follows the array or it does not fit
    in ``tail``.
    """
    for match in _TRAILER_START_RE.finditer(tail):
        try:
            value = orjson.loads(b"{" + tail[match.end() :])
        except orjson.JSONDecodeError:
            continue
        return value if isinstance(value, dict) else {}
    return {}


def _read_header_with_ijson(source: Path, stream: IO[bytes]) -> dict[str, Any] | None:
    """Top-level keys before ``traceEvents`` (None for a bare array).

    Kineto writes ``deviceProperties`` and ``distributedInfo`` before the events, so the
    scan stops at the event array. Raises for non-JSON and for JSON without events.
    """
    import ijson

    doc: dict[str, Any] = {}
    builders: dict[str, Any] = {}
    seen_value = False
    try:
        for prefix, event, value in ijson.parse(stream, use_float=True):
            seen_value = True
            if prefix == "" and event == "start_array":
                return None
            if prefix == "traceEvents" and event == "start_array":
                return doc
            if event == "map_key" and prefix == "":
                continue
            top = prefix.split(".", 1)[0]
            if not top or top == "traceEvents":
                continue
            builder = builders.get(top)
            if builder is None:
                builder = builders[top] = ijson.ObjectBuilder()
            builder.event(event, value)
            if prefix == top and event in (
                "end_map",
                "end_array",
                "string",
                "number",
                "boolean",
                "null",
            ):
                doc[top] = builder.value
                del builders[top]
    except ijson.IncompleteJSONError as exc:
        raise _ijson_error(source, exc) from exc
    except ijson.JSONError as exc:
        raise _not_json(source, str(exc).strip()) from exc
    if not seen_value:
        raise _not_json(source, "the file has no JSON value")
    raise _not_a_trace(source)


def _ijson_error(source: Path, exc: Exception) -> TraceError:
    text = str(exc).strip()
    if "premature EOF" in text or "Incomplete JSON" in text:
        return _truncated(source)
    first_line = text.splitlines()[0] if text else type(exc).__name__
    return _not_json(source, first_line)


__all__ = ["CHUNK_BYTES", "extract_batch", "read_trace"]
