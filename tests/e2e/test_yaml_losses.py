"""YAML experiments with any batch and any loss: dict batches with `loss: model` and
`model.call: kwargs`, `loss: mse`, a custom loss callable, and the bad cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from perfkit.cli import app

USER_CODE = '''
import torch
from torch import nn


class DictTokens(torch.utils.data.Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        ids = torch.arange(8) % 5
        return {"input_ids": ids, "labels": ids.roll(-1), "meta": {"mask": torch.ones(8)}}


class LossInOutput(nn.Module):
    def __init__(self, key="loss", reduce=True):
        super().__init__()
        self.embed = nn.Embedding(5, 6)
        self.head = nn.Linear(6, 5)
        self.key, self.reduce = key, reduce

    def forward(self, input_ids, labels, meta):
        logits = self.head(self.embed(input_ids)) * meta["mask"].unsqueeze(-1)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="mean" if self.reduce else "none")
        return {self.key: loss, "logits": logits}


class Regression(torch.utils.data.Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        x = torch.full((3,), float(i % 7))
        return x, x.sum(dim=0, keepdim=True)


class Pairs(torch.utils.data.Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        return {"a": torch.randn(4), "b": torch.randn(4)}


class PairModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, batch):
        return self.lin(batch["a"])


def contrastive(output, batch):
    calls.append(sorted(batch))
    return (output - batch["b"]).pow(2).mean()


calls = []
'''


def _config(**sections: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "losses",
        "device": "cpu",
        "optimizer": {"name": "sgd", "lr": 0.01},
        "loop": {"steps": 2, "warmup_steps": 1},
    }
    base.update(sections)
    return base


def _profile(tmp_path: Path, config: dict[str, Any]) -> tuple[int, str, dict[str, Any] | None]:
    (tmp_path / "usercode.py").write_text(USER_CODE)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "run.json"
    result = CliRunner().invoke(app, ["profile", str(path), "-q", "-o", str(out)])
    data = json.loads(out.read_text()) if out.exists() else None
    return result.exit_code, result.output, data


def _check_steps(data: dict[str, Any]) -> None:
    assert len(data["steps"]) == 3
    for step in data["steps"]:
        assert sum(step["host_ms"].values()) == pytest.approx(step["step_host_ms"], rel=1e-9)
        assert step["host_ms"]["forward"] > 0 and step["host_ms"]["backward"] > 0
        assert step["samples"] == 4 and step["loss"] is not None


def test_dict_batches_with_the_loss_in_the_models_output(tmp_path: Path) -> None:
    code, output, data = _profile(
        tmp_path,
        _config(
            loss="model",
            model={"name": "usercode:LossInOutput", "call": "kwargs"},
            data={"name": "usercode:DictTokens", "batch_size": 4},
        ),
    )
    assert code == 0, output
    assert data is not None
    _check_steps(data)
    # FLOPs are counted on the same call: embedding (no FLOPs) + head 2·(4·8)·6·5 forward,
    # and the head's weight gradient of the same size (its input needs a gradient too:
    # the embedding's), so 3× in all.
    assert data["counters"]["flops_per_step"] == 3 * 2 * (4 * 8) * 6 * 5


def test_mse_with_float_targets(tmp_path: Path) -> None:
    code, output, data = _profile(
        tmp_path,
        _config(loss="mse", model={"name": "mlp", "params": {"input_dim": 3, "hidden": 8, "num_classes": 1}}, data={"name": "usercode:Regression", "batch_size": 4}),
    )
    assert code == 0, output
    assert data is not None
    _check_steps(data)


def test_a_custom_loss_gets_the_output_and_the_batch(tmp_path: Path) -> None:
    import sys

    code, output, data = _profile(
        tmp_path,
        _config(
            loss="usercode:contrastive",
            model={"name": "usercode:PairModel", "call": "batch"},
            data={"name": "usercode:Pairs", "batch_size": 4},
        ),
    )
    assert code == 0, output
    assert data is not None
    _check_steps(data)
    # The callable saw the whole dict batch: 3 steps plus the FLOP-counting pass.
    assert sys.modules["usercode"].calls == [["a", "b"]] * 4
    sys.modules.pop("usercode")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"name": "usercode:LossInOutput", "call": "kwargs", "params": {"reduce": False}}, "loss: the model's output returned a tensor of shape (32,), not a scalar"),
        ({"name": "usercode:LossInOutput", "call": "kwargs", "params": {"key": "total"}}, "no 'loss' key (keys: total, logits)"),
        ({"name": "usercode:LossInOutput"}, "model.call"),
    ],
)
def test_bad_losses_are_one_line_naming_the_key(tmp_path: Path, model: dict[str, Any], message: str) -> None:
    code, output, _ = _profile(tmp_path, _config(loss="model", model=model, data={"name": "usercode:DictTokens", "batch_size": 4}))
    assert code == 2
    assert message in output and "Traceback" not in output


def test_an_unknown_loss_name_is_refused_before_training(tmp_path: Path) -> None:
    code, output, _ = _profile(tmp_path, _config(loss="crossentropy"))
    assert code == 2 and "loss" in output and "cross-entropy" in output
