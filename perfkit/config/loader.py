"""Read an experiment YAML, apply ``--set`` overrides and validate it.

Errors name the dotted key, where it came from (``file:line`` or the ``--set`` that
introduced it) and the fix, one line per problem. The YAML is read once with PyYAML's safe
loader: the node tree gives line numbers, the same nodes give the data. Alias bombs
("billion laughs") are refused before anything is expanded (:data:`MAX_YAML_ALIASES`,
:data:`MAX_YAML_EXPANDED_VALUES`).
"""

from __future__ import annotations

import difflib
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from perfkit.config.schema import ExperimentConfig
from perfkit.errors import ConfigError, InputError, PerfkitError

Key = tuple[str, ...]
_KEY_PREFIX = re.compile(r"^([a-z_]+(?:\.[a-z_]+)*): ")


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config plus where each key came from, for error messages."""

    config: ExperimentConfig
    path: Path | None = None
    lines: Mapping[Key, int] = field(default_factory=dict)
    overrides: Mapping[Key, str] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        """The folder user code (``module:callable``) is resolved from first."""
        return self.path.parent.resolve() if self.path is not None else Path.cwd()

    def where(self, dotted_key: str) -> str:
        """``exp.yaml:12``, ``--set a.b=1`` or the file name, for the given dotted key."""
        return _where(tuple(dotted_key.split(".")), self.path, self.lines, self.overrides)

    def locate(self, exc: PerfkitError) -> PerfkitError:
        """The same error, prefixed with where the dotted key it starts with was set."""
        match = _KEY_PREFIX.match(exc.message)
        if match is None or (self.path is None and not self.overrides):
            return exc
        located = type(exc)(f"{self.where(match.group(1))}: {exc.message}")
        located.exit_code = exc.exit_code
        return located


@dataclass(frozen=True)
class Override:
    """One override of a config key. ``label`` is how the user wrote it, for errors
    (``--set data.num_workers=4``, ``--workers 4``)."""

    key: Key
    value: Any
    label: str


OverrideLike = str | Override


def load_config(path: str | Path, overrides: Sequence[OverrideLike] = ()) -> LoadedConfig:
    """Load and validate ``path`` with overrides applied in order.

    A string override is ``--set`` syntax (``a.b=value``, value parsed as YAML); an
    :class:`Override` carries an already-typed value (the CLI's shorthand flags).
    """
    source = Path(path)
    text = _read_text(source, "an experiment YAML file", f"no such file; check the path (or create one with 'perfkit init {source}')")
    data, node = _parse_yaml(source, text)
    if data is None:
        raise ConfigError(f"{source}: the file is empty; describe an experiment there (start from 'perfkit init {source} --force')")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the top level must be a mapping of sections (name, model, data, "
            f"optimizer, loop, toggles), not a {type(data).__name__}"
        )
    data.setdefault("name", source.stem)
    lines: dict[Key, int] = {}
    if node is not None:
        _collect_lines(node, (), lines, source)
    return _validate(data, overrides, source, lines)


def load_section(path: str | Path, section: str) -> LoadedConfig:
    """Load a file that holds one section's keys, at its top level or under the section's
    own name (``gate:`` copied from an experiment file), validated as that section of an
    otherwise default config. Errors name ``section.key`` and the file's line."""
    source = Path(path)
    text = _read_text(source, f"a YAML file of {section} keys", "no such file; check the path")
    data, node = _parse_yaml(source, text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of {section} keys, not a {type(data).__name__}")
    lines: dict[Key, int] = {}
    wrapped = list(data) == [section] and isinstance(data[section], dict | None)
    if node is not None:
        _collect_lines(node, () if wrapped else (section,), lines, source)
    return _validate({section: (data[section] or {}) if wrapped else data}, (), source, lines)


def config_from_dict(data: Mapping[str, Any], overrides: Sequence[OverrideLike] = ()) -> LoadedConfig:
    """Validate an in-memory config (used by tests and by saved results)."""
    return _validate(dict(data), overrides, None, {})


def parse_override(text: str, flag: str = "--set") -> Override:
    """Split ``a.b.c=value`` and parse ``value`` as YAML (so ``4`` is an int, ``[1,2]`` a list).

    ``flag`` is the option the user wrote it with (``--set``, ``--vs``), for errors."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    label = f"{flag} {text}"
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"{label}: expected KEY=VALUE with a dotted key, e.g. {flag} data.num_workers=4")
    try:
        value = _load_yaml(raw)[0] if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: the value is not valid YAML ({_yaml_problem(exc)}); quote it") from exc
    except _TooManyAliases as exc:
        raise ConfigError(f"{label}: refused: {exc}; write the value out") from None
    return Override(tuple(key.split(".")), value, label)


#: Most aliases (``*name``) one YAML text may use, and most values it may expand to
#: through them. A real experiment uses a handful of each; an alias bomb ("billion
#: laughs") needs many, and expands exponentially without these caps.
MAX_YAML_ALIASES = 100
MAX_YAML_EXPANDED_VALUES = 100_000


class _AliasCountingLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that counts aliases while composing and stops at the cap."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                raise _TooManyAliases(f"it uses more than {MAX_YAML_ALIASES} aliases (*name)")
        return super().compose_node(parent, index)


class _TooManyAliases(Exception):
    """The YAML uses aliases beyond the caps (the message says which)."""


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """How many values ``node`` stands for once every alias is copied out (memoised per
    node, so it costs one visit per distinct node). Raises on a node that contains itself
    and on a size past the cap."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise _TooManyAliases("an alias is used inside the value it names")
    open_nodes.add(key)
    total = 1
    if isinstance(node, yaml.MappingNode):
        children: list[yaml.Node] = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    for child in children:
        total += _expanded_size(child, sizes, open_nodes)
        if total > MAX_YAML_EXPANDED_VALUES:
            raise _TooManyAliases(f"its aliases expand to more than {MAX_YAML_EXPANDED_VALUES:,} values")
    open_nodes.discard(key)
    sizes[key] = total
    return total


def _load_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """The YAML's data (safe types only) and its node tree (for line numbers), from one
    parse. Raises :class:`_TooManyAliases` on an alias bomb: more than
    :data:`MAX_YAML_ALIASES` aliases, a recursive alias, or more than
    :data:`MAX_YAML_EXPANDED_VALUES` values once expanded."""
    loader = _AliasCountingLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None and loader.aliases:
            _expanded_size(node, {}, set())
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return data, node


def _parse_yaml(source: Path, text: str) -> tuple[Any, yaml.Node | None]:
    """:func:`_load_yaml`, its failures as one-line :class:`ConfigError` naming the file."""
    try:
        return _load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}{_yaml_position(exc)}: malformed YAML: {_yaml_problem(exc)}; fix the syntax there") from exc
    except _TooManyAliases as exc:
        raise ConfigError(
            f"{source}: refused: {exc} (an alias bomb?); write the values out "
            "instead of repeating them through &anchor/*alias"
        ) from None


def _read_text(source: Path, what: str, missing: str) -> str:
    """The text of a YAML file the user named; a missing, unreadable or special file is a
    one-line :class:`ConfigError` naming it."""
    from perfkit.io import input_stat, os_error_message

    try:
        mode = input_stat(source, missing).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(f"{source}: is a directory; pass {what}")
        return source.read_text(encoding="utf-8")
    except InputError as exc:
        raise ConfigError(exc.message) from None
    except OSError as exc:
        raise ConfigError(os_error_message(source, exc)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start}); pass {what}") from exc


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
    return str(problem)


def _yaml_position(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f":{mark.line + 1}" if mark is not None else ""


def apply_override(data: dict[str, Any], key: Key, value: Any, text: str) -> None:
    """Set ``data[key[0]][key[1]]... = value``, creating missing sections."""
    cursor: dict[str, Any] = data
    for depth, part in enumerate(key[:-1]):
        nxt = cursor.get(part)
        if nxt is None:
            nxt = {}
            cursor[part] = nxt
        if not isinstance(nxt, dict):
            prefix = ".".join(key[: depth + 1])
            raise ConfigError(f"{text}: {prefix} is a value, not a section; set {prefix}=... instead")
        cursor = nxt
    cursor[key[-1]] = value


def _validate(
    data: dict[str, Any], overrides: Sequence[OverrideLike], path: Path | None, lines: Mapping[Key, int]
) -> LoadedConfig:
    origin: dict[Key, str] = {}
    for item in overrides:
        override = parse_override(item) if isinstance(item, str) else item
        apply_override(data, override.key, override.value, override.label)
        origin[override.key] = override.label
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        messages = [_format_error(err, path, lines, origin) for err in exc.errors()]
        raise ConfigError("\n".join(dict.fromkeys(messages))) from None
    return LoadedConfig(config=config, path=path, lines=dict(lines), overrides=origin)


def _collect_lines(node: yaml.Node, prefix: Key, out: dict[Key, int], source: Path) -> None:
    """Record the line of every key; refuse duplicate and non-string keys (YAML would
    silently keep the last duplicate, and read ``yes:`` as the boolean True)."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            dotted = ".".join((*prefix, str(key_node.value)))
            if key_node.tag != "tag:yaml.org,2002:str":
                raise ConfigError(
                    f"{source}:{line}: {dotted}: keys must be strings, YAML reads this one as "
                    f"{key_node.tag.rsplit(':', 1)[-1]}; quote it"
                )
            if key_node.value in seen:
                raise ConfigError(f"{source}:{line}: {dotted}: duplicate key; keep one of them")
            seen.add(key_node.value)
            key = (*prefix, str(key_node.value))
            out[key] = line
            _collect_lines(value_node, key, out, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            key = (*prefix, str(index))
            out[key] = item.start_mark.line + 1
            _collect_lines(item, key, out, source)


def _where(key: Key, path: Path | None, lines: Mapping[Key, int], overrides: Mapping[Key, str]) -> str:
    """Where ``key`` was set: the override that set it or a key under it (an error on
    ``model.params`` after ``--set model.params.n_heads=3`` blames that flag, the one
    thing the user changed), else the nearest YAML line at or above it, else the file."""
    if key in overrides:
        return overrides[key]
    deeper = [label for k, label in overrides.items() if len(k) > len(key) and k[: len(key)] == key]
    if deeper:
        return deeper[-1]
    for depth in range(len(key), 0, -1):
        prefix = key[:depth]
        if prefix in overrides:
            return overrides[prefix]
        if prefix in lines and path is not None:
            return f"{path}:{lines[prefix]}"
    return str(path) if path is not None else "config"


def _dotted(loc: Key) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _format_error(
    err: Mapping[str, Any], path: Path | None, lines: Mapping[Key, int], overrides: Mapping[Key, str]
) -> str:
    loc: Key = tuple(str(part) for part in err["loc"])
    message = str(err["msg"])
    kind = str(err["type"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if message.startswith("@"):
        blamed, _, message = message[1:].partition(": ")
        loc = (*loc, blamed)
    given = err.get("input")
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        close = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        message = f"unknown key; {hint}"
    elif kind == "literal_error":
        expected = str(err.get("ctx", {}).get("expected", "")).replace("'", "")
        message = f"got {given!r}; expected one of {expected.replace(' or ', ', ')}"
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        message = f"expected an integer, got {given!r}"
    elif kind in ("float_type", "float_parsing"):
        message = f"expected a number, got {given!r}"
    elif kind == "finite_number":
        message = f"expected a finite number, got {given!r}"
    elif kind in ("bool_type", "bool_parsing"):
        message = f"expected true or false, got {given!r}"
    elif kind in ("string_type",):
        message = f"expected a string, got {given!r}"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        message = f"expected a mapping (a YAML section), got {given!r}"
    elif kind in ("tuple_type", "list_type", "too_short", "too_long"):
        message = f"{message[0].lower()}{message[1:]}, got {given!r}"
    where = _where(loc, path, lines, overrides)
    return f"{where}: {_dotted(loc)}: {message}"


def _fields_at(loc: Key) -> list[str]:
    """The allowed field names of the section at ``loc`` (for did-you-mean)."""
    model: type[BaseModel] = ExperimentConfig
    for part in loc:
        info = model.model_fields.get(part)
        annotation = getattr(info, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
