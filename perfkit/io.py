"""File input and output shared by every command.

Outputs are written atomically: to a temporary file in the destination folder, flushed
and fsync'ed, then renamed over the target. A crash or Ctrl-C leaves either the old file
or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from perfkit.errors import InputError


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Fail early (before a long run) if ``path`` cannot be written as a file.

    Creates nothing: the nearest existing ancestor must be a writable directory."""
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{target}: is a directory; give a file name, e.g. {target / 'run.json'}")
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"{target}: {ancestor} is a file, not a folder; choose another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"{target}: {ancestor} is not writable; choose another path")
    return target


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename).

    Raises :class:`InputError` when the path cannot be written (a directory, a missing or
    read-only folder)."""
    target = check_writable(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise InputError(f"{target}: cannot write there ({exc.strerror}); choose another path") from exc
    try:
        # mkstemp creates the file 0600; give it the mode a plain open() would (umask).
        os.fchmod(fd, _default_mode(target))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)  # noqa: PTH105 - the atomic rename is the point
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp_name).unlink()
        raise
    return target


def strict_json(value: Any) -> Any:
    """``value`` with non-finite floats replaced by 'NaN'/'Infinity'/'-Infinity' strings.

    Python's json writes bare NaN/Infinity, which is not JSON and breaks jq and browsers.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def dumps_json(payload: Any) -> str:
    """Indented, strictly valid JSON text with a trailing newline."""
    return json.dumps(strict_json(payload), indent=2, allow_nan=False) + "\n"


def _default_mode(target: Path) -> int:
    """The existing file's permissions, or 0666 minus the process umask for a new file."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_json(path: str | os.PathLike[str], payload: Any) -> Path:
    """Write ``payload`` as indented strict JSON, atomically."""
    return atomic_write_text(path, dumps_json(payload))


def read_json(path: str | os.PathLike[str], what: str = "JSON file") -> Any:
    """Read a JSON document, turning every failure into a one-line :class:`InputError`."""
    source = Path(path)
    if not source.exists():
        raise InputError(f"{source}: no such file; check the path")
    if source.is_dir():
        raise InputError(f"{source}: is a directory, expected a {what}")
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{source}: cannot read it as a {what}: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            f"expected a {what}"
        ) from exc
