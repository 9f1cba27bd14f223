"""Baseline files and policy files: round trip and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfkit.errors import ConfigError, InputError, SchemaError
from perfkit.gate import load_baseline, load_policy_file, save_baseline
from perfkit.report import save_run
from perfkit.results import SCHEMA_VERSION
from tests.unit.gate.gate_synthetic import baseline


def test_baseline_round_trip(tmp_path: Path) -> None:
    stored = baseline()
    path = save_baseline(stored, tmp_path / "b.json")
    loaded = load_baseline(path)
    assert loaded.runs == stored.runs and loaded.name == "exp" and loaded.source == str(path)
    doc = json.loads(path.read_text())
    assert doc["kind"] == "perfkit.baseline" and len(doc["runs"]) == 5
    assert "summary" in doc["runs"][0]  # each run is a full run document


def test_a_single_run_file_is_a_one_run_baseline(tmp_path: Path) -> None:
    run = baseline().runs[0]
    assert load_baseline(save_run(run, tmp_path / "run.json")).runs == (run,)


def test_baseline_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.json: no such baseline; create it with 'perfkit baseline save"):
        load_baseline(tmp_path / "missing.json")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"kind": "perfkit.baseline", "runs": [')
    with pytest.raises(InputError, match=r"corrupt\.json: not valid JSON"):
        load_baseline(corrupt)
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"hello": 1}')
    with pytest.raises(InputError, match=r"not a perfkit baseline"):
        load_baseline(foreign)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"kind": "perfkit.baseline", "schema_version": 2, "runs": []}))
    with pytest.raises(SchemaError, match=r"baseline schema_version 2, this perfkit reads 1"):
        load_baseline(newer)
    doc = json.loads(save_baseline(baseline(), tmp_path / "ok.json").read_text())
    doc["runs"][0]["schema_version"] = SCHEMA_VERSION + 1
    old_runs = tmp_path / "old_runs.json"
    old_runs.write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match=r"old_runs\.json \(run 1\): written with result schema_version"):
        load_baseline(old_runs)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"kind": "perfkit.baseline", "schema_version": 1, "runs": []}))
    with pytest.raises(InputError, match=r"holds no runs"):
        load_baseline(empty)


def test_policy_file(tmp_path: Path) -> None:
    good = tmp_path / "policy.yaml"
    good.write_text("repeats: 7\nthreshold: 0.2\nthresholds: {'phase.*.host_ms': 0.5}\nmetrics: [step_ms, parameters]\n")
    policy = load_policy_file(good)
    assert (policy.repeats, policy.threshold, policy.metrics) == (7, 0.2, ("step_ms", "parameters"))
    assert policy.thresholds == {"phase.*.host_ms": 0.5}
    bad = tmp_path / "bad.yaml"
    bad.write_text("repeats: 5\nthreshhold: 0.2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:2: gate\.threshhold: unknown key; did you mean 'threshold'\?"):
        load_policy_file(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("alpha: 2\n")
    with pytest.raises(ConfigError, match=r"wrong\.yaml:1: gate\.alpha: must be between 0 and 1"):
        load_policy_file(wrong)
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file"):
        load_policy_file(tmp_path / "nope.yaml")


def test_the_dogfood_baseline_is_current() -> None:
    # .ci/run gates the quickstart against this file: it must load with this perfkit
    # (re-record it with `perfkit baseline save` when the result schema changes).
    root = Path(__file__).resolve().parents[3]
    stored = load_baseline(root / "baselines" / "quickstart.json")
    assert len(stored.runs) == load_policy_file(root / "baselines" / "ci-policy.yaml").repeats
    assert all(run.trace is not None for run in stored.runs)  # the op counter needs the trace


def test_policy_thresholds_accept_percentages(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("threshold: 10%\nthresholds: {step_ms: '25%'}\ncounter_tolerance: 0.1%\n")
    policy = load_policy_file(path)
    assert policy.threshold == pytest.approx(0.10)
    assert policy.thresholds == {"step_ms": pytest.approx(0.25)}
    assert policy.counter_tolerance == pytest.approx(0.001)
    path.write_text("threshold: ten%\n")
    with pytest.raises(ConfigError, match=r"gate\.threshold: expected a fraction \(0\.1\) or a percentage \(10%\), got 'ten%'"):
        load_policy_file(path)


def test_misspelled_gated_metrics_are_refused() -> None:
    from perfkit.config.schema import GateConfig
    from perfkit.gate import compare_policy

    with pytest.raises(InputError, match=r"gate\.metrics: 'step_mss' matches no metric; did you mean 'step_ms'\?"):
        compare_policy(GateConfig(metrics=("step_mss",)))
    with pytest.raises(InputError, match=r"gate\.thresholds: 'phase\.\*\.hots_ms' matches no metric"):
        compare_policy(GateConfig(thresholds={"phase.*.hots_ms": 0.2}))
    assert compare_policy(GateConfig(metrics=("phase.*.host_ms", "flops_per_step"))).is_gated("phase.data.host_ms")


def test_a_policy_file_may_keep_its_gate_heading(tmp_path: Path) -> None:
    """The README's policy block starts with ``gate:``; saved as a --policy file it works."""
    path = tmp_path / "policy.yaml"
    path.write_text("gate:\n  repeats: 6\n  metrics: [step_ms]\n  threshhold: 0.2\n")
    with pytest.raises(ConfigError, match=r"policy\.yaml:4: gate\.threshhold: unknown key"):
        load_policy_file(path)
    path.write_text("gate:\n  repeats: 6\n  metrics: [step_ms]\n")
    assert (load_policy_file(path).repeats, load_policy_file(path).metrics) == (6, ("step_ms",))


def test_misspelled_metrics_in_a_policy_file_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "pol.yaml"
    path.write_text("repeats: 5\nmetrics: [step_ms,\n  step_msx]\n")
    with pytest.raises(InputError, match=r"pol\.yaml:\d: gate\.metrics: 'step_msx' matches no metric; did you mean 'step_ms'\?"):
        load_policy_file(path)
    path.write_text("thresholds:\n  nosuch: 0.2\n")
    with pytest.raises(InputError, match=r"pol\.yaml:\d: gate\.thresholds: 'nosuch' matches no metric"):
        load_policy_file(path)
