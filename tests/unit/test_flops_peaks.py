"""FLOP counting checked against hand computation; the peak table never guesses."""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn.functional as F

from perfkit.runtime.batches import cross_entropy
from perfkit.runtime.flops import count_step_flops
from perfkit.runtime.peaks import peak_flops_per_s


def _sum_of(x: torch.Tensor):  # type: ignore[no-untyped-def]
    return lambda module: module(x).sum()


def test_linear_matches_hand_computation() -> None:
    # forward 2·B·in·out; backward computes only the weight gradient (input needs no grad).
    b, n_in, n_out = 8, 64, 32
    layer = torch.nn.Linear(n_in, n_out)
    flops = count_step_flops(layer, _sum_of(torch.randn(b, n_in)), contextlib.nullcontext)
    assert flops.total == 2 * b * n_in * n_out * 2
    assert flops.conv == 0
    assert all(p.grad is None for p in layer.parameters())  # gradients left zeroed


def test_conv_matches_hand_computation() -> None:
    b, c_in, c_out, hw, k = 2, 3, 16, 8, 3
    conv = torch.nn.Conv2d(c_in, c_out, k, padding=1)
    forward = 2 * b * c_out * hw * hw * c_in * k * k
    flops = count_step_flops(conv, _sum_of(torch.randn(b, c_in, hw, hw)), contextlib.nullcontext)
    assert flops.total == 2 * forward  # forward + weight gradient
    assert flops.conv == flops.total


class _Attention(torch.nn.Module):
    def __init__(self, explicit: bool) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(16, 16)
        self.explicit = explicit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.proj(x).view(2, 8, 2, 8).transpose(1, 2)
        if self.explicit:
            attn = (q @ q.transpose(-2, -1)) * 8**-0.5
            out = attn.softmax(-1) @ q
        else:
            out = F.scaled_dot_product_attention(q, q, q)
        return out.sum(dim=1)


def test_cpu_flash_attention_is_counted_like_explicit_attention() -> None:
    x = torch.randn(2, 8, 16)
    explicit = count_step_flops(_Attention(True), _sum_of(x), contextlib.nullcontext).total
    fused = count_step_flops(_Attention(False), _sum_of(x), contextlib.nullcontext).total
    # torch's SDPA backward formula (used for GPU flash attention too) also counts the
    # recomputation of Q·Kᵀ that flash backward performs: one extra (b·h, s, d)×(d, s) matmul.
    recompute = 2 * (2 * 2) * 8 * 8 * 8
    assert fused == explicit + recompute


def test_loss_handles_lm_and_classification() -> None:
    logits = torch.randn(2, 5, 7)
    target = torch.randint(0, 7, (2, 5))
    assert torch.allclose(cross_entropy(logits, target), F.cross_entropy(logits.reshape(10, 7), target.reshape(10)))


@pytest.mark.parametrize(
    ("name", "dtype", "tflops"),
    [
        ("NVIDIA H100 80GB HBM3", "bf16", 989.4),
        ("NVIDIA H100 PCIe", "bf16", 756.5),
        ("NVIDIA H200", "fp16", 989.4),
        ("NVIDIA A100-SXM4-80GB", "tf32", 156.0),
        ("Tesla V100-SXM2-32GB", "fp16", 125.0),
        ("Tesla V100-PCIE-16GB", "fp16", 112.0),
        ("Tesla V100S-PCIE-32GB", "fp16", 130.0),
        ("NVIDIA GH200 480GB", "bf16", 989.4),
        ("NVIDIA H200 NVL", "bf16", 835.5),
        ("NVIDIA A100 80GB PCIe", "bf16", 312.0),
    ],
)
def test_known_peaks(name: str, dtype: str, tflops: float) -> None:
    assert peak_flops_per_s(name, dtype) == pytest.approx(tflops * 1e12)


def test_unknown_device_or_dtype_has_no_peak() -> None:
    assert peak_flops_per_s("NVIDIA GeForce GTX 1080", "fp32") is None
    assert peak_flops_per_s("AMD EPYC", "fp32") is None
    assert peak_flops_per_s("Tesla V100-SXM2-32GB", "bf16") is None
    assert peak_flops_per_s("Tesla V100-SXM2-32GB", "tf32") is None  # no TF32 before Ampere
    # Lookalike names are other GPUs, not the datasheet entry they contain.
    assert peak_flops_per_s("NVIDIA RTX A1000 6GB Laptop GPU", "bf16") is None
    assert peak_flops_per_s("NVIDIA RTX A1000", "fp32") is None
    # A MIG slice has a fraction of the SMs: the whole GPU's peak would be a guess.
    assert peak_flops_per_s("NVIDIA A100-SXM4-40GB MIG 1g.5gb", "bf16") is None
    assert peak_flops_per_s("NVIDIA H100 80GB HBM3 MIG 3g.40gb", "bf16") is None


def test_effective_peak_weights_conv_and_matmul_flops() -> None:
    from perfkit.runtime.peaks import effective_peak_flops_per_s

    name = "NVIDIA A100-SXM4-80GB"  # fp32 19.5 TF, tf32 156 TF
    assert effective_peak_flops_per_s(name, 100, 0, "fp32", "tf32") == pytest.approx(19.5e12)
    assert effective_peak_flops_per_s(name, 100, 100, "fp32", "tf32") == pytest.approx(156e12)
    # Half the FLOPs at each peak: total / (50/19.5T + 50/156T).
    expected = 100 / (50 / 19.5e12 + 50 / 156e12)
    assert effective_peak_flops_per_s(name, 100, 50, "fp32", "tf32") == pytest.approx(expected)
    assert effective_peak_flops_per_s("Tesla V100-SXM2-32GB", 100, 50, "fp32", "tf32") is None
