"""RunResult JSON round trip and rejection of foreign files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from perfkit.errors import InputError, SchemaError
from perfkit.report import load_run, save_run
from perfkit.results import SCHEMA_VERSION, RunResult, RunWarning
from tests.factories import run, steady_run, step


def test_round_trip_is_lossless(tmp_path: Path) -> None:
    original = steady_run(warnings=[RunWarning("grad-exploding", "boom", 3)], partial=True)
    path = save_run(original, tmp_path / "run.json")
    assert load_run(path) == original
    assert RunResult.from_dict(json.loads(json.dumps(original.to_dict()))) == original


def test_non_finite_values_survive_as_strict_json(tmp_path: Path) -> None:
    original = run([step(0, {"forward": 1.0}, loss=math.nan, grad_norm=math.inf)])
    path = save_run(original, tmp_path / "run.json")
    text = path.read_text()
    assert "NaN" in text and "Infinity" in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    loaded = load_run(path)
    assert math.isnan(loaded.steps[0].loss)  # type: ignore[arg-type]
    assert loaded.steps[0].grad_norm == math.inf


def test_document_has_the_documented_summary_keys(tmp_path: Path) -> None:
    doc = json.loads(save_run(steady_run(), tmp_path / "run.json").read_text())
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["summary"]["step_ms"]["median"] == pytest.approx(10.01 + 0.1, abs=0.2)
    for phase in ("data", "h2d", "forward", "backward", "optimizer", "other"):
        assert "median_ms" in doc["summary"]["phases"][phase]
    assert doc["summary"]["throughput"]["samples_per_s"] > 0
    assert isinstance(doc["advice"], list)


def test_foreign_and_outdated_files_are_refused(tmp_path: Path) -> None:
    doc = steady_run().to_dict()
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**doc, "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(SchemaError, match=rf"written with result schema_version {SCHEMA_VERSION + 1}"):
        load_run(other)
    not_result = tmp_path / "x.json"
    not_result.write_text(json.dumps({"traceEvents": []}))
    with pytest.raises(InputError, match=r"not a perfkit run result"):
        load_run(not_result)
    broken = tmp_path / "broken.json"
    broken.write_text('{"kind": "perfkit.run", "schema_ver')
    with pytest.raises(InputError, match=r"not valid JSON \(line 1"):
        load_run(broken)
    with pytest.raises(InputError, match=r"no such file"):
        load_run(tmp_path / "missing.json")
    malformed = tmp_path / "malformed.json"
    malformed.write_text(json.dumps({"kind": "perfkit.run", "schema_version": SCHEMA_VERSION}))
    with pytest.raises(InputError, match=r"malformed perfkit result"):
        load_run(malformed)


def test_atomic_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from perfkit import io

    target = tmp_path / "out.json"
    target.write_text("old")

    def explode(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(io.os, "replace", explode)
    with pytest.raises(KeyboardInterrupt):
        io.atomic_write_text(target, "new content")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # temp file removed


def test_atomic_writes_get_normal_permissions(tmp_path: Path) -> None:
    import os

    from perfkit import io

    umask = os.umask(0o022)
    try:
        path = io.atomic_write_text(tmp_path / "new.json", "{}")
        assert path.stat().st_mode & 0o777 == 0o644
        path.chmod(0o600)
        io.atomic_write_text(path, "{} ")
        assert path.stat().st_mode & 0o777 == 0o600  # an existing file keeps its mode
    finally:
        os.umask(umask)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("counters", "flops_per_step", "abc", "expected an integer, got 'abc'"),
        ("environment", "cpu_count", "two", "expected an integer, got 'two'"),
        ("memory", "host_peak_rss_bytes", True, "expected an integer, got True"),
        ("environment", "torch", 2, "expected a string, got 2"),
    ],
)
def test_type_corrupt_files_are_input_errors(tmp_path: Path, section: str, key: str, value: object, message: str) -> None:
    doc = steady_run().to_dict()
    doc[section][key] = value
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=rf"bad\.json: malformed perfkit result \({message}\); re-create it"):
        load_run(path)
    doc = steady_run().to_dict()
    doc["steps"][1]["step_host_ms"] = "fast"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"expected a number, got 'fast'"):
        load_run(path)


def test_steps_whose_phases_do_not_add_up_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    doc = steady_run().to_dict()
    del doc["steps"][2]["host_ms"]["h2d"]
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"step 2: host_ms has phases backward, data, forward, optimizer, other; expected data, h2d"):
        load_run(path)
    doc = steady_run().to_dict()
    doc["steps"][3]["host_ms"]["data"] += 100.0  # edited by hand: shares would sum past 100 %
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"step 3: host_ms phases add up to .* ms, not the step's"):
        load_run(path)


def test_a_result_is_read_only_all_the_way_down() -> None:
    result = steady_run(trace={"steps": [{"ops": 3}], "device": None})
    with pytest.raises(TypeError):
        result.config["name"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        result.config["data"]["batch_size"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        result.steps[1].host_ms["data"] = 1e9  # type: ignore[index]
    assert result.trace is not None
    with pytest.raises(TypeError):
        result.trace["steps"][0]["ops"] = 4  # type: ignore[index]
    doc = result.to_dict()  # and it still serialises as plain JSON
    assert json.loads(json.dumps(doc))["trace"]["steps"] == [{"ops": 3}]
