"""Classifying device kernels and host operators by name.

Three questions are answered from names alone, because a trace carries nothing else:

* **Is this kernel communication?** NCCL/RCCL kernels are named ``ncclKernel_*`` (NCCL
  < 2.19) or ``ncclDevKernel_*`` (NCCL >= 2.19); HTA classifies with ``^nccl|ncclKernel``
  and so do we. On the host, ``gloo:<collective>`` ranges are the CPU collectives of the
  gloo backend: the thread really waits inside them, so they count as communication too.
  Host ``nccl:<collective>`` ranges are *not* counted: they only enqueue the NCCL kernel,
  whose device time is already counted.
* **Does this kernel use tensor cores (NVIDIA) or matrix cores (AMD)?** By name
  substring, like the TensorBoard plugin, whose list (from NVIDIA PyProf) we extend with
  names of newer libraries: cuBLAS/cuBLASLt on Ampere/Hopper (``sm80_xmma``,
  ``sm90_xmma``, ``nvjet``), Hopper warp-group MMA (``wgmma``), CUTLASS tensor-op
  kernels (``tensorop``; CUTLASS ``simt`` kernels do not use tensor cores, so plain
  ``cutlass`` is not enough), fused attention (``fmha``, ``flash_fwd``, ``flash_bwd``)
  and AMD Tensile/hipBLASLt matrix-instruction kernels (``_MI32x32x8``...). A name
  that matches none is counted as not using tensor cores; Triton kernels cannot be
  told apart by name and are counted as not using them.
* **Could this operator use tensor cores?** Convolutions and matrix products (conv,
  mm, addmm, bmm, baddbmm, linear, matmul, scaled-dot-product attention), forward and
  backward. Whether they actually do depends on dtype (fp16/bf16, or TF32 on Ampere+).
"""

from __future__ import annotations

import re

#: Kernel-name substrings that indicate tensor-core (MMA) instructions.
TENSOR_CORE_SUBSTRINGS: tuple[str, ...] = (
    # The TensorBoard plugin's list (NVIDIA PyProf).
    "h884", "s884", "h1688", "s1688", "hmma", "i8816", "16816", "c1688",
    "dgrad_1x1_stride_2x2", "first_layer_wgrad_kernel", "conv1x1", "conv2d_c1_k1",
    "direct_group", "xmma_implicit_gemm", "xmma_sparse_conv",
    "xmma_warp_specialized_implicit_gemm", "xmma_gemm", "xmma_sparse_gemm",
    # Newer NVIDIA libraries.
    "sm80_xmma", "sm86_xmma", "sm89_xmma", "sm90_xmma", "sm100_xmma", "nvjet", "wgmma",
    "tensorop", "fmha", "flash_fwd", "flash_bwd",
)  # fmt: skip

_TENSOR_CORE_RE = re.compile(
    "|".join(re.escape(s) for s in TENSOR_CORE_SUBSTRINGS)
    # AMD Tensile / hipBLASLt kernels name their matrix instruction: MI32x32x8, MI16x16x16...
    + r"|_MI\d+x\d+x\d+"
)

#: NCCL/RCCL kernels (HTA's COMM class).
COMMUNICATION_KERNEL_RE = re.compile(r"^(void )?nccl|ncclKernel|ncclDevKernel")

#: Host ranges of CPU collectives (gloo backend), e.g. ``gloo:all_reduce``.
COMMUNICATION_HOST_RE = re.compile(r"^gloo:")

#: Operators that can run on tensor cores given a suitable dtype.
TENSOR_CORE_ELIGIBLE_OP_RE = re.compile(
    r"^aten::("
    r"_?convolution(_backward)?|conv[123]d|conv_tbc|conv_transpose[123]d|cudnn_convolution\w*"
    r"|mm|addmm_?|bmm|baddbmm_?|addbmm_?|linear|matmul"
    r"|_scaled_dot_product_\w*attention\w*|scaled_dot_product_attention"
    r")$"
)


def uses_tensor_cores(kernel_name: str) -> bool:
    """True when the kernel's name says it issues tensor-core (or AMD matrix-core) instructions."""
    return _TENSOR_CORE_RE.search(kernel_name) is not None


def is_communication_kernel(kernel_name: str) -> bool:
    """True for NCCL/RCCL collective and point-to-point kernels."""
    return COMMUNICATION_KERNEL_RE.search(kernel_name) is not None


def is_communication_range(name: str) -> bool:
    """True for host ranges in which the thread waits on a CPU collective (gloo)."""
    return COMMUNICATION_HOST_RE.match(name) is not None


def is_tensor_core_eligible(op_name: str) -> bool:
    """True for operators (conv, matmul family, SDPA) that tensor cores can run."""
    return TENSOR_CORE_ELIGIBLE_OP_RE.match(op_name) is not None


__all__ = [
    "COMMUNICATION_HOST_RE",
    "COMMUNICATION_KERNEL_RE",
    "TENSOR_CORE_ELIGIBLE_OP_RE",
    "TENSOR_CORE_SUBSTRINGS",
    "is_communication_kernel",
    "is_communication_range",
    "is_tensor_core_eligible",
    "uses_tensor_cores",
]
