"""Shared fixtures: tiny CPU experiments that run in well under a second."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 0,
    "device": "cpu",
    "model": {"name": "convnet", "params": {"width": 4, "depth": 1, "num_classes": 4}},
    "data": {
        "name": "synthetic-images",
        "params": {"num_samples": 32, "image_size": 8, "num_classes": 4},
        "batch_size": 4,
    },
    "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
    "loop": {"steps": 3, "warmup_steps": 1},
}


@pytest.fixture
def tiny_config() -> dict[str, Any]:
    """A fresh copy of the tiny experiment as a dict."""
    return copy.deepcopy(TINY)


@pytest.fixture
def write_yaml(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a config dict to ``tmp_path/<name>.yaml`` and return the path."""

    def write(data: dict[str, Any], name: str = "exp") -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """One intra-op thread: tests run side by side on a 2-core machine without thrashing."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.set_num_threads(1)
