"""Resolve ``package.module:callable`` strings, bind keyword parameters to factories, and
import the optional extras (torchvision, timm, Pillow, matplotlib) with one-line errors.

Torch-free: the report renderer imports :func:`import_extra` for matplotlib."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
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


def bind_params(factory: Callable[..., Any], params: Mapping[str, Any], key: str, what: str) -> inspect.BoundArguments | None:
    """Bind ``params`` as keyword arguments to the factory's signature, with its defaults
    applied, exactly as ``factory(**params)`` would; a keyword it does not accept or a
    required argument left out is a :class:`BuildError` naming the key and the fix.
    ``None`` for callables without a signature (some builtins): the call itself checks."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    parameters = signature.parameters.values()
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    accepted = [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    unknown = [name for name in params if name not in accepted]
    if unknown and not takes_any:
        import difflib

        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, accepted, n=1)
            hints.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise BuildError(
            f"{key}: {', '.join(hints)} not accepted by {what}; accepted: {', '.join(accepted) or 'none'}"
        )
    try:
        bound = signature.bind(**params)
    except TypeError as exc:  # a required argument is missing, or positional-only ones given by name
        missing = [
            p.name
            for p in parameters
            if p.default is inspect.Parameter.empty
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
            and p.name not in params
        ]
        if missing:
            raise BuildError(
                f"{key}: {what} needs {', '.join(repr(m) for m in missing)}; "
                f"set {', '.join(f'{key}.{m}' for m in missing)}"
            ) from exc
        raise BuildError(f"{key}: {what} cannot take these parameters ({exc}); accepted: {', '.join(accepted) or 'none'}") from exc
    bound.apply_defaults()
    return bound


#: A rule for one built-in parameter: the requirement it breaks (``"a whole number >= 1"``),
#: or ``None`` when the value is fine.
Rule = Callable[[Any], str | None]


def whole(minimum: int) -> Rule:
    def rule(value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
        return None if ok else f"a whole number >= {minimum}"

    return rule


def whole_list(minimum: int) -> Rule:
    def rule(value: Any) -> str | None:
        ok = (
            isinstance(value, (list, tuple))
            and len(value) > 0
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value)
        )
        return None if ok else f"a non-empty list of whole numbers >= {minimum}"

    return rule


def fraction() -> Rule:
    def rule(value: Any) -> str | None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1
        return None if ok else "a number in [0, 1)"

    return rule


def at_least(minimum: float) -> Rule:
    def rule(value: Any) -> str | None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= minimum
        return None if ok else f"a number >= {minimum:g}"

    return rule


def text() -> Rule:
    return lambda value: None if isinstance(value, str) and value else "a non-empty string"


def boolean() -> Rule:
    return lambda value: None if isinstance(value, bool) else "true or false"


def one_of(*choices: str) -> Rule:
    return lambda value: None if value in choices else "one of " + ", ".join(repr(c) for c in choices)


def optional(inner: Rule) -> Rule:
    return lambda value: None if value is None else inner(value)


def check_rules(rules: Mapping[str, Rule], arguments: Mapping[str, Any], key: str, what: str) -> None:
    """Check a built-in factory's bound arguments (defaults applied) against its rules;
    the first broken one is a :class:`BuildError` naming ``key.param`` and what it must be."""
    for name, rule in rules.items():
        if name not in arguments:
            continue
        need = rule(arguments[name])
        if need is not None:
            raise BuildError(f"{key}.{name}: must be {need} for {what} (got {arguments[name]!r})")


def call_factory(factory: Callable[..., Any], params: Mapping[str, Any], key: str, what: str) -> Any:
    """Call ``factory(**params)``; any exception it raises becomes one :class:`BuildError`
    line (exit 2) that names the factory and the error, not a traceback (which a CI log
    would read as perfkit crashing, exit 1). Unknown or missing keyword arguments are
    refused first by :func:`bind_params`, so an error here came from inside the factory:
    a ``TypeError``/``ValueError`` usually means a parameter value it rejected."""
    bind_params(factory, params, key, what)
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


# --- optional extras -------------------------------------------------------------------


@dataclass(frozen=True)
class Extra:
    """An optional dependency: its import name, its distribution, perfkit's extra for it,
    and whether its wheels are built against one torch release (a mismatch then fails at
    import time, e.g. ``RuntimeError: operator torchvision::nms does not exist``)."""

    module: str
    package: str
    extra: str
    torch_build: bool = False


TORCHVISION = Extra("torchvision", "torchvision", "vision", torch_build=True)
TIMM = Extra("timm", "timm", "timm")
PILLOW = Extra("PIL.Image", "Pillow", "images")
MATPLOTLIB = Extra("matplotlib.pyplot", "matplotlib", "plot")


def import_extra(
    extra: Extra, key: str, need: str, alternative: str = "", error: type[PerfkitError] = BuildError
) -> ModuleType:
    """Import an optional extra, or raise one line (``error``, exit 2) naming ``key`` (the
    dotted config key or option; empty: none), the package, and the fix: install it when
    it is missing; when it is installed but fails to import (any exception, e.g. a
    torchvision built for another torch), its version, torch's version and how to get
    matching builds. ``need`` says what needs it (``torchvision:resnet18``);
    ``alternative`` is appended to the fix. torch itself is not imported here: the
    installed versions come from the package metadata."""
    try:
        importlib.import_module(extra.module.partition(".")[0])  # the package first, even if a submodule is cached
        return importlib.import_module(extra.module)
    except Exception as exc:  # an extra broken at import time raises anything (RuntimeError, OSError, ...)
        failure: BaseException = exc
    top = extra.module.partition(".")[0]
    version = installed_version(extra.package, extra.module)
    also = f", or {alternative}" if alternative else ""
    where = f"{key}: " if key else ""
    absent = isinstance(failure, ModuleNotFoundError) and failure.name in (top, extra.module)
    if version is None or absent:  # absent: metadata left behind by a removed package
        raise error(
            f"{where}{need} needs {extra.package}, which is not installed; "
            f"pip install 'perfkit[{extra.extra}]'{also}"
        ) from failure
    torch_version = installed_version("torch", "torch") or "(not installed)"
    raise error(
        f"{where}{need} needs {extra.package}, but {extra.package} {version} fails to import beside "
        f"torch {torch_version} ({type(failure).__name__}: {_first_line(failure)}); "
        f"{_reinstall_hint(extra, torch_version, failure)}{also}"
    ) from failure


def installed_version(package: str, module: str = "") -> str | None:
    """The installed version of distribution ``package`` (or of whichever distribution
    provides top-level module ``module``), from its metadata; ``None`` when not installed."""
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        pass
    top = module.partition(".")[0]
    for name in metadata.packages_distributions().get(top, []) if top else []:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _reinstall_hint(extra: Extra, torch_version: str, failure: BaseException) -> str:
    if extra.torch_build:
        return _torch_build_hint(extra.package, torch_version)
    if extra is TIMM and "torchvision" in str(failure):
        return "timm imports torchvision; " + _torch_build_hint("torchvision", torch_version)
    return f"reinstall it: pip install --force-reinstall {extra.package}"


def _torch_build_hint(package: str, torch_version: str) -> str:
    """Install the torchvision release made for this torch, from the index torch came
    from (``2.13.0+cpu``: torchvision 0.28 from download.pytorch.org/whl/cpu)."""
    release, _, local = torch_version.partition("+")
    parts = release.split(".")
    pin = ""
    if package == "torchvision" and len(parts) >= 2 and parts[0] == "2" and parts[1].isdigit():
        pin = f"==0.{int(parts[1]) + 15}.*"  # torch 2.N pairs with torchvision 0.(N+15)
    index = f" --index-url https://download.pytorch.org/whl/{local}" if local else ""
    return (
        f"install the {package} build made for torch {torch_version}: "
        f"pip install --force-reinstall --no-deps '{package}{pin}'{index}"
    )
