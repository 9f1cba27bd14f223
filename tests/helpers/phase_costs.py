"""A dataset and a model whose per-phase costs are known exactly.

Loaded by configs as ``phase_costs:CostlyData`` / ``phase_costs:CostlyModel`` (the
config file lives next to this module, so perfkit resolves it from the config's folder).

``mode='fake'`` advances :data:`CLOCK` (a FakeClock the test injects into the loop): the
loop must then report those costs exactly. ``mode='sleep'`` sleeps for real: the loop's
``perf_counter`` figures must match within measurement tolerance.
"""

from __future__ import annotations

import time
from typing import ClassVar

import torch

from perfkit.runtime.clock import FakeClock

CLOCK = FakeClock()


def _spend(mode: str, ms: float) -> None:
    if mode == "fake":
        CLOCK.advance(ms / 1e3)
    else:
        time.sleep(ms / 1e3)


class CostlyData(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __init__(self, item_ms: float, mode: str = "fake", n: int = 64, interrupt_at: int | None = None) -> None:
        self.item_ms = item_ms
        self.mode = mode
        self.n = n
        self.interrupt_at = interrupt_at
        self.calls = 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        self.calls += 1
        if self.interrupt_at is not None and self.calls > self.interrupt_at:
            raise KeyboardInterrupt
        _spend(self.mode, self.item_ms)
        return torch.ones(4) * (index % 3), index % 2


class _Costly(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, mode, backward_ms):  # type: ignore[no-untyped-def]
        ctx.mode = mode
        ctx.backward_ms = backward_ms
        return x.clone()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def]
        _spend(ctx.mode, ctx.backward_ms)
        return grad, None, None


class CostlyModel(torch.nn.Module):
    def __init__(self, forward_ms: float, backward_ms: float, mode: str = "fake", loss_value: float | None = None) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)
        self.forward_ms = forward_ms
        self.backward_ms = backward_ms
        self.mode = mode
        self.loss_value = loss_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _spend(self.mode, self.forward_ms)
        out = _Costly.apply(self.linear(x), self.mode, self.backward_ms)
        if self.loss_value is not None:
            out = out * self.loss_value
        return out  # type: ignore[no-any-return]


class Probe(torch.nn.Module):
    """Records what forward saw: autocast state and the input's memory format."""

    seen: ClassVar[list[dict[str, object]]] = []

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        Probe.seen.append(
            {
                "autocast": torch.is_autocast_enabled("cpu"),
                "dtype": torch.get_autocast_dtype("cpu"),
                "channels_last": x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous(),
            }
        )
        y = self.conv(x)
        Probe.seen[-1]["conv_out_dtype"] = y.dtype
        return self.head(y.mean(dim=(2, 3)))  # type: ignore[no-any-return]


class FailingData(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Raises a decoding-style error for one index (as a corrupt file would)."""

    def __init__(self, bad_index: int = 5, n: int = 32) -> None:
        self.bad_index = bad_index
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if index == self.bad_index:
            raise ValueError(f"corrupt JPEG at index {index}")
        return torch.ones(4), index % 2


class FailingModel(torch.nn.Module):
    """Works for ``ok_calls`` forward calls, then raises."""

    def __init__(self, ok_calls: int = 2) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)
        self.ok_calls = ok_calls
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls > self.ok_calls:
            raise RuntimeError("shape drift in user code")
        return self.linear(x)  # type: ignore[no-any-return]


class Volumetric(torch.nn.Module):
    """A 3-D conv net: channels_last (4-D) does not apply."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=(2, 3, 4))  # type: ignore[no-any-return]


class SparseEmbedding(torch.nn.Module):
    """A model with sparse gradients: Adam's step() refuses them (an optimizer failure)."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(10, 2, sparse=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x[:, 0].long().clamp(0, 9))  # type: ignore[no-any-return]
