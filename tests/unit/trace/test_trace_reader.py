"""The streaming reader: every layout gives the same events; bad input gives one clear line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from trace_helpers import CUDA_FIXTURE, LAYOUTS, T0, ev, launch, write_trace

from perfkit.errors import TraceError
from perfkit.trace import reader
from perfkit.trace.events import Category, EventStore
from perfkit.trace.reader import read_trace

COLUMNS = (
    "cat",
    "name",
    "ts",
    "dur",
    "pid",
    "tid",
    "correlation",
    "device",
    "blocks",
)


def sample_events() -> list[dict[str, Any]]:
    return [
        {"name": "process_name", "ph": "M", "ts": T0, "pid": 1, "tid": 0, "args": {"name": "python"}},
        ev("user_annotation", "ProfilerStep#7", 0, 50),
        ev("cpu_op", "aten::addmm", 1, 20, **{"External id": 3, "Input Dims": [[2, 3], [3, 4]]}),
        *launch("cudaLaunchKernel", 2, 3.5, 11, "sgemm, {weird}, name", 6, 10.25),
        ev("kernel", "k2", 20, 1, pid=0, tid=7, corr=12, device=0, stream=7, grid=[4, 2, 1]),
        ev("python_function", "train.py(12): step", 0, 40),
        ev("cuda_driver", "cuLaunchKernel", 30, 2, corr=13),
        {"ph": "i", "s": "t", "cat": "cpu_instant_event", "name": "[memory]", "pid": 1, "tid": 1,
         "ts": T0 + 3, "args": {"Total Allocated": 2048, "Bytes": 1024, "Device Id": 0, "Device Type": 1}},
    ]  # fmt: skip


def columns(store: EventStore) -> dict[str, list[Any]]:
    out = {c: getattr(store, c).tolist() for c in COLUMNS}
    out["name"] = [store.names[i] for i in out["name"]]
    return out


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_reads_to_the_same_columns(tmp_path: Path, layout: str, gz: bool) -> None:
    path = write_trace(tmp_path / "t.pt.trace.json", sample_events(), layout=layout, gz=gz,
                       deviceProperties=[{"id": 0, "name": "GPU", "numSms": 80, "computeMajor": 7,
                                          "computeMinor": 0, "totalGlobalMem": 16}],
                       distributedInfo={"backend": "nccl", "rank": 1, "world_size": 4})  # fmt: skip
    store = read_trace(path)
    reference = read_trace(write_trace(tmp_path / "ref.pt.trace.json", sample_events()))
    assert columns(store) == columns(reference)
    # python_function, flows and metadata rows are dropped; [memory] is kept apart.
    assert [store.names[i] for i in store.name.tolist()] == [
        "ProfilerStep#7", "aten::addmm", "cudaLaunchKernel", "sgemm, {weird}, name", "k2", "cuLaunchKernel",
    ]  # fmt: skip
    assert store.ts.tolist()[:3] == [0, 1000, 2000] and store.dur.tolist()[2:4] == [3500, 10250]
    assert store.correlation.tolist()[2:4] == [11, 11]
    assert store.blocks.tolist()[4] == 8
    assert store.device.tolist()[3:5] == [0, 0] and store.device.tolist()[0] == -1
    assert store.memory.total_allocated.tolist() == [2048] and store.memory.device.tolist() == [0]
    if layout != "array":
        assert store.meta.devices[0].sm_count == 80
        assert store.meta.devices[0].compute_capability == "7.0"
        assert store.meta.distributed is not None and store.meta.distributed.rank == 1


def test_tiny_chunks_cut_everywhere_and_change_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = read_trace(CUDA_FIXTURE)
    for size in (7, 64, 333):
        monkeypatch.setattr(reader, "CHUNK_BYTES", size)
        assert columns(read_trace(CUDA_FIXTURE)) == columns(reference)


def _ijson_spy(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = reader._read_with_ijson

    def spy(source: Path, stream: Any) -> EventStore:
        calls.append(source)
        return real(source, stream)

    monkeypatch.setattr(reader, "_read_with_ijson", spy)
    return calls


def _read_with_ijson_only(path: Path) -> EventStore:
    with reader._open(path) as stream:
        return reader._read_with_ijson(path, stream)


def test_a_cut_inside_an_event_is_retried_to_the_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compact JSON with arrays of objects in args: the delimiter also occurs inside events.
    orjson refuses a cut there, and the next delimiter to the left is an event boundary."""
    events = [
        ev("user_annotation", "ProfilerStep#1", 0, 50),
        *[ev("cpu_op", f"op{i}", i, 1, shapes=[{"a": 1}, {"b": 2}]) for i in range(40)],
    ]
    path = write_trace(tmp_path / "c.pt.trace.json", events, layout="compact")
    calls = _ijson_spy(monkeypatch)
    monkeypatch.setattr(reader, "CHUNK_BYTES", 200)
    store = read_trace(path)
    assert calls == []
    assert len(store) == 41
    assert columns(store) == columns(_read_with_ijson_only(path))


def test_too_many_false_cuts_fall_back_to_ijson_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    many = [{"k": i} for i in range(reader._MAX_CUT_TRIES + 5)]  # more "}, {" than cuts tried
    events = [ev("user_annotation", "ProfilerStep#1", 0, 50), *[ev("cpu_op", f"op{i}", i, 1, shapes=many) for i in range(3)]]
    path = write_trace(tmp_path / "c.pt.trace.json", events, layout="compact")
    calls = _ijson_spy(monkeypatch)
    monkeypatch.setattr(reader, "CHUNK_BYTES", 200)
    store = read_trace(path)
    assert calls == [path]
    assert [store.names[i] for i in store.name.tolist()] == ["ProfilerStep#1", "op0", "op1", "op2"]


DEVICES = [
    {"id": 0, "name": "Tesla V100-SXM2-16GB", "numSms": 80, "computeMajor": 7, "computeMinor": 0, "totalGlobalMem": 16},
    {"id": 1, "name": "Tesla V100-SXM2-16GB", "numSms": 80, "computeMajor": 7, "computeMinor": 0, "totalGlobalMem": 16},
]


@pytest.mark.parametrize("layout", ["compact", "indented", "lines"])
@pytest.mark.parametrize("path_taken", ["fast", "ijson"])
def test_trace_keys_after_the_event_array_are_read(tmp_path: Path, layout: str, path_taken: str) -> None:
    """A re-saved trace (``json.dump({"traceEvents": ev, **rest})``) puts deviceProperties
    and distributedInfo after the events; they must not be lost on either path."""
    doc = {"traceEvents": sample_events(), "deviceProperties": DEVICES, "distributedInfo": {"backend": "nccl", "rank": 3, "world_size": 8}}
    path = tmp_path / "late.pt.trace.json"
    path.write_text(LAYOUTS[layout](doc) if layout != "lines" else _lines_with_keys_last(doc), encoding="utf-8")
    store = read_trace(path) if path_taken == "fast" else _read_with_ijson_only(path)
    assert [d.sm_count for d in store.meta.devices] == [80, 80]
    assert store.meta.devices[0].compute_capability == "7.0"
    assert store.meta.distributed is not None and store.meta.distributed.rank == 3
    assert columns(store) == columns(read_trace(write_trace(tmp_path / "ref.pt.trace.json", sample_events())))


def _lines_with_keys_last(doc: dict[str, Any]) -> str:
    events = ",\n".join(json.dumps(e, separators=(",", ":")) for e in doc["traceEvents"])
    rest = "".join(f",\n{json.dumps(k)}: {json.dumps(v)}" for k, v in doc.items() if k != "traceEvents")
    return '{"traceEvents": [\n' + events + "\n]" + rest + "\n}\n"


def test_keys_after_the_events_are_found_past_brackets_in_the_last_event() -> None:
    tail = b'{"name": "x", "args": {"Input Dims": [[1, 2], [3]], "t": ["a"]}}\n], "distributedInfo": {"rank": 2, "ranks": [0, 1]}, "x": [1]}'
    assert reader._keys_after_event_array(tail) == {"distributedInfo": {"rank": 2, "ranks": [0, 1]}, "x": [1]}
    assert reader._keys_after_event_array(b'{"name": "x"}]}') == {}


def test_kineto_layout_stays_on_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: Any) -> None:
        raise AssertionError("fell back to ijson")

    monkeypatch.setattr(reader, "_read_with_ijson", fail)
    store = read_trace(CUDA_FIXTURE)
    assert store.count(Category.KERNEL) == 11


def test_microsecond_floats_become_exact_integer_nanoseconds(tmp_path: Path) -> None:
    events = [
        {
            "ph": "X",
            "cat": "cpu_op",
            "name": "a",
            "pid": 1,
            "tid": 1,
            "ts": 4458676522690.655,
            "dur": 0.001,
        },
        {
            "ph": "X",
            "cat": "cpu_op",
            "name": "b",
            "pid": 1,
            "tid": 1,
            "ts": 4458676522750.123,
            "dur": 63.813,
        },
    ]
    store = read_trace(write_trace(tmp_path / "p.pt.trace.json", events))
    assert store.dur.dtype == np.int64 and store.dur.tolist() == [1, 63813]
    # Times are relative to an origin in the trace's own clock, in whole nanoseconds.
    assert store.origin_ns + int(store.ts[0]) == 4458676522690655
    assert int(store.ts[1] - store.ts[0]) == 59468


# --------------------------------------------------------------------------- bad input


def one_line_error(path: Path) -> str:
    with pytest.raises(TraceError) as info:
        read_trace(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "x.pt.trace.json"
    path.write_text("this is not json\n")
    assert "not JSON" in one_line_error(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pt.trace.json"
    path.write_text("")
    assert "empty" in one_line_error(path)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_json(tmp_path: Path, gz: bool) -> None:
    text = CUDA_FIXTURE.read_text()
    cut = text[: len(text) // 2]
    path = tmp_path / "cut.pt.trace.json"
    if gz:
        data = gzip.compress(text.encode())
        path = tmp_path / "cut.pt.trace.json.gz"
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_text(cut)
    assert "truncated" in one_line_error(path)


def test_truncated_after_the_events_says_truncated(tmp_path: Path) -> None:
    text = CUDA_FIXTURE.read_text()
    path = tmp_path / "cut.pt.trace.json"
    path.write_text(text[: text.rindex("]") + 1])  # the events are whole, the document is not
    message = one_line_error(path)
    assert "truncated JSON (the file ends after the events" in message and "line" not in message


def test_truncated_compact_json_falls_back_and_still_says_truncated(tmp_path: Path) -> None:
    text = json.dumps({"traceEvents": [ev("cpu_op", f"op{i}", i, 1) for i in range(30)]})
    path = tmp_path / "cut.json"
    path.write_text(text[:-40])
    assert "truncated" in one_line_error(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"kind": "perfkit.run", "steps": []}', "not a torch.profiler trace"),
        ('"a string"', "not a torch.profiler trace"),
        ('{"traceEvents": 5}', "not a torch.profiler trace"),
        ("[1, 2, 3]", "no events"),
        ('{"a": [1, 2}', "not JSON"),
        ('{"traceEvents": [{"ph": "X"}] garbage', "not JSON"),
    ],
)
def test_json_that_is_not_a_trace(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "other.json"
    path.write_text(text)
    assert expected in one_line_error(path)


def test_trace_without_usable_events(tmp_path: Path) -> None:
    for i, events in enumerate(
        ([], [{"ph": "s", "id": 1, "pid": 1, "tid": 1, "ts": 1.0, "cat": "ac2g"}])
    ):
        path = write_trace(tmp_path / f"none{i}.pt.trace.json", events)
        assert "no events" in one_line_error(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert "no such file" in one_line_error(tmp_path / "missing.pt.trace.json")
    assert "directory" in one_line_error(tmp_path)


def test_gzip_extension_with_plain_text_is_read_by_content(tmp_path: Path) -> None:
    path = tmp_path / "plain.pt.trace.json.gz"
    path.write_text(CUDA_FIXTURE.read_text())
    assert len(read_trace(path)) == len(read_trace(CUDA_FIXTURE))


# --------------------------------------------------------------------------- odd numbers


def raw_trace(tmp_path: Path, events_json: str, name: str = "odd.json") -> Path:
    """A trace whose events are given as JSON text (numbers json.dumps cannot write)."""
    path = tmp_path / name
    path.write_text('{"traceEvents": [' + events_json + "]}")
    return path


OP = '{"ph": "X", "cat": "cpu_op", "name": "a", "ts": 100, "dur": 5, "pid": 1, "tid": 1}'


@pytest.mark.parametrize(
    ("event", "column", "expected"),
    [
        ('"pid": 1, "tid": 18446744073709551615', "tid", "foreign"),
        ('"pid": 1e30, "tid": 1', "pid", "foreign"),
        ('"pid": "main", "tid": null', "tid", "foreign"),
        ('"pid": 1, "tid": 3000000000', "tid", "foreign"),  # fits int64, not int32
        ('"pid": 2.0, "tid": 1', "pid", 2),
        ('"pid": 0, "tid": 7, "args": {"correlation": 18446744073709551615, "device": 0}', "correlation", "foreign"),
        ('"pid": 0, "tid": 7, "args": {"correlation": "abc", "device": 0}', "correlation", "foreign"),
        ('"pid": 0, "tid": 7, "args": {"grid": [1e30, 1, 1], "device": 0}', "blocks", 2**31 - 1),
        ('"pid": 0, "tid": 7, "args": {"grid": [65535, 65535, 65535], "device": 0}', "blocks", 2**31 - 1),
        ('"pid": 0, "tid": 7, "args": {"grid": [2, "x", 1], "device": 99999999999}', "device", "foreign"),
    ],
    ids=["u64-tid", "float-pid", "string-ids", "int64-tid", "integral-float", "u64-correlation",
         "string-correlation", "float-grid", "huge-grid", "huge-device"],
)  # fmt: skip
def test_ids_that_do_not_fit_become_foreign_ids(
    tmp_path: Path, event: str, column: str, expected: int | str
) -> None:
    from perfkit.trace import analyze_file

    cat = "kernel" if "args" in event else "cpu_op"
    text = OP + f', {{"ph": "X", "cat": "{cat}", "name": "b", "ts": 101, "dur": 1, {event}}}'
    store = read_trace(raw_trace(tmp_path, text))
    assert len(store) == 2
    assert {c: getattr(store, c).dtype for c in ("pid", "tid", "device", "blocks")} == dict.fromkeys(
        ("pid", "tid", "device", "blocks"), np.dtype(np.int32)
    )
    value = int(getattr(store, column)[1])
    if expected == "foreign":
        assert value <= -2  # a stable negative id: never wrapped around, never an exception
    else:
        assert value == expected
    analyze_file(raw_trace(tmp_path, text, "again.json"))


def test_equal_foreign_ids_stay_equal(tmp_path: Path) -> None:
    big = 18446744073709551615
    events = ", ".join(
        f'{{"ph": "X", "cat": "cpu_op", "name": "op{i}", "ts": {100 + i}, "dur": 1, "pid": 1, "tid": {tid}}}'
        for i, tid in enumerate([big, 1, big])
    )
    store = read_trace(raw_trace(tmp_path, events))
    assert store.tid.tolist()[0] == store.tid.tolist()[2] <= -2 and store.tid.tolist()[1] == 1


def test_numeric_strings_are_times_and_bad_times_are_counted(tmp_path: Path) -> None:
    from perfkit.trace import analyze_file

    events = ", ".join([
        '{"ph": "X", "cat": "cpu_op", "name": "str", "ts": "100", "dur": "5", "pid": 1, "tid": 1}',
        '{"ph": "X", "cat": "cpu_op", "name": "ok", "ts": 106, "dur": 2.5, "pid": 1, "tid": 1}',
        '{"ph": "X", "cat": "cpu_op", "name": "nulldur", "ts": 110, "dur": null, "pid": 1, "tid": 1}',
        '{"ph": "X", "cat": "cpu_op", "name": "nodur", "ts": 110, "pid": 1, "tid": 1}',
        '{"ph": "X", "cat": "cpu_op", "name": "word", "ts": "soon", "dur": 1, "pid": 1, "tid": 1}',
        '{"ph": "X", "cat": "cpu_op", "name": "bool", "ts": true, "dur": 1, "pid": 1, "tid": 1}',
        '{"ph": "X", "cat": "cpu_op", "name": "nan", "ts": "nan", "dur": 1, "pid": 1, "tid": 1}',
        '{"ph": "X", "cat": "cpu_op", "name": "far", "ts": 1.5e18, "dur": 1, "pid": 1, "tid": 2}',
        '{"ph": "X", "cat": "cpu_op", "name": "long", "ts": 107, "dur": 1e17, "pid": 1, "tid": 1}',
        '{"ph": "i", "name": "[memory]", "ts": "103", "args": {"Device Type": 1, "Device Id": 0,'
        ' "Bytes": "x", "Total Allocated": 5.5}}',
    ])  # fmt: skip
    with np.errstate(all="raise"):  # no silent NaN/overflow casts
        store = read_trace(raw_trace(tmp_path, events))
    names = [store.names[i] for i in store.name.tolist()]
    assert names == ["str", "ok"]
    assert store.ts.tolist() == [0, 6000] and store.dur.tolist() == [5000, 2500]
    assert store.skipped_bad_times == 7
    assert store.memory.ts.tolist() == [3000] and store.memory.nbytes.tolist() == [0]
    a = analyze_file(raw_trace(tmp_path, events, "again.json"))
    assert any(n.startswith("7 complete events were skipped: ts or dur missing") for n in a.notes)


def test_a_trace_with_only_bad_times_says_why(tmp_path: Path) -> None:
    event = '{"ph": "X", "cat": "cpu_op", "name": "a", "ts": "soon", "dur": 5, "pid": 1, "tid": 1}'
    message = one_line_error(raw_trace(tmp_path, event))
    assert 'its 1 complete event has a "ts" or "dur" that is missing, not a number' in message


def test_a_span_of_centuries_does_not_overflow(tmp_path: Path) -> None:
    """Threads far apart in time: the call tree shifts threads by their own spans only."""
    from perfkit.trace import analyze_file

    events = [ev("cpu_op", "outer", 0, 10, tid=1), ev("cpu_op", "inner", 1, 2, tid=1)]
    # 70 years later (2.2e15 µs), on 8 other threads: 8 × 70 years would overflow int64 ns.
    later = 70 * 365.25 * 86400 * 1e6
    events += [ev("cpu_op", f"late{t}", later + t, 5, tid=t) for t in range(2, 10)]
    with np.errstate(all="raise"):
        a = analyze_file(write_trace(tmp_path / "span.pt.trace.json", events))
    assert a.steps_total_ns > 2**60
    by_cpu = {o.name: o.self_cpu_ns for o in a.top_ops_by_cpu}
    assert by_cpu["outer"] == 8000 and by_cpu["inner"] == 2000
