"""The YAML loader refuses alias bombs ("billion laughs") before expanding them, names the
file, and still reads configs that use a few aliases."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import yaml

from perfkit.config.loader import MAX_YAML_ALIASES, load_config, load_section, parse_override
from perfkit.errors import ConfigError
from tests.conftest import TINY


def bomb_text(width: int = 9, depth: int = 9) -> str:
    """``depth`` levels of ``width`` aliases each: width**depth values once expanded."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


def test_a_small_bomb_is_refused_quickly_with_little_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb_text())  # 9**9 = 387 million values from ~400 bytes
    assert path.stat().st_size < 500
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20  # the expansion never happens
    message = caught.value.message
    assert message.startswith(f"{path}: refused: its aliases expand to more than 100,000 values")
    assert "&anchor/*alias" in message and "\n" not in message


def test_too_many_aliases_are_refused_even_when_they_expand_little(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text("a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_YAML_ALIASES + 1)) + "]\n")
    with pytest.raises(ConfigError, match=rf"many\.yaml: refused: it uses more than {MAX_YAML_ALIASES} aliases"):
        load_config(path)


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [1, *a]\n")
    with pytest.raises(ConfigError, match=r"loop\.yaml: refused: an alias is used inside the value it names"):
        load_config(path)


def test_a_policy_file_bomb_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(bomb_text())
    with pytest.raises(ConfigError, match=r"policy\.yaml: refused: its aliases expand"):
        load_section(path, "gate")


def test_a_set_value_bomb_is_refused() -> None:
    flow = "{" + ", ".join(bomb_text().splitlines()) + "}"  # the same bomb as one flow mapping
    with pytest.raises(ConfigError, match=r"^--set model\.params\.x=\{l0: .*: refused: its aliases expand"):
        parse_override("model.params.x=" + flow)


def test_a_config_with_a_few_aliases_loads_with_its_lines(tmp_path: Path) -> None:
    text = yaml.safe_dump(TINY, sort_keys=False).replace("num_classes: 4\n", "num_classes: &classes 4\n", 1)
    text = text.replace("  params:\n    num_samples: 32\n    image_size: 8\n    num_classes: 4\n", "  params:\n    num_samples: 32\n    image_size: 8\n    num_classes: *classes\n")
    assert text.count("*classes") == 1
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    loaded = load_config(path)
    assert loaded.config.data.params["num_classes"] == 4
    assert loaded.where("data.batch_size") == f"{path}:{text.splitlines().index('  batch_size: 4') + 1}"
