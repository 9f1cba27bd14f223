"""Training signals read off op and kernel names, for advice on foreign traces.

These are counts over every event in the traced steps (not just the top-N tables):

* ``grad_scaler_calls``: calls of ``aten::_amp_update_scale_`` — GradScaler.update();
* ``fp16_kernel_ns``/``bf16_kernel_ns``: kernel time whose name says half precision
  (``half``, ``fp16``, ``f16`` not preceded by ``b``, cuBLAS/CUTLASS ``h884``/``h1688``/
  ``h16816`` tiles) or bfloat16 (``bf16``, ``bfloat16``). Kernel names are the only dtype
  evidence a trace recorded without shapes carries; the TensorBoard plugin's tensor-core
  check reads them the same way;
* ``fused_optimizer_calls``/``foreach_calls``: ``aten::_fused_*`` (fused Adam/AdamW/SGD/
  Adagrad) and ``aten::_foreach_*`` ops (multi-tensor optimizers, foreach clipping);
* ``compiled_region_calls``: ``Torch-Compiled Region: …`` ranges (torch.compile'd code
  running; dynamo records one per compiled frame call) and ``CompiledFunction`` (AOT
  autograd's forward/backward), so advice does not suggest compiling compiled code.
"""

from __future__ import annotations

import re

import numpy as np

from perfkit.trace.events import ROW_SLICE
from perfkit.trace.index import TraceIndex
from perfkit.trace.model import TrainingSignals

_FP16 = re.compile(r"half|fp16|(?<![bB])f16|h884|h1688|h16816", re.IGNORECASE)
_BF16 = re.compile(r"bf16|bfloat16", re.IGNORECASE)


def training_signals(index: TraceIndex) -> TrainingSignals:
    store = index.store
    op_rows = index.rows(index.is_host_op)
    op_calls = np.zeros(len(store.names), dtype=np.int64)
    for a in range(0, op_rows.size, ROW_SLICE):  # bounded temporaries on 10 M-event traces
        op_calls += np.bincount(store.name[op_rows[a : a + ROW_SLICE]], minlength=len(store.names))
    del op_rows
    k_rows = index.rows(index.is_kernel)
    k_time = np.bincount(store.name[k_rows], weights=store.dur[k_rows].astype(np.float64), minlength=len(store.names))

    def calls(predicate: re.Pattern[str] | str) -> int:
        ids = store.name_ids(lambda n: (predicate.search(n) is not None) if isinstance(predicate, re.Pattern) else n.startswith(predicate))
        return int(op_calls[ids].sum()) if ids.size else 0

    def kernel_ns(pattern: re.Pattern[str], exclude: re.Pattern[str] | None = None) -> int:
        ids = store.name_ids(lambda n: pattern.search(n) is not None and (exclude is None or exclude.search(n) is None))
        return round(float(k_time[ids].sum())) if ids.size else 0

    return TrainingSignals(
        grad_scaler_calls=calls("aten::_amp_update_scale_"),
        fp16_kernel_ns=kernel_ns(_FP16, exclude=_BF16),
        bf16_kernel_ns=kernel_ns(_BF16),
        fused_optimizer_calls=calls("aten::_fused_"),
        foreach_calls=calls("aten::_foreach_"),
        compiled_region_calls=calls("Torch-Compiled Region") + calls("CompiledFunction"),
    )
