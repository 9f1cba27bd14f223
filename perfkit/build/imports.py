"""Resolve ``package.module:callable`` strings and keyword parameters for factories."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from perfkit.errors import BuildError, PerfkitError


def resolve_callable(spec: str, base_dir: Path, key: str) -> Callable[..., Any]:
    """Import ``package.module:attr`` from ``base_dir`` first, then ``sys.path``.

    ``base_dir`` (the config file's folder) goes to the front of ``sys.path`` and stays
    there, as a script's folder does for ``python script.py``: a factory may import
    sibling modules when it is called, and DataLoader workers started with spawn or
    forkserver import the dataset's module again by name.

    Modules imported from another config's folder under a name this folder also provides
    are dropped from the module cache first (``perfkit compare a/exp.yaml b/exp.yaml``,
    each next to its own ``models.py`` and helpers): Python's cache would otherwise hand the second config the first
    config's code, and the comparison would silently measure one model twice.

    ``key`` is the dotted config key the spec came from, for the error message.
    """
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise BuildError(f"{key}: '{spec}' is not of the form package.module:callable")
    folder = str(base_dir)
    if folder in sys.path:
        sys.path.remove(folder)
    sys.path.insert(0, folder)
    _forget_other_config_folders(base_dir)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure of user code is an input error
        raise BuildError(
            f"{key}: cannot import module '{module_name}' for '{spec}' ({type(exc).__name__}: {exc}); "
            f"it is looked up in {base_dir} first, then on sys.path"
        ) from exc
    target: Any = module
    for part in attr_path.split("."):
        if not hasattr(target, part):
            raise BuildError(f"{key}: module '{module_name}' has no attribute '{attr_path}' (from '{spec}')")
        target = getattr(target, part)
    if not callable(target):
        raise BuildError(f"{key}: '{spec}' is not callable")
    return target  # type: ignore[no-any-return]


#: Config folders user code was imported from in this process.
_CONFIG_FOLDERS: set[Path] = set()


def _forget_other_config_folders(base_dir: Path) -> None:
    """Drop from the module cache the modules an earlier config's folder provided under a
    name that this config's folder provides too, so that this config's imports (its
    factory's module and any sibling it imports) find the files beside this config.
    Modules this folder does not shadow stay cached: re-importing them would give their
    classes new identities for no reason."""
    here = base_dir.resolve()
    _CONFIG_FOLDERS.add(here)
    others = [folder for folder in _CONFIG_FOLDERS if folder != here]
    if not others:
        return
    shadowed = {
        top
        for top in {name.split(".")[0] for name in sys.modules}
        if (here / f"{top}.py").is_file() or (here / top / "__init__.py").is_file()
    }
    stale = []
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if not origin or name.split(".")[0] not in shadowed:
            continue
        path = Path(origin).resolve()
        if not path.is_relative_to(here) and any(path.is_relative_to(folder) for folder in others):
            stale.append(name)
    for name in stale:
        del sys.modules[name]
    if stale:
        importlib.invalidate_caches()


def check_params(factory: Callable[..., Any], params: Mapping[str, Any], key: str, what: str) -> None:
    """Reject keyword arguments the factory does not accept, naming the accepted ones."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return  # builtins without a signature: let the call itself complain
    parameters = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    accepted = [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    unknown = [name for name in params if name not in accepted]
    if unknown:
        import difflib

        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, accepted, n=1)
            hints.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise BuildError(
            f"{key}: {', '.join(hints)} not accepted by {what}; accepted: {', '.join(accepted) or 'none'}"
        )


def call_factory(factory: Callable[..., Any], params: Mapping[str, Any], key: str, what: str) -> Any:
    """Call ``factory(**params)``; any exception it raises becomes one :class:`BuildError`
    line (exit 2) that names the factory and the error, not a traceback (which a CI log
    would read as perfkit crashing, exit 1). Unknown or missing keyword arguments were
    already refused by :func:`check_params`, so an error here came from inside the
    factory: a ``TypeError``/``ValueError`` usually means a parameter value it rejected."""
    check_params(factory, params, key, what)
    try:
        return factory(**params)
    except PerfkitError:
        raise  # perfkit's own builders already name the key and the fix
    except (TypeError, ValueError) as exc:
        raise BuildError(
            f"{key}: {what} rejected its parameters ({type(exc).__name__}: {_first_line(exc)}); "
            "PERFKIT_DEBUG=1 shows the traceback"
        ) from exc
    except Exception as exc:  # user code can raise anything
        raise BuildError(
            f"{key}: {what} raised {type(exc).__name__}: {_first_line(exc)}; "
            "PERFKIT_DEBUG=1 shows the traceback"
        ) from exc


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else "(no message)"
