"""`perfkit validate` refuses what `perfkit profile` refuses before training, with the same
line: factory keyword arguments (the signature is bound), impossible built-in parameters,
an image-folder root that does not exist, built-in models and datasets that do not fit."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from perfkit.cli import app
from tests.conftest import TINY

runner = CliRunner()


def invoke(*args: Any):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    err = result.stderr.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert "valid ·" not in result.stdout
    return err


USER_CODE = (
    "import torch\n"
    "def one_arg_loss(output):\n"
    "    return output.sum()\n"
    "def needs_out(out):\n"
    "    return torch.nn.Linear(4, out)\n"
    "class Data(torch.utils.data.Dataset):\n"
    "    def __init__(self, n=8):\n"
    "        self.n = n\n"
    "    def __len__(self):\n"
    "        return self.n\n"
    "    def __getitem__(self, i):\n"
    "        return torch.zeros(4), 0\n"
)


def with_changes(changes: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(TINY)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = config
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return config


# (changes to the tiny config, fragments the one line must hold: the dotted key, the fix)
BAD_CASES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "unknown built-in keyword": (
        {"model.params.widht": 8},
        ("model.params: 'widht' (did you mean 'width'?) not accepted by built-in model 'convnet'", "accepted: in_channels"),
    ),
    "negative width": ({"model.params.width": -4}, ("model.params.width: must be a whole number >= 1", "(got -4)")),
    "zero classes": ({"model.params.num_classes": 0}, ("model.params.num_classes: must be a whole number >= 1",)),
    "zero depth": ({"model.params.depth": 0}, ("model.params.depth: must be a whole number >= 1",)),
    "width of the wrong type": ({"model.params.width": "wide"}, ("model.params.width: must be a whole number >= 1", "'wide'")),
    "resnet depth without a layout": (
        {"model": {"name": "resnet", "params": {"depth": 19, "width": 4, "num_classes": 4}}},
        ("model.params.depth: built-in model 'resnet' has the layouts 10, 18, 34, 50, 101, 152 (got 19)", "model.params.blocks"),
    ),
    "heads that do not divide the width": (
        {
            "model": {"name": "transformer", "params": {"d_model": 30, "n_heads": 4, "vocab_size": 64, "seq_len": 8}},
            "data": {"name": "synthetic-tokens", "params": {"num_samples": 16, "seq_len": 8, "vocab_size": 64}, "batch_size": 4},
        },
        ("model.params.d_model: 30 must be divisible by model.params.n_heads (4)",),
    ),
    "negative image size": ({"data.params.image_size": -8}, ("data.params.image_size: must be a whole number >= 1", "synthetic-images")),
    "zero samples": ({"data.params.num_samples": 0}, ("data.params.num_samples: must be a whole number >= 1",)),
    "negative busy work": ({"data.params.cpu_cost_us": -5}, ("data.params.cpu_cost_us: must be a number >= 0",)),
    "crop larger than the image": ({"data.params.crop_size": 9}, ("data.params.crop_size: 9 is larger than data.params.image_size (8)",)),
    "fewer samples than one batch": (
        {"data.params.num_samples": 3},
        ("data.batch_size: 4 is larger than the dataset (3 samples)", "lower the batch size"),
    ),
    "image-folder root that does not exist": (
        {"data": {"name": "image-folder", "params": {"root": "no-such-images", "image_size": 8}, "batch_size": 4}},
        ("data.params.root: ", "no-such-images is not a folder", "one sub-folder per class"),
    ),
    "image-folder without a root": (
        {"data": {"name": "image-folder", "params": {"image_size": 8}, "batch_size": 4}},
        ("data.params: built-in dataset 'image-folder' needs 'root'", "set data.params.root"),
    ),
    "labels past the classifier": (
        {"data.params.num_classes": 10},
        ("model.params.num_classes: 4 is fewer than data.params.num_classes (10)", "make it at least 10"),
    ),
    "more pooling than pixels": ({"model.params.depth": 4}, ("model.params.depth: 4 blocks halve the 8-pixel images", "at most 3 blocks")),
    "an image model on tokens": (
        {"data": {"name": "synthetic-tokens", "params": {"num_samples": 16}, "batch_size": 4}},
        ("model.name: built-in model 'convnet' cannot train on token sequences", "use transformer"),
    ),
    "a cosine schedule shorter than the run": (
        {"optimizer.scheduler": {"name": "cosine", "total_steps": 2}},
        ("optimizer.scheduler.total_steps: cosine over 2 steps would climb back up", "raise it or leave it unset"),
    ),
    "an option this optimizer does not have": (
        {"optimizer": {"name": "adagrad", "lr": 0.01, "nesterov": True}},
        ("optimizer.nesterov:",),
    ),
    "a loss that cannot be imported": (
        {"loss": "usercode_validate:no_such_loss"},
        ("loss: module 'usercode_validate' has no attribute 'no_such_loss'",),
    ),
    "a loss that cannot take (output, batch)": (
        {"loss": "usercode_validate:one_arg_loss"},
        ("loss: 'usercode_validate:one_arg_loss' must accept (output, batch)", "change its signature"),
    ),
    "user factory missing a required argument": (
        {"model": {"name": "usercode_validate:needs_out"}},
        ("model.params: 'usercode_validate:needs_out' needs 'out'", "set model.params.out"),
    ),
    "user factory given an unknown keyword": (
        {"model": {"name": "usercode_validate:needs_out", "params": {"out": 2, "bias": False}}},
        ("model.params: 'bias' not accepted by 'usercode_validate:needs_out'", "accepted: out"),
    ),
    "user dataset given an unknown keyword": (
        {"data": {"name": "usercode_validate:Data", "params": {"size": 8}, "batch_size": 4}},
        ("data.params: 'size' not accepted by 'usercode_validate:Data'", "accepted: n"),
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_validate_and_profile_refuse_alike(case: str, tmp_path: Path) -> None:
    changes, fragments = BAD_CASES[case]
    (tmp_path / "usercode_validate.py").write_text(USER_CODE)
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(with_changes(changes), sort_keys=False))
    out = tmp_path / "run.json"
    try:
        checked = one_error_line(invoke("validate", config))
        profiled = one_error_line(invoke("profile", config, "-q", "-o", out))
    finally:
        import sys

        if str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))
        sys.modules.pop("usercode_validate", None)
    for fragment in fragments:
        assert fragment in checked, checked
    # The line says where the key was set (the file and line) ...
    assert checked.startswith(f"error: {config}:"), checked
    # ... and profile refuses with the very same line, before any training.
    assert profiled == checked
    assert not out.exists()


def test_the_line_points_at_the_bad_key(tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(
        "name: tiny\ndevice: cpu\nmodel:\n  name: convnet\n  params:\n    width: -4\n    num_classes: 4\n"
        "data:\n  params: {num_samples: 32, image_size: 8, num_classes: 4}\n  batch_size: 4\n"
    )
    err = one_error_line(invoke("validate", config))
    assert err.startswith(f"error: {config}:6: model.params.width: must be a whole number >= 1"), err


def test_a_shorthand_override_is_blamed(tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(TINY))
    err = one_error_line(invoke("validate", config, "--set", "model.params.width=0"))
    assert err.startswith("error: --set model.params.width=0: model.params.width: must be a whole number >= 1"), err


def test_valid_configs_stay_valid(tmp_path: Path) -> None:
    """The checks refuse nothing that trains: the tiny config, and the shipped examples."""
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(TINY))
    assert invoke("validate", config).exit_code == 0
    for example in sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml")):
        result = invoke("validate", example, "--device", "cpu")
        assert result.exit_code == 0, (example, result.output)
        assert "valid ·" in result.stdout


def test_image_folder_needs_images_and_a_whole_batch(tmp_path: Path) -> None:
    from PIL import Image  # Pillow comes with matplotlib, a dev dependency

    (tmp_path / "images" / "cat").mkdir(parents=True)
    (tmp_path / "images" / "notes.txt").write_text("not a class folder")
    data = {"name": "image-folder", "params": {"root": "images", "image_size": 8}, "batch_size": 4}
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(with_changes({"data": data})))
    empty = one_error_line(invoke("validate", config))
    assert "data.params.root: no images (.jpg" in empty and "images/<class>/" in empty
    assert one_error_line(invoke("profile", config, "-q")) == empty
    for i in range(3):
        Image.new("RGB", (10, 10)).save(tmp_path / "images" / "cat" / f"{i}.png")
    short = one_error_line(invoke("validate", config))
    assert "data.batch_size: 4 is larger than the dataset (3 samples) with drop_last: true" in short
    assert one_error_line(invoke("profile", config, "-q")) == short
    ok = invoke("validate", config, "--set", "data.batch_size=3")
    assert ok.exit_code == 0, ok.output


def test_the_fit_checks_follow_the_loss_and_the_call(tmp_path: Path) -> None:
    """Labels are judged against the classifier only with the cross-entropy loss, and
    shapes only when the model gets the input (model.call: input)."""
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(with_changes({"data.params.num_classes": 10})))
    assert invoke("validate", config).exit_code == 2
    assert invoke("validate", config, "--set", "loss=mse").exit_code == 0
    assert invoke("validate", config, "--set", "model.call=batch").exit_code == 0
