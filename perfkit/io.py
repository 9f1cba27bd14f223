"""File input and output shared by every command.

Outputs are written atomically: to a temporary file in the destination folder, flushed
and fsync'ed, then renamed over the target. A crash or Ctrl-C leaves either the old file
or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from perfkit.errors import InputError

#: What to add to the system's own reason (e.g. "File name too long") for each OS error a
#: user-given path can cause: what it means where that is not plain, and the fix.
_OS_ERROR_FIXES: dict[int, str] = {
    errno.ENAMETOOLONG: " (a name is at most 255 bytes, a path 4095); choose a shorter name",
    errno.ENOTDIR: " (a folder in the path is a file); check the path",
    errno.EACCES: "; choose another path or change its permissions",
    errno.EPERM: "; choose another path or change its permissions",
    errno.EISDIR: "; give a file name",
    errno.ENOSPC: "; free some space or choose another path",
    errno.EDQUOT: "; free some space or choose another path",
    errno.EROFS: "; choose another path",
    errno.ENOENT: "; check the path",
    errno.ELOOP: " (a symbolic link loop); check the path",
}


def os_error_message(path: str | os.PathLike[str] | None, exc: OSError) -> str:
    """``<path>: <reason>; <fix>`` for an OS error on a user-given path (one line).

    ``path`` is the path as the user gave it; without one, the error's own file name is
    used."""
    where = path if path is not None else exc.filename
    reason = exc.strerror or str(exc) or type(exc).__name__
    if where is None:  # no path to blame: the reason, and a fix only where one is known
        return " ".join((reason + _OS_ERROR_FIXES.get(exc.errno or 0, "")).split())
    text = reason + _OS_ERROR_FIXES.get(exc.errno or 0, "; check the path or choose another one")
    return " ".join(f"{os.fsdecode(where)}: {text}".split())


def os_input_error(path: str | os.PathLike[str] | None, exc: OSError) -> InputError:
    """:func:`os_error_message` as the :class:`InputError` the CLI prints with exit 2."""
    return InputError(os_error_message(path, exc))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Fail early (before a long run) if ``path`` cannot be written as a file.

    Creates nothing: the nearest existing ancestor must be a writable directory, and every
    name still to be created must fit the file system. An existing device or FIFO (e.g.
    ``/dev/null``) is fine: it is written straight through, not replaced."""
    target = Path(path)
    try:
        _check_name_lengths(target)
        if target.is_dir():
            raise InputError(f"{target}: is a directory; give a file name (in it, or elsewhere)")
        if _is_special_file(target):
            if not os.access(target, os.W_OK):
                raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(target))
            return target
        ancestor = target.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise InputError(f"{target}: {ancestor} is a file, not a folder; choose another path")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise InputError(f"{target}: {ancestor} is not writable (permission denied); choose another path or change its permissions")
    except OSError as exc:
        raise os_input_error(target, exc) from exc
    return target


def _check_name_lengths(target: Path) -> None:
    """Raise ENAMETOOLONG for a name or path longer than the system allows (checked here
    because a missing folder on the way would otherwise hide it until the write)."""
    if len(os.fsencode(target.absolute())) >= 4096:
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(target))
    if any(len(os.fsencode(part)) > 255 for part in target.parts):
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(target))


def _is_special_file(target: Path) -> bool:
    """An existing device, FIFO or socket (after symbolic links): written in place."""
    try:
        mode = target.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename).

    Raises :class:`InputError` naming ``path`` when it cannot be written (a directory, a
    missing or read-only folder, a name too long, a full disk). An existing device or FIFO
    (``/dev/null``, ``/dev/stdout``) is written in place: renaming over it would replace it."""
    target = check_writable(path)
    try:
        if _is_special_file(target):
            with target.open("wb") as handle:
                handle.write(data)
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        # The temporary name stays short whatever the target's: a 250-byte name is valid.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name[:32]}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise os_input_error(target, exc) from exc
    try:
        # mkstemp creates the file 0600; give it the mode a plain open() would (umask).
        os.fchmod(fd, _default_mode(target))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)  # noqa: PTH105 - the atomic rename is the point
    except BaseException as exc:
        with contextlib.suppress(OSError):
            Path(tmp_name).unlink()
        if isinstance(exc, OSError):
            raise os_input_error(target, exc) from exc
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


def input_stat(path: Path, missing: str = "no such file; check the path") -> os.stat_result:
    """``path``'s status; a missing file is an :class:`InputError` ``<path>: <missing>``,
    any other OS error (not a folder, too long, not permitted) is raised as is."""
    try:
        return path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: {missing}") from None


def read_json(path: str | os.PathLike[str], what: str = "JSON file") -> Any:
    """Read a JSON document, turning every failure into a one-line :class:`InputError`."""
    source = Path(path)
    try:
        if stat.S_ISDIR(input_stat(source).st_mode):
            raise InputError(f"{source}: is a directory, expected a {what}")
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise os_input_error(source, exc) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: cannot read it as a {what}: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            f"expected a {what}"
        ) from exc
