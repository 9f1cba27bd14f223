"""Small bad inputs and options, end to end: `compare` with an input that names no file,
`--version`, `init` on something that is not a regular file, a saved run whose
schema_version has the wrong type, an alias bomb, and the options `profile` and
`validate` share."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
import yaml
from typer.testing import CliRunner

import perfkit
from perfkit.cli import app
from tests.conftest import TINY

REPO = Path(__file__).resolve().parents[2]


def invoke(*args: Any):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, [str(a) for a in args])


def one_error_line(result: Any, *fragments: str) -> str:
    """Exit 2, no traceback, stderr is one ``error:`` line holding every fragment."""
    assert "Traceback" not in result.output
    assert result.exit_code == 2, (result.exit_code, result.output)
    err = result.stderr.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture
def saved_run(tmp_path: Path) -> Path:
    from perfkit.report import save_run
    from tests.factories import steady_run

    return save_run(steady_run(), tmp_path / "a.json")


@pytest.mark.parametrize(
    ("second", "fragments"),
    [
        (",", ["input 2 (','): names no file"]),
        ("", ["input 2 (''): names no file"]),
        ("  ", ["input 2 ('  '): names no file"]),
        ("{run},,{run}", ["has an empty entry", "a.json,b.json"]),
        ("{run},", ["has an empty entry"]),
    ],
)
def test_compare_refuses_an_input_that_names_no_file(saved_run: Path, second: str, fragments: list[str]) -> None:
    one_error_line(invoke("compare", saved_run, second.format(run=saved_run)), *fragments)


def test_compare_refuses_an_empty_base_for_vs() -> None:
    one_error_line(invoke("compare", "", "--vs", "toggles.amp=bf16"), "input 1 (''): names no file")


def test_version_prints_the_version_and_exits_0() -> None:
    result = invoke("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"perfkit {perfkit.__version__}\n"


def test_version_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from perfkit.cli import app\n"
        "try:\n"
        "    app(['--version'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"perfkit {perfkit.__version__}\n"


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("kind", ["directory", "fifo", "dev-null"])
def test_init_refuses_what_is_not_a_regular_file(kind: str, force: bool, tmp_path: Path) -> None:
    if kind == "directory":
        target, fragment = tmp_path / "configs", "is a directory"
        target.mkdir()
    elif kind == "fifo":
        target, fragment = tmp_path / "pipe", "is a FIFO (named pipe), not a regular file"
        os.mkfifo(target)
    else:
        target, fragment = Path("/dev/null"), "is a character device, not a regular file"
        if not target.exists():
            pytest.skip("no /dev/null here")
    before = target.stat().st_mode
    err = one_error_line(invoke("init", target, *(["--force"] if force else [])), f"error: {target}: {fragment}")
    assert "--force" not in err  # forcing cannot help: it would replace the device or folder
    assert target.stat().st_mode == before  # left as it was
    assert stat.S_ISDIR(before) or not stat.S_ISREG(target.stat().st_mode)


def test_init_writes_a_new_path_and_overwrites_a_file_only_with_force(tmp_path: Path) -> None:
    target = tmp_path / "exp.yaml"
    assert invoke("init", target).exit_code == 0
    assert "model:" in target.read_text()
    target.write_text("# mine\n")
    one_error_line(invoke("init", target), "already exists; pass --force")
    assert target.read_text() == "# mine\n"
    assert invoke("init", target, "--force").exit_code == 0
    assert "model:" in target.read_text()


@pytest.mark.parametrize(
    ("version", "fragment"),
    [("1", "got '1', a str"), ([1], "got [1], a list"), (None, "it is missing"), (True, "got True, a bool"), (1.0, "got 1.0, a float")],
)
def test_a_schema_version_of_the_wrong_type_says_so(saved_run: Path, version: Any, fragment: str) -> None:
    doc = json.loads(saved_run.read_text())
    if version is None:
        del doc["schema_version"]
    else:
        doc["schema_version"] = version
    saved_run.write_text(json.dumps(doc))
    one_error_line(invoke("report", saved_run), f"{saved_run}: schema_version must be a whole number ({fragment})")


def test_validate_refuses_an_alias_bomb_naming_the_file(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    bomb.write_text("\n".join(levels) + "\n")  # ~400 bytes, 9**9 values expanded
    one_error_line(invoke("validate", bomb), f"{bomb}: refused: its aliases expand to more than 100,000 values")


def _params(command: str) -> dict[str, Any]:
    group = typer.main.get_command(app)
    return {p.name or "": p for p in group.commands[command].params}  # type: ignore[attr-defined]


def test_profile_and_validate_share_one_option_list() -> None:
    from perfkit.cli.profile import CONFIG_OPTIONS

    profile, validate = _params("profile"), _params("validate")
    for name, _ in CONFIG_OPTIONS:
        a, b = profile[name], validate[name]
        fields = ("opts", "secondary_opts", "help", "default", "multiple", "is_flag", "metavar")
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields], name
    # Listed in the same order, right after the config argument, in both.
    shared = [name for name, _ in CONFIG_OPTIONS]
    assert list(profile)[1 : 1 + len(shared)] == shared
    assert list(validate) == ["config", *shared]


def test_validate_applies_the_shared_options(tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(TINY))
    result = invoke("validate", config, "--amp", "bf16", "--workers", "2", "--steps", "7", "--device", "cpu", "--set", "loop.warmup_steps=3")
    assert result.exit_code == 0, result.output
    assert "(batch 4, 2 workers)" in result.stdout
    assert "7 steps + 3 warm-up · device cpu · amp bf16" in result.stdout
    one_error_line(invoke("validate", config, "--steps", "0"), "--steps 0: loop.steps")
