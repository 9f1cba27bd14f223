"""Model builder: built-in networks, torchvision/timm models and user factories.

``build_model`` receives only the ``model:`` section. The built-ins need nothing beyond
torch, so every example config runs on a bare install:

* ``mlp``: flatten, ``depth`` hidden Linear+ReLU layers, classifier.
* ``convnet``: a small CNN (conv-BN-ReLU blocks with pooling), the quickstart model.
* ``resnet``: a ResNet with configurable depth (18/34/50/101/152 or explicit ``blocks``)
  and ``width``, BatchNorm, basic or bottleneck blocks, a CIFAR (3x3) or ImageNet (7x7)
  stem.
* ``transformer``: a decoder-only language model with causal scaled-dot-product attention.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from perfkit.build.imports import (
    TIMM,
    TORCHVISION,
    Rule,
    bind_params,
    boolean,
    call_factory,
    check_rules,
    fraction,
    import_extra,
    one_of,
    optional,
    resolve_callable,
    whole,
    whole_list,
)
from perfkit.config.schema import ModelConfig
from perfkit.errors import BuildError


class MLP(nn.Module):
    """Flatten the input, then ``depth`` hidden layers of ``hidden`` units."""

    def __init__(
        self,
        input_dim: int = 3 * 32 * 32,
        hidden: int = 512,
        depth: int = 3,
        num_classes: int = 10,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = input_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # type: ignore[no-any-return]


class ConvNet(nn.Module):
    """``depth`` blocks of conv3x3-BN-ReLU + 2x2 max-pool, channels doubling, then a head."""

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        width: int = 32,
        depth: int = 3,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        channels = in_channels
        for i in range(depth):
            out = width * (2**i)
            blocks.append(nn.Conv2d(channels, out, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                blocks.append(nn.BatchNorm2d(out))
            blocks += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # type: ignore[no-any-return]


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(inplanes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x), inplace=True)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.shortcut = _shortcut(inplanes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x), inplace=True)


def _shortcut(inplanes: int, outplanes: int, stride: int) -> nn.Module:
    if stride == 1 and inplanes == outplanes:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(inplanes, outplanes, 1, stride, bias=False), nn.BatchNorm2d(outplanes))


_RESNET_LAYOUTS: dict[int, tuple[type[nn.Module], tuple[int, ...]]] = {
    10: (BasicBlock, (1, 1, 1, 1)),
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class ResNet(nn.Module):
    """ResNet (He et al. 2015) without torchvision.

    ``depth`` picks the standard layout; ``blocks`` (e.g. ``[2, 2, 2, 2]``) overrides it.
    ``width`` is the first stage's channels (64 in the paper). ``stem='cifar'`` uses a 3x3
    stride-1 stem for small images; ``'imagenet'`` the 7x7 stride-2 stem plus max-pool.
    """

    def __init__(
        self,
        depth: int = 18,
        width: int = 64,
        num_classes: int = 10,
        in_channels: int = 3,
        blocks: Sequence[int] | None = None,
        bottleneck: bool | None = None,
        stem: str = "cifar",
    ) -> None:
        super().__init__()
        if depth not in _RESNET_LAYOUTS and blocks is None:
            raise ValueError(f"depth must be one of {sorted(_RESNET_LAYOUTS)} or give blocks=[...]")
        default_block, default_layout = _RESNET_LAYOUTS.get(depth, (BasicBlock, (2, 2, 2, 2)))
        block: type[nn.Module] = default_block
        if bottleneck is not None:
            block = Bottleneck if bottleneck else BasicBlock
        layout = tuple(blocks) if blocks is not None else default_layout
        if stem == "cifar":
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
            )
        elif stem == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, width, 7, 2, 3, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1),
            )
        else:
            raise ValueError(f"stem must be 'cifar' or 'imagenet', got {stem!r}")
        expansion = int(getattr(block, "expansion"))  # noqa: B009 - class attribute of the chosen block
        stages: list[nn.Module] = []
        inplanes = width
        for index, count in enumerate(layout):
            planes = width * (2**index)
            for j in range(count):
                stride = 2 if (index > 0 and j == 0) else 1
                stages.append(block(inplanes, planes, stride))
                inplanes = planes * expansion
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(inplanes, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))  # type: ignore[no-any-return]


class DecoderBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, mlp_ratio: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(), nn.Linear(mlp_ratio * d_model, d_model)
        )
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        shape = (b, t, self.n_heads, c // self.n_heads)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        attn = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )
        x = x + self.proj(attn.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.ln2(x))  # type: ignore[no-any-return]


class TransformerLM(nn.Module):
    """A GPT-style decoder-only LM: token + learned position embeddings, pre-LN blocks.

    Input ``(batch, seq_len)`` token ids; output ``(batch, seq_len, vocab_size)`` logits.
    """

    def __init__(
        self,
        vocab_size: int = 1024,
        d_model: int = 128,
        n_layers: int = 2,
        n_heads: int = 4,
        seq_len: int = 128,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
        tie_weights: bool = True,
    ) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.seq_len = seq_len
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(seq_len, d_model)
        self.blocks = nn.Sequential(*(DecoderBlock(d_model, n_heads, mlp_ratio, dropout) for _ in range(n_layers)))
        self.ln = nn.LayerNorm(d_model)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_weights:
            self.lm_head.weight = self.tok.weight
        nn.init.normal_(self.tok.weight, std=1.0 / math.sqrt(d_model))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        if t > self.seq_len:
            raise ValueError(f"sequence of {t} tokens is longer than the model's seq_len {self.seq_len}")
        pos = torch.arange(t, device=idx.device)
        x = self.tok(idx) + self.pos(pos)
        return self.lm_head(self.ln(self.blocks(x)))  # type: ignore[no-any-return]


BUILTIN_MODEL_FACTORIES: dict[str, Callable[..., nn.Module]] = {
    "mlp": MLP,
    "convnet": ConvNet,
    "resnet": ResNet,
    "transformer": TransformerLM,
}


#: What each built-in model's parameters must be, checked before anything is built (by
#: ``perfkit validate`` too): a negative width or zero classes would otherwise build
#: something else silently (``range(-1)`` is empty) or fail inside torch.
BUILTIN_MODEL_RULES: dict[str, dict[str, Rule]] = {
    "mlp": {"input_dim": whole(1), "hidden": whole(1), "depth": whole(1), "num_classes": whole(1), "dropout": fraction()},
    "convnet": {"in_channels": whole(1), "num_classes": whole(1), "width": whole(1), "depth": whole(1), "batch_norm": boolean()},
    "resnet": {
        "depth": whole(1),
        "width": whole(1),
        "num_classes": whole(1),
        "in_channels": whole(1),
        "blocks": optional(whole_list(1)),
        "bottleneck": optional(boolean()),
        "stem": one_of("cifar", "imagenet"),
    },
    "transformer": {
        "vocab_size": whole(1),
        "d_model": whole(1),
        "n_layers": whole(1),
        "n_heads": whole(1),
        "seq_len": whole(1),
        "mlp_ratio": whole(1),
        "dropout": fraction(),
        "tie_weights": boolean(),
    },
}


def _check_builtin_model(name: str, args: Mapping[str, Any], key: str) -> None:
    what = f"built-in model '{name}'"
    check_rules(BUILTIN_MODEL_RULES[name], args, key, what)
    if name == "resnet" and args["blocks"] is None and args["depth"] not in _RESNET_LAYOUTS:
        raise BuildError(
            f"{key}.depth: {what} has the layouts {', '.join(map(str, sorted(_RESNET_LAYOUTS)))} "
            f"(got {args['depth']}); pick one, or give {key}.blocks, e.g. [2, 2, 2, 2]"
        )
    if name == "transformer" and args["d_model"] % args["n_heads"]:
        raise BuildError(
            f"{key}.d_model: {args['d_model']} must be divisible by {key}.n_heads ({args['n_heads']}); "
            "change one of them"
        )


@dataclass(frozen=True)
class ModelFactory:
    """The callable ``model.name`` names and the keyword arguments it will be called with."""

    factory: Callable[..., Any]
    params: dict[str, Any]
    what: str
    #: for the built-ins, every argument the factory will see (its defaults applied)
    arguments: Mapping[str, Any] | None = None


def resolve_model(config: ModelConfig, base_dir: Path) -> ModelFactory:
    """Find the factory for ``model.name`` and check ``model.params`` against it without
    building anything: unknown or missing keyword arguments (the signature is bound), and
    for the built-ins, impossible values. ``perfkit validate`` stops here."""
    name = config.name
    params = dict(config.params)
    key = "model.params"
    arguments: Mapping[str, Any] | None = None
    if name in BUILTIN_MODEL_FACTORIES:
        factory: Callable[..., Any] = BUILTIN_MODEL_FACTORIES[name]
        what = f"built-in model '{name}'"
        bound = bind_params(factory, params, key, what)
        if bound is not None:
            arguments = bound.arguments
            _check_builtin_model(name, arguments, key)
    elif name.startswith("torchvision:"):
        arch = name.partition(":")[2]
        factory, what = _torchvision_builder(arch), f"torchvision model '{arch}'"
        params.setdefault("weights", None)  # never download weights: timing does not need them
        bind_params(factory, params, key, what)
    elif name.startswith("timm:"):
        arch = name.partition(":")[2]
        factory, what = _timm_builder(arch), f"timm model '{arch}'"
        params.setdefault("pretrained", False)
    else:
        factory, what = resolve_callable(name, base_dir, "model.name"), f"'{name}'"
        bind_params(factory, params, key, what)
    return ModelFactory(factory=factory, params=params, what=what, arguments=arguments)


def build_model(config: ModelConfig, base_dir: Path) -> nn.Module:
    """Build the model named by ``model.name`` with ``model.params`` as keyword arguments."""
    resolved = resolve_model(config, base_dir)
    model = call_factory(resolved.factory, resolved.params, "model.params", resolved.what)
    if not isinstance(model, nn.Module):
        raise BuildError(f"model.name: '{config.name}' returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _torchvision_builder(arch: str) -> Callable[..., Any]:
    torchvision: Any = import_extra(
        TORCHVISION, "model.name", f"torchvision:{arch}", alternative="use the built-in 'resnet'"
    )
    try:
        return torchvision.models.get_model_builder(arch)  # type: ignore[no-any-return]
    except ValueError as exc:
        raise BuildError(
            f"model.name: torchvision has no model '{arch}'; see torchvision.models.list_models()"
        ) from exc


def _timm_builder(arch: str) -> Callable[..., Any]:
    timm: Any = import_extra(TIMM, "model.name", f"timm:{arch}")
    if not timm.is_model(arch):
        raise BuildError(f"model.name: timm has no model '{arch}'; see timm.list_models()")
    return functools.partial(timm.create_model, arch)
