"""Peak dense FLOP/s per device and dtype, for model FLOPs utilisation (MFU).

Figures are NVIDIA's datasheet peaks for dense math (no 2:4 sparsity), in FLOP/s.
A device or dtype that is not in this table gets no MFU: perfkit never falls back to
another GPU's peak (torchtitan once did and reported MFU ≈ 152 % on an unknown GPU).
The ``fp32`` column is the CUDA-core peak; ``tf32`` applies when TF32 matmuls are on.
"""

from __future__ import annotations

import re

TERA = 1e12

# (pattern matched against torch.cuda.get_device_name, {dtype: TFLOP/s}).
# Order matters: the first matching pattern wins (e.g. "H100 PCIe" before "H100").
# Every pattern is a whole word: "A100" must not match an "RTX A1000", nor "V100" a
# "V100S", nor "H200" a "GH200" (each has its own datasheet, or none here).
_PEAKS_TFLOPS: tuple[tuple[str, dict[str, float]], ...] = (
    (r"\bH200 NVL\b", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5}),
    (r"\bH200\b", {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4}),
    (r"\bGH200\b", {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4}),
    (r"\bH100 PCIe\b", {"fp32": 51.2, "tf32": 378.0, "bf16": 756.5, "fp16": 756.5}),
    (r"\bH100 NVL\b", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5}),
    (r"\bH100\b", {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4}),
    (r"\bA100\b", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0}),
    (r"\bL40S\b", {"fp32": 91.6, "tf32": 183.0, "bf16": 362.05, "fp16": 362.05}),
    (r"\bL4\b", {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0}),
    (r"\bV100S\b", {"fp32": 16.4, "fp16": 130.0}),
    (r"\bV100-PCIE\b", {"fp32": 14.0, "fp16": 112.0}),
    (r"\bV100\b", {"fp32": 15.7, "fp16": 125.0}),
    (r"\bT4\b", {"fp32": 8.1, "fp16": 65.0}),
)


#: A MIG slice (CUDA names it e.g. "NVIDIA A100-SXM4-40GB MIG 1g.5gb") has a fraction of
#: the GPU's SMs; the whole GPU's datasheet peak would understate its MFU up to 7×.
_MIG = re.compile(r"\bMIG\b")


def peak_flops_per_s(device_name: str, dtype: str) -> float | None:
    """Datasheet peak for ``dtype`` ('fp32', 'tf32', 'bf16', 'fp16'), or ``None`` if unknown
    (a MIG slice included: its share of the GPU's peak is not in any datasheet)."""
    if _MIG.search(device_name):
        return None
    for pattern, table in _PEAKS_TFLOPS:
        if re.search(pattern, device_name):
            value = table.get(dtype)
            return value * TERA if value is not None else None
    return None


def effective_peak_flops_per_s(
    device_name: str, total_flops: int, conv_flops: int, matmul_dtype: str, conv_dtype: str
) -> float | None:
    """The peak that a step with this FLOP mix could reach: convolutions at the conv
    dtype's peak, everything else at the matmul dtype's, i.e. ``total / Σ(flops_c / peak_c)``.

    MFU against this peak is the ideal time of the step's FLOPs over its measured time. It
    matters for fp32 conv nets: cuDNN runs their convolutions on TF32 tensor cores, so the
    CUDA-core fp32 peak alone would overstate MFU several-fold. ``None`` when a needed peak
    is unknown.
    """
    if total_flops <= 0:
        return None
    ideal_s = 0.0
    for flops, dtype in ((total_flops - conv_flops, matmul_dtype), (conv_flops, conv_dtype)):
        if flops <= 0:
            continue
        peak = peak_flops_per_s(device_name, dtype)
        if peak is None:
            return None
        ideal_s += flops / peak
    return total_flops / ideal_s if ideal_s > 0 else None
