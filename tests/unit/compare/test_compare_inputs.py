"""From the command line to groups: labels, --vs, saved runs, validation before running."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from compare_synthetic import make_run

from perfkit.compare.inputs import InterruptedCompare, check_output, collect_groups, resolve_inputs
from perfkit.errors import ConfigError, InputError, SchemaError
from perfkit.results import RunResult

CONFIG = "name: tiny\ndevice: cpu\nloop: {steps: 2, warmup_steps: 0}\n"


def test_labels_default_to_stems_and_are_unique() -> None:
    specs = resolve_inputs(["a/run.json", "b/run.json", "exp.yaml", "exp.yaml"])
    assert [s.label for s in specs] == ["a/run", "b/run", "exp", "exp-2"]
    assert [s.is_config for s in specs] == [False, False, True, True]
    assert resolve_inputs(["x.json", "y.json"], labels=["old", "new"])[1].label == "new"


def test_comma_list_is_one_input_of_several_runs() -> None:
    specs = resolve_inputs(["a1.json,a2.json,a3.json", "b.json"])
    assert specs[0].paths == (Path("a1.json"), Path("a2.json"), Path("a3.json"))
    assert specs[0].label == "a1…a3"
    with pytest.raises(InputError, match="is not one"):
        resolve_inputs(["a1.json,exp.yaml", "b.json"])


def test_vs_shorthand() -> None:
    specs = resolve_inputs(["exp.yaml"], vs=["toggles.amp=bf16", "data.num_workers=2"], sets=["loop.steps=5"])
    assert [s.label for s in specs] == ["exp", "toggles.amp=bf16", "data.num_workers=2"]
    assert specs[0].overrides == ("loop.steps=5",)
    assert specs[1].overrides[0] == "loop.steps=5"
    assert specs[2].source == "exp.yaml --set loop.steps=5 --vs data.num_workers=2"
    # A bad --vs is reported as --vs, before anything runs.
    with pytest.raises(ConfigError, match=r"^--vs toggles\.amp: expected KEY=VALUE with a dotted key, e\.g\. --vs "):
        resolve_inputs(["exp.yaml"], vs=["toggles.amp"])


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (["a.yaml"], {}, "at least two inputs"),
        ([], {}, "at least two inputs"),
        (["a.yaml", "b.yaml"], {"vs": ["x=1"]}, "--vs compares one base config"),
        (["a.json"], {"vs": ["x=1"]}, "--vs needs an experiment config"),
        (["a.json", "b.json"], {"sets": ["loop.steps=2"]}, "--set applies to experiment configs"),
        (["a.yaml", "b.yaml"], {"labels": ["only-one"]}, "--label was given 1 times for 2 inputs"),
        (["a.yaml", "b.yaml", "c.json"], {"labels": ["x", "y", "x"]}, "--label x is given to more than one input"),
    ],
)
def test_usage_errors(args: list[str], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        resolve_inputs(args, **kwargs)


def write_run(path: Path, run: RunResult, **changes: Any) -> Path:
    doc = run.to_dict()
    doc.update(changes)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def never_run(config: Any) -> RunResult:  # pragma: no cover - must not be called
    raise AssertionError("saved runs must not be run")


def test_saved_runs_are_loaded_not_run(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a.json", make_run([10.0, 11.0]))
    b = write_run(tmp_path / "b.json", make_run([12.0, 13.0]))
    out = collect_groups(resolve_inputs([str(a), str(b)]), repeats=5, run=never_run)
    assert out.interleaved is None
    assert [g.label for g in out.groups] == ["a", "b"]
    assert out.groups[0].rounds is None and not out.groups[0].in_process


def test_bad_saved_runs(tmp_path: Path) -> None:
    good = write_run(tmp_path / "good.json", make_run([10.0]))
    old = write_run(tmp_path / "old.json", make_run([10.0]), schema_version=0)
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}', encoding="utf-8")
    with pytest.raises(InputError, match="no such file"):
        collect_groups(resolve_inputs([str(good), str(tmp_path / "missing.json")]), repeats=1, run=never_run)
    with pytest.raises(SchemaError, match="schema_version 0"):
        collect_groups(resolve_inputs([str(good), str(old)]), repeats=1, run=never_run)
    with pytest.raises(InputError, match="not a perfkit run result"):
        collect_groups(resolve_inputs([str(good), str(other)]), repeats=1, run=never_run)


def test_configs_are_validated_before_anything_runs(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(CONFIG, encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG + "loop: {steps: 0}\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        collect_groups(resolve_inputs([str(good), str(bad)]), repeats=2, run=never_run)
    with pytest.raises(ConfigError, match="no such file"):
        collect_groups(resolve_inputs([str(good), str(tmp_path / "nope.yaml")]), repeats=2, run=never_run)
    with pytest.raises(InputError, match="--repeats must be at least 1"):
        collect_groups(resolve_inputs([str(good), str(good)]), repeats=0, run=never_run)


def test_mixed_inputs_keep_their_order(tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    saved = write_run(tmp_path / "saved.json", make_run([10.0, 10.0]))
    calls: list[Any] = []

    def fake(loaded: Any) -> RunResult:
        calls.append(loaded.config.loop.steps)
        return make_run([9.0, 9.0])

    out = collect_groups(resolve_inputs([str(saved), str(config)], sets=["loop.steps=3"]), repeats=2, warmup_rounds=1, run=fake)
    assert [g.label for g in out.groups] == ["saved", "exp"]
    assert calls == [3, 3, 3]
    assert out.groups[1].rounds == (0, 1) and out.groups[1].in_process


def test_interrupted_before_first_round(tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(CONFIG, encoding="utf-8")

    def interrupted(loaded: Any) -> RunResult:
        raise KeyboardInterrupt

    with pytest.raises(InterruptedCompare) as info:
        collect_groups(resolve_inputs([str(config), str(config)]), repeats=2, run=interrupted)
    assert info.value.exit_code == 130


def test_check_output(tmp_path: Path) -> None:
    specs = resolve_inputs([str(tmp_path / "a.yaml"), str(tmp_path / "b.json")])
    assert check_output(tmp_path / "new" / "out.json", specs) == tmp_path / "new" / "out.json"  # creates nothing
    assert not (tmp_path / "new").exists()
    with pytest.raises(InputError, match="is a directory"):
        check_output(tmp_path, specs)
    with pytest.raises(InputError, match=r"is one of the inputs \(b\)"):
        check_output(tmp_path / "b.json", specs)
