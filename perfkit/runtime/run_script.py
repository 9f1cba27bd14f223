"""Run a user's script in this process under :class:`~perfkit.runtime.script.ScriptHooks`.

The script runs as ``python script.py args…`` would run it: ``sys.argv`` is the
script and its arguments, ``sys.modules["__main__"]`` is a fresh module whose
``__file__`` is the script (so classes it defines pickle for spawned workers), and the
script's folder is first on ``sys.path``. All of it, and every hook, is restored when
the script ends, however it ends.

How it ended is returned, not raised: the script's own exception stays the script's
(:class:`ScriptOutcome.error`, with a traceback that starts at the script's own
frames), ``sys.exit(code)`` gives ``exit_code``, Ctrl-C gives ``interrupted``.
"""

from __future__ import annotations

import builtins
import io
import sys
import traceback
import types
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from perfkit.errors import InputError
from perfkit.results import RunResult
from perfkit.runtime.script import ScriptHooks, StopScript
from perfkit.runtime.session import Session


@dataclass
class ScriptOutcome:
    """How a measured script ended and what was measured."""

    result: RunResult
    exit_code: int
    error: BaseException | None
    traceback_text: str | None
    stopped_by_perfkit: bool
    interrupted: bool
    missing_hook: str | None
    note: str | None


def _script_traceback(exc: BaseException, script: Path) -> str:
    """The exception's traceback from the script's first frame on (perfkit's frames
    above it are not the user's concern)."""
    tb = exc.__traceback__
    target = str(script.resolve())
    while tb is not None and str(Path(tb.tb_frame.f_code.co_filename).resolve()) != target:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))


def run_script(script: Path, args: list[str], session: Session, stop_when_done: bool = True) -> ScriptOutcome:
    if not script.exists():
        raise InputError(f"{script}: no such script; give the path of a Python training script")
    if not script.is_file():
        raise InputError(f"{script}: not a file; give the path of a Python training script")
    try:
        with io.open_code(str(script)) as handle:
            source = handle.read()
    except OSError as exc:
        raise InputError(f"{script}: {exc.strerror or exc}; check the path") from exc

    main = types.ModuleType("__main__")
    main.__dict__.update({"__file__": str(script), "__builtins__": builtins, "__spec__": None, "__cached__": None})
    saved_argv, saved_path, saved_main = sys.argv[:], sys.path[:], sys.modules["__main__"]
    hooks = ScriptHooks(session, stop_when_done=stop_when_done)
    error: BaseException | None = None
    exit_code = 0
    stopped = interrupted = False
    session.start()
    hooks.install()
    try:
        sys.argv = [str(script), *args]
        sys.path.insert(0, str(script.resolve().parent))
        sys.modules["__main__"] = main
        code = compile(source, str(script), "exec")
        exec(code, main.__dict__)
    except StopScript:
        stopped = True
    except SystemExit as exc:
        exit_code = _exit_code(exc.code)
    except KeyboardInterrupt as exc:
        interrupted = True
        error = exc
    except BaseException as exc:  # the script's own error: reported as the script's
        error = exc
        exit_code = 1
    finally:
        hooks.remove()
        sys.argv, sys.path = saved_argv, saved_path
        sys.modules["__main__"] = saved_main
    result = session.finish(error) or session.result
    missing = hooks.missing_hook() if not result.steps else None
    note = None
    if hooks.several_optimizers_without_data:
        note = (
            "several optimizers stepped on separate forwards without a DataLoader: each optimizer's part is its "
            "own step (iterate a DataLoader to get one step per batch)"
        )
    if note is not None:
        result = result.with_updates(measurement=replace(result.measurement, notes=(*result.measurement.notes, note)))
    return ScriptOutcome(
        result=result,
        exit_code=exit_code,
        error=None if interrupted else error,
        traceback_text=_script_traceback(error, script) if error is not None and not interrupted else None,
        stopped_by_perfkit=stopped,
        interrupted=interrupted,
        missing_hook=missing,
        note=note,
    )


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    print(code, file=sys.stderr)  # sys.exit("message") prints it and exits 1, as Python does
    return 1


__all__ = ["ScriptOutcome", "run_script"]
