"""Every OS error on a path the user gave, in every command and every input and output
option, exits 2 with one line ``error: <path>: <reason>`` and no traceback (never exit 1,
which CI reads as a regression).

Faults: a name over 255 bytes (ENAMETOOLONG), a file used as a folder (ENOTDIR) and a
directory where a file is expected (EISDIR) are real. A folder the user may not enter
(EACCES) is real only for a non-root user (root ignores permissions), so it is also
simulated: every stat, open, access check and mkdir inside the folder fails as the kernel
would fail it. A full disk (ENOSPC) is simulated at the write's fsync, on outputs only.
"""

from __future__ import annotations

import builtins
import errno
import importlib.util
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from perfkit.cli import app
from tests.conftest import TINY

REPO = Path(__file__).resolve().parents[2]
TRACE = REPO / "tests" / "data" / "traces" / "cuda_fixture.pt.trace.json"
FIVE = [arg for _ in range(5) for arg in ("--candidate", "{run}")]

# (id, command line with {bad} for the path under test, "in" or "out", file suffix)
CASES: list[tuple[str, list[str], str, str]] = [
    ("profile-config", ["profile", "{bad}", "-q"], "in", ".yaml"),
    ("profile-output", ["profile", "{exp}", "-q", "-o", "{bad}"], "out", ".json"),
    ("profile-trace-dir", ["profile", "{exp}", "-q", "--trace-dir", "{bad}"], "out", ""),
    ("validate-config", ["validate", "{bad}"], "in", ".yaml"),
    ("init", ["init", "{bad}"], "out", ".yaml"),
    ("report-run", ["report", "{bad}"], "in", ".json"),
    ("report-output", ["report", "{run}", "-f", "md", "-o", "{bad}"], "out", ".md"),
    ("report-plot", ["report", "{run}", "--plot", "{bad}"], "out", ".png"),
    ("analyze-trace", ["analyze", "{bad}"], "in", ".pt.trace.json"),
    ("analyze-output", ["analyze", "{trace}", "-f", "md", "-o", "{bad}"], "out", ".md"),
    ("compare-saved-run", ["compare", "{bad}", "{run}"], "in", ".json"),
    ("compare-config", ["compare", "{bad}", "{exp}", "-n", "1"], "in", ".yaml"),
    ("compare-output", ["compare", "{run}", "{run},{run}", "-f", "md", "-o", "{bad}"], "out", ".md"),
    ("baseline-config", ["baseline", "save", "{bad}", "-o", "{tmp}/b.json", "-q"], "in", ".yaml"),
    ("baseline-policy", ["baseline", "save", "{exp}", "-o", "{tmp}/b.json", "--policy", "{bad}", "-q"], "in", ".yaml"),
    ("baseline-output", ["baseline", "save", "{exp}", "-o", "{bad}", "-q"], "out", ".json"),
    ("gate-config", ["gate", "{bad}", "-b", "{base}", *FIVE], "in", ".yaml"),
    ("gate-baseline", ["gate", "{exp}", "-b", "{bad}", *FIVE], "in", ".json"),
    ("gate-candidate", ["gate", "{exp}", "-b", "{base}", "--candidate", "{bad}"], "in", ".json"),
    ("gate-policy", ["gate", "{exp}", "-b", "{base}", *FIVE, "--policy", "{bad}"], "in", ".yaml"),
    ("gate-md", ["gate", "{exp}", "-b", "{base}", *FIVE, "-q", "--md", "{bad}"], "out", ".md"),
    ("gate-junit", ["gate", "{exp}", "-b", "{base}", *FIVE, "-q", "--junit", "{bad}"], "out", ".xml"),
    ("gate-json", ["gate", "{exp}", "-b", "{base}", *FIVE, "-q", "--json", "{bad}"], "out", ".json"),
]

#: What the one error line must say for each fault (any of the phrases).
REASONS: dict[str, tuple[str, ...]] = {
    "ENAMETOOLONG": ("File name too long",),
    # perfkit.io's own check names the file that is in the way; the gate's baseline and
    # analyze's path finder call a path under a file missing, which it is.
    "ENOTDIR": ("Not a directory", "is a file, not a folder", "no such"),
    "EISDIR": ("is a directory", "the directory is empty"),
    "EACCES": ("Permission denied", "permission denied"),
    "ENOSPC": ("No space left on device",),
}

#: Combinations that are no fault: a directory is what --trace-dir wants.
NOT_A_FAULT = {("profile-trace-dir", "EISDIR")}

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The valid files every command line needs besides the path under test."""
    from perfkit.gate.baseline import make_baseline, save_baseline
    from perfkit.report import save_run
    from tests.factories import steady_run

    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(TINY))
    run = save_run(steady_run(), tmp_path / "run.json")
    base = save_baseline(make_baseline([steady_run() for _ in range(5)]), tmp_path / "base.json")
    (tmp_path / "afile").write_text("a file, not a folder\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "locked").mkdir()
    # `baseline save` would run the experiment five times before writing: its saved runs
    # stand in for them (the write is what is under test).
    monkeypatch.setattr("perfkit.gate.runs.run_repeats", lambda *a, **k: [steady_run() for _ in range(5)])
    return {"exp": str(exp), "run": str(run), "base": str(base), "trace": str(TRACE), "tmp": str(tmp_path)}


def bad_path(fault: str, tmp: Path, suffix: str) -> Path:
    if fault == "ENAMETOOLONG":
        return tmp / ("x" * 300 + suffix)
    if fault == "ENOTDIR":
        return tmp / "afile" / f"x{suffix}"
    if fault == "EISDIR":
        return tmp / "adir"
    if fault == "EACCES":
        return tmp / "locked" / f"x{suffix}"
    return tmp / f"out{suffix}"  # ENOSPC: a fine path on a full disk


def deny(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make ``folder`` behave as mode 000 does for a non-root user: it can be stat'ed,
    but nothing inside it can be stat'ed, opened or created, and it is not writable."""
    root = str(folder)

    def inside(path: Any) -> bool:
        try:
            text = str(Path(os.fsdecode(path)).absolute())  # no syscall: stat is patched
        except TypeError:  # a file descriptor
            return False
        return text.startswith(root + os.sep)

    def refuse(path: Any) -> OSError:
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))

    def guard(real: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(path: Any, *args: Any, **kwargs: Any) -> Any:
            if inside(path):
                raise refuse(path)
            return real(path, *args, **kwargs)

        return guarded

    real_access = os.access

    def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
        if inside(path) or (os.fsdecode(path) == root if not isinstance(path, int) else False):
            return False
        return real_access(path, mode, *args, **kwargs)

    for name in ("stat", "lstat", "open", "mkdir"):
        monkeypatch.setattr(os, name, guard(getattr(os, name)))
    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(io, "open", guard(io.open))
    monkeypatch.setattr(builtins, "open", guard(builtins.open))


def disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fsync reports a full disk (where a delayed allocation failure surfaces)."""

    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)


def assert_one_error_line(result: Any, path: Path, reasons: tuple[str, ...]) -> str:
    """Exit 2, no traceback, exactly one ``error:`` line, naming ``path`` and the reason."""
    assert "Traceback" not in result.output
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    line = errors[0]
    assert line.startswith(f"error: {path}"), line
    assert any(reason in line for reason in reasons), line
    return line


def faults_for(kind: str) -> list[str]:
    return ["ENAMETOOLONG", "ENOTDIR", "EISDIR", "EACCES"] + (["ENOSPC"] if kind == "out" else [])


PARAMS = [
    pytest.param(case_id, argv, suffix, fault, id=f"{case_id}-{fault}")
    for case_id, argv, kind, suffix in CASES
    for fault in faults_for(kind)
    if (case_id, fault) not in NOT_A_FAULT
]


@pytest.mark.parametrize(("case_id", "argv", "suffix", "fault"), PARAMS)
def test_os_error_is_one_line_with_exit_2(
    case_id: str, argv: list[str], suffix: str, fault: str, world: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if case_id == "report-plot" and fault == "ENOSPC" and not HAS_MATPLOTLIB:
        pytest.skip("drawing the plot needs matplotlib")
    bad = bad_path(fault, tmp_path, suffix)
    args = [a.format(bad=bad, **world) for a in argv]
    if fault == "EACCES":
        deny(monkeypatch, tmp_path / "locked")
    if fault == "ENOSPC":
        disk_full(monkeypatch)
    result = CliRunner().invoke(app, args)
    assert_one_error_line(result, bad, REASONS[fault])
    if fault == "ENOSPC":  # atomic: no half-written output, no temporary file left
        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert [p for p in files if p == bad or bad in p.parents or ".tmp" in p.name] == []


@pytest.mark.skipif(IS_ROOT, reason="root ignores file permissions; the simulated EACCES cases cover this")
@pytest.mark.parametrize(
    "argv",
    [
        ["report", "{bad}"],
        ["validate", "{bad}"],
        ["report", "{run}", "-f", "md", "-o", "{bad}"],
        ["init", "{bad}"],
        ["gate", "{exp}", "-b", "{bad}", "--candidate", "{run}"],
    ],
)
def test_real_permission_denied(argv: list[str], world: dict[str, str], tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    inside = locked / "x.json"
    locked.chmod(0o000)
    try:
        result = CliRunner().invoke(app, [a.format(bad=inside, **world) for a in argv])
    finally:
        locked.chmod(0o755)
    assert_one_error_line(result, inside, REASONS["EACCES"])


def test_a_name_of_250_bytes_is_written(world: dict[str, str], tmp_path: Path) -> None:
    """The temporary file of an atomic write has a short name of its own: a target name
    that is valid (up to 255 bytes) is written, not refused as too long."""
    target = tmp_path / ("r" * 247 + ".md")
    assert len(target.name) == 250
    result = CliRunner().invoke(app, ["report", world["run"], "-f", "md", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text().startswith("## perfkit: ")


def test_an_output_to_a_fifo_is_written_through_not_replaced(world: dict[str, str], tmp_path: Path) -> None:
    """An existing FIFO or device is written in place: an atomic rename over it would
    replace it with a regular file (as root, even /dev/null)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so that opening it for writing does not block
    try:
        result = CliRunner().invoke(app, ["report", world["run"], "-f", "md", "-o", str(fifo)])
        assert result.exit_code == 0, result.output
        assert os.read(reader, 20).startswith(b"## perfkit: ")
    finally:
        os.close(reader)
    assert Path(fifo).is_fifo()  # still the FIFO, not a file renamed over it
