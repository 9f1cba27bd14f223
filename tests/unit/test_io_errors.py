"""perfkit.io's one-line OS errors and the CLI boundary that maps any other OSError."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import typer

from perfkit.cli.app import handles_errors
from perfkit.errors import InputError
from perfkit.io import atomic_write_text, check_writable, os_error_message


def test_os_error_message_names_the_path_the_reason_and_the_fix() -> None:
    long = OSError(errno.ENAMETOOLONG, "File name too long", "/tmp/xx")
    assert os_error_message("run.json", long) == (
        "run.json: File name too long (a name is at most 255 bytes, a path 4095); choose a shorter name"
    )
    assert os_error_message(None, long).startswith("/tmp/xx: File name too long")  # the error's own file
    full = OSError(errno.ENOSPC, "No space left on device")
    assert os_error_message(None, full) == "No space left on device; free some space or choose another path"
    assert os_error_message(None, OSError(errno.EMFILE, "Too many open files")) == "Too many open files"


def test_a_too_long_name_in_a_missing_folder_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    target = tmp_path / "new" / ("x" * 256 + ".json")
    with pytest.raises(InputError, match=r"new/x+\.json: File name too long"):
        check_writable(target)
    assert not (tmp_path / "new").exists()


def test_a_too_long_path_is_refused(tmp_path: Path) -> None:
    target = tmp_path.joinpath(*(["d" * 200] * 25), "run.json")  # > 4096 bytes, every name valid
    with pytest.raises(InputError, match="File name too long"):
        check_writable(target)


def test_a_write_error_names_the_target_and_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr("os.fsync", full)
    target = tmp_path / "report.md"
    with pytest.raises(InputError, match=r"report\.md: Disk quota exceeded; free some space"):
        atomic_write_text(target, "text")
    assert list(tmp_path.iterdir()) == []


def test_the_boundary_maps_any_os_error_to_exit_2_and_debug_reraises(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    @handles_errors
    def command() -> None:
        raise PermissionError(errno.EACCES, "Permission denied", "/etc/secret.yaml")

    with pytest.raises(typer.Exit) as caught:
        command()
    assert caught.value.exit_code == 2
    assert capsys.readouterr().err == "error: /etc/secret.yaml: Permission denied; choose another path or change its permissions\n"
    monkeypatch.setenv("PERFKIT_DEBUG", "1")
    with pytest.raises(PermissionError):
        command()
