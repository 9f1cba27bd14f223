"""Config validation: good files, unknown keys, wrong types, bad values, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from perfkit.config import Override, config_from_dict, load_config, parse_override
from perfkit.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["quickstart", "resnet", "transformer_lm", "mlp"])
def test_shipped_configs_are_valid(name: str) -> None:
    loaded = load_config(REPO / "configs" / f"{name}.yaml")
    assert loaded.config.name == name


def test_starter_template_is_valid() -> None:
    loaded = load_config(REPO / "perfkit" / "templates" / "starter.yaml")
    assert loaded.config.model.name == "convnet"
    assert loaded.config.toggles.amp == "off"  # YAML `off` is read as the string, not False


def test_defaults_and_name_from_file(write_yaml, tiny_config) -> None:  # type: ignore[no-untyped-def]
    del tiny_config["name"]
    loaded = load_config(write_yaml(tiny_config, "my_exp"))
    assert loaded.config.name == "my_exp"
    assert loaded.config.loop.grad_accum == 1
    assert loaded.config.toggles.cudnn_benchmark is None


def test_unknown_key_names_dotted_key_line_and_suggestion(write_yaml, tiny_config) -> None:  # type: ignore[no-untyped-def]
    tiny_config["data"]["num_worker"] = 2
    path = write_yaml(tiny_config)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "num_worker:" in text)
    assert str(err.value) == f"{path}:{line}: data.num_worker: unknown key; did you mean 'num_workers'?"


def test_unknown_section_lists_allowed_keys(write_yaml, tiny_config) -> None:  # type: ignore[no-untyped-def]
    tiny_config["toggels"] = {"amp": "bf16"}
    with pytest.raises(ConfigError, match=r"toggels: unknown key; did you mean 'toggles'\?"):
        load_config(write_yaml(tiny_config))


def test_wrong_type(write_yaml, tiny_config) -> None:  # type: ignore[no-untyped-def]
    tiny_config["data"]["batch_size"] = "big"
    with pytest.raises(ConfigError, match=r"data\.batch_size: expected an integer, got 'big'"):
        load_config(write_yaml(tiny_config))


def test_bad_value_num_workers(write_yaml, tiny_config) -> None:  # type: ignore[no-untyped-def]
    tiny_config["data"]["num_workers"] = -1
    with pytest.raises(ConfigError) as err:
        load_config(write_yaml(tiny_config))
    message = str(err.value)
    assert "data.num_workers: must be >= 0 (got -1)" in message
    assert "use 0 to load in the main process" in message
    assert "\n" not in message


def test_bad_literal_lists_choices(write_yaml, tiny_config) -> None:  # type: ignore[no-untyped-def]
    tiny_config["toggles"] = {"amp": "fp32"}
    with pytest.raises(ConfigError, match=r"toggles\.amp: got 'fp32'; expected one of off, fp16, bf16"):
        load_config(write_yaml(tiny_config))


def test_unknown_component_names_suggest(write_yaml, tiny_config) -> None:  # type: ignore[no-untyped-def]
    tiny_config["model"]["name"] = "resnte"
    tiny_config["optimizer"]["name"] = "adamm"
    with pytest.raises(ConfigError) as err:
        load_config(write_yaml(tiny_config))
    text = str(err.value)
    assert "model.name: unknown model 'resnte' (did you mean 'resnet'?)" in text
    assert "optimizer.name: unknown optimizer 'adamm' (did you mean 'adam'?)" in text
    assert len(text.splitlines()) == 2  # one line per problem


def test_option_not_applicable_to_optimizer(write_yaml, tiny_config) -> None:  # type: ignore[no-untyped-def]
    tiny_config["optimizer"] = {"name": "adam", "momentum": 0.9}
    with pytest.raises(ConfigError, match=r"optimizer\.momentum: does not apply to optimizer 'adam' \(it is for sgd, rmsprop\)"):
        load_config(write_yaml(tiny_config))
    tiny_config["optimizer"] = {"name": "adam", "momentum": 0.9, "lr_decay": 0.1}
    with pytest.raises(ConfigError, match=r"remove it \(also: lr_decay\)$"):
        load_config(write_yaml(tiny_config))
    # "Off" values of options another optimizer has are no obstacle to switching.
    tiny_config["optimizer"] = {"name": "adam", "momentum": None, "nesterov": False, "centered": False}
    assert load_config(write_yaml(tiny_config)).config.optimizer.name == "adam"
    tiny_config["optimizer"] = {"name": "rmsprop", "fused": False}
    assert load_config(write_yaml(tiny_config)).config.optimizer.fused is False


def test_amp_on_is_not_a_mode() -> None:
    with pytest.raises(ConfigError, match=r"toggles\.amp: YAML reads on/yes/true as a boolean, not a mode; choose amp: bf16"):
        config_from_dict({"toggles": {"amp": True}})
    assert config_from_dict({"toggles": {"amp": False}}).config.toggles.amp == "off"


def test_nesterov_needs_momentum() -> None:
    with pytest.raises(ConfigError, match=r"optimizer\.nesterov: needs momentum > 0"):
        config_from_dict({"optimizer": {"name": "sgd", "nesterov": True}})


def test_worker_only_options_need_workers() -> None:
    with pytest.raises(ConfigError, match=r"data\.persistent_workers: needs num_workers > 0"):
        config_from_dict({"data": {"persistent_workers": True}})
    with pytest.raises(ConfigError, match=r"data\.prefetch_factor: needs num_workers > 0"):
        config_from_dict({"data": {"prefetch_factor": 4}})
    assert config_from_dict({"data": {"num_workers": 2, "persistent_workers": True}}).config.data.persistent_workers


def test_device_validation() -> None:
    with pytest.raises(ConfigError, match=r"device: 'gpu' is not one of auto, cpu, cuda, cuda:N"):
        config_from_dict({"device": "gpu"})
    assert config_from_dict({"device": "cuda:1"}).config.device == "cuda:1"
    # What torch.device would reject must be refused here, not crash later.
    for bad in ("cuda:01", "cuda:99999999999999999999", "cuda:\u0663", "cpu\n", " cpu"):
        with pytest.raises(ConfigError, match=r"is not one of auto, cpu, cuda, cuda:N"):
            config_from_dict({"device": bad})


def test_overrides_are_parsed_as_yaml_and_located(write_yaml, tiny_config) -> None:  # type: ignore[no-untyped-def]
    path = write_yaml(tiny_config)
    loaded = load_config(path, ["data.num_workers=2", "toggles.amp=bf16", "optimizer.betas=[0.8, 0.9]", "optimizer.name=adam", "optimizer.momentum=null"])
    assert loaded.config.data.num_workers == 2
    assert loaded.config.toggles.amp == "bf16"
    assert loaded.config.optimizer.betas == (0.8, 0.9)
    with pytest.raises(ConfigError, match=r"^--set loop\.stepz=3: loop\.stepz: unknown key; did you mean 'steps'\?$"):
        load_config(path, ["loop.stepz=3"])
    with pytest.raises(ConfigError, match=r"--set loop\.steps=0: loop\.steps: must be at least 1 \(got 0\)"):
        load_config(path, ["loop.steps=0"])
    # An error on a section whose key the user set deeper down blames that flag.
    with pytest.raises(ConfigError, match=r"^--set modle\.name=x: modle: unknown key; did you mean 'model'\?"):
        load_config(path, ["modle.name=x"])


def test_parse_override_rejects_malformed() -> None:
    assert parse_override("a.b=4") == Override(("a", "b"), 4, "--set a.b=4")
    assert parse_override("a=").value is None
    with pytest.raises(ConfigError) as err:
        parse_override("a=[1, 2")
    assert "\n" not in str(err.value) and "quote it" in str(err.value)
    for bad in ("novalue", "=3", "a..b=1"):
        with pytest.raises(ConfigError, match="expected KEY=VALUE"):
            parse_override(bad)


def test_override_into_a_value_is_an_error(write_yaml, tiny_config) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"device is a value, not a section"):
        load_config(write_yaml(tiny_config), ["device.x=1"])


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file; check the path"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  name: convnet\n   params: [\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:3: malformed YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: the top level must be a mapping"):
        load_config(listy)
    # An empty (or comment-only) file is a mistake, not a request for the defaults.
    with pytest.raises(ConfigError, match=r"empty\.yaml: the file is empty; .*perfkit init"):
        load_config(_empty(tmp_path))


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    return path


def test_sections_are_immutable(tiny_config) -> None:  # type: ignore[no-untyped-def]
    cfg = config_from_dict(tiny_config).config
    with pytest.raises(ValidationError):
        cfg.data.batch_size = 3  # type: ignore[misc]


def test_typed_overrides_are_not_parsed_as_yaml(write_yaml, tiny_config) -> None:  # type: ignore[no-untyped-def]
    path = write_yaml(tiny_config)
    loaded = load_config(path, [Override(("profiler", "dir"), "runs #1", "--trace-dir 'runs #1'")])
    assert loaded.config.profiler.dir == "runs #1"
    with pytest.raises(ConfigError, match=r"^--steps 0: loop\.steps: must be at least 1"):
        load_config(path, [Override(("loop", "steps"), 0, "--steps 0")])


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("data", {"batch_size": True}, r"data\.batch_size: expected an integer, got True"),
        ("data", {"prefetch_factor": True, "num_workers": 1}, r"data\.prefetch_factor: expected an integer, got True"),
        ("optimizer", {"lr": float("nan")}, r"optimizer\.lr: expected a finite number"),
        ("optimizer", {"lr": True}, r"optimizer\.lr: expected a number, got True"),
        ("loop", {"grad_clip": float("inf")}, r"loop\.grad_clip: expected a finite number"),
        ("data", {"num_workers": 10_000}, r"data\.num_workers: must be at most 256"),
        (None, {"seed": 10**25}, r"seed: must be in \[0, 2\*\*32\)"),
    ],
)
def test_nonsense_values_are_refused(section, values, message, tiny_config) -> None:  # type: ignore[no-untyped-def]
    if section is None:
        tiny_config.update(values)
    else:
        tiny_config[section] = {**tiny_config.get(section, {}), **values}
    with pytest.raises(ConfigError, match=message):
        config_from_dict(tiny_config)


def test_duplicate_and_non_string_keys(tmp_path: Path) -> None:
    dup = tmp_path / "dup.yaml"
    dup.write_text("data:\n  batch_size: 4\n  batch_size: 8\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml:3: data\.batch_size: duplicate key"):
        load_config(dup)
    boolkey = tmp_path / "bool.yaml"
    boolkey.write_text("toggles:\n  yes: 1\n")
    with pytest.raises(ConfigError, match=r"bool\.yaml:2: toggles\.yes: keys must be strings, YAML reads this one as bool; quote it"):
        load_config(boolkey)
