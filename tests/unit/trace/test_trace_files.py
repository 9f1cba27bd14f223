"""Finding traces under a path, and TensorBoard's file layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfkit.errors import TraceError
from perfkit.trace.files import (
    MAX_RUN_NAME_BYTES,
    MAX_WORKER_BYTES,
    TRACE_NAME_RE,
    default_worker,
    find_traces,
    trace_file_path,
)


def test_trace_file_path_follows_tensorboard_layout() -> None:
    assert trace_file_path("logs", "resnet amp", "host_12", gzip=False) == Path(
        "logs/resnet_amp/host_12.pt.trace.json"
    )
    assert trace_file_path("logs", "r", "w", gzip=True, span="1700") == Path(
        "logs/r/w.1700.pt.trace.json.gz"
    )
    # A worker ending in .<digits> would be read as a span by TensorBoard.
    path = trace_file_path("logs", "r", "node.3", gzip=False)
    match = TRACE_NAME_RE.match(path.name)
    assert match and match.group("worker") == "node_3" and match.group("span") is None
    assert TRACE_NAME_RE.match(trace_file_path("d", "r", default_worker(), gzip=False).name)
    with pytest.raises(ValueError):
        trace_file_path("d", "r", "w", gzip=False, span="x1")


def test_find_traces_in_file_dir_and_logdir(tmp_path: Path) -> None:
    run = tmp_path / "logdir" / "run1"
    run.mkdir(parents=True)
    a = run / "w0.pt.trace.json"
    b = run / "w1.123.pt.trace.json.gz"
    c = tmp_path / "logdir" / "direct.pt.trace.json"
    for p in (a, b, c):
        p.write_text("{}")
    (run / "notes.txt").write_text("x")
    (run / ".w0.pt.trace.json.abc.tmp").write_text("x")
    assert find_traces(a) == [a]
    assert find_traces(run) == [a, b]
    assert find_traces(tmp_path / "logdir") == sorted([a, b, c])


def test_find_traces_at_any_depth_like_tensorboard(tmp_path: Path) -> None:
    deep = tmp_path / "logdir" / "exp1" / "seed0" / "run1"
    deep.mkdir(parents=True)
    trace = deep / "w.pt.trace.json.gz"
    trace.write_text("{}")
    hidden = tmp_path / "logdir" / ".cache" / "run"
    hidden.mkdir(parents=True)
    (hidden / "w.pt.trace.json").write_text("{}")
    assert find_traces(tmp_path / "logdir") == [trace]


def test_nothing_to_find(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no such file or directory"):
        find_traces(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TraceError, match="directory is empty"):
        find_traces(empty)
    (empty / "readme.md").write_text("x")
    with pytest.raises(TraceError, match=r"no \*\.pt\.trace\.json"):
        find_traces(empty)


def test_a_long_experiment_name_gives_a_short_deterministic_folder(tmp_path: Path) -> None:
    long_name = "resnet50 " + "amp channels_last " * 30  # 549 characters
    other = long_name + "v2"
    path = trace_file_path(tmp_path, long_name, "host_1", gzip=True, span="1700000000000")
    run = path.parent.name
    assert len(run.encode()) <= MAX_RUN_NAME_BYTES
    assert run.startswith("resnet50_amp_channels_last_")
    # Deterministic, and different for names that share their first 100+ characters.
    assert trace_file_path(tmp_path, long_name, "host_1", gzip=True).parent.name == run
    assert trace_file_path(tmp_path, other, "host_1", gzip=True).parent.name != run
    # The file system accepts it, and so the temporary name the atomic write uses.
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    (path.parent / f".{path.name}.abcdefgh.tmp.gz").write_text("x")
    assert find_traces(tmp_path) == [path]
    # Short names are kept as they are.
    assert trace_file_path("d", "resnet amp", "w", gzip=False).parent.name == "resnet_amp"


def test_a_long_worker_name_keeps_every_file_name_under_the_limit(tmp_path: Path) -> None:
    worker = "node-" + "x" * 400 + ".7"
    path = trace_file_path(tmp_path, "r", worker, gzip=True, span="1700000000000")
    assert len(path.name.encode()) + len(".abcdefgh.tmp.gz") + 1 < 255
    match = TRACE_NAME_RE.match(path.name)
    assert match and match.group("span") == ".1700000000000"
    assert len(match.group("worker")) <= MAX_WORKER_BYTES
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    assert path.is_file()
