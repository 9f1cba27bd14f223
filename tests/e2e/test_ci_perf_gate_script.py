"""scripts/ci_perf_gate.sh end to end, in a throwaway git repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ci_perf_gate.sh"

EXPERIMENT = {
    "name": "cigate",
    "device": "cpu",
    "threads": 1,
    "model": {"name": "convnet", "params": {"width": 4, "depth": 1, "num_classes": 4}},
    "data": {"name": "synthetic-images", "params": {"num_samples": 32, "image_size": 8, "num_classes": 4}, "batch_size": 4},
    "loop": {"steps": 6, "warmup_steps": 1},
    # Counters only: two rounds are enough for them (times would need 8).
    "gate": {"metrics": ["flops_per_step", "parameters", "trace.ops_per_step"]},
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@example.com")
    git(root, "config", "user.name", "ci")
    (root / "exp.yaml").write_text(yaml.safe_dump(EXPERIMENT))
    git(root, "add", "exp.yaml")
    git(root, "commit", "-q", "-m", "base")
    git(root, "checkout", "-q", "-b", "change")
    return root


def run_script(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "PERF_GATE_ROUNDS": "2"}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300)


def test_a_wider_layer_on_the_branch_fails_the_gate(repo: Path) -> None:
    changed = {**EXPERIMENT, "model": {"name": "convnet", "params": {"width": 8, "depth": 1, "num_classes": 4}}}
    (repo / "exp.yaml").write_text(yaml.safe_dump(changed))
    git(repo, "commit", "-q", "-am", "wider")
    result = run_script(repo, "exp.yaml", "main")
    assert result.returncode == 1, result.stderr
    out = repo / "perf-gate"
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["base-1.json", "base-2.json", "head-1.json", "head-2.json"]
    assert "regressed on flops_per_step, parameters" in (out / "gate.md").read_text()
    assert "<failure" in (out / "gate.xml").read_text()
    assert not list(Path(repo).glob("*.worktree"))  # the worktree was cleaned up
    listed = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True).stdout
    assert len(listed.strip().splitlines()) == 1


def test_an_unchanged_branch_passes(repo: Path) -> None:
    (repo / "notes.txt").write_text("docs only\n")
    git(repo, "add", "notes.txt")
    git(repo, "commit", "-q", "-m", "docs")
    result = run_script(repo, "exp.yaml", "main")
    assert result.returncode == 0, result.stderr
    assert (repo / "perf-gate" / "gate.md").read_text().startswith("# ✅ perf gate PASSED")


def test_a_missing_merge_base_is_a_usage_error(repo: Path) -> None:
    result = run_script(repo, "exp.yaml", "no-such-branch")
    assert result.returncode == 2
    assert "no merge-base of no-such-branch and HEAD" in result.stderr
