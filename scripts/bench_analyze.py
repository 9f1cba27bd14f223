"""Benchmark ``perfkit analyze`` against plain parses of the same trace (json.load, orjson).

    python scripts/bench_analyze.py                  # 50 MB 'phases' and 'flat' traces, warm cache
    python scripts/bench_analyze.py --cache cold     # the trace evicted before every process
    python scripts/bench_analyze.py --kind phases --kind foreign
    python scripts/bench_analyze.py --size-mb 1000 --repeats 1
    python scripts/bench_analyze.py --kind dense --size-mb 1000 --repeats 1
    python scripts/bench_analyze.py --kind dense --compact --size-mb 1000 --repeats 1
    python scripts/bench_analyze.py TRACE [--repeats 5]

Each measurement runs in a fresh Python process; the processes of one repeat alternate
(json.load, orjson, perfkit, perfkit CLI) so that machine noise hits all alike. Every
ratio printed is against the references measured in the same run, on the same file:

* ``json.load``: the standard library's parse of the whole file into Python objects;
* ``orjson``: the fastest plain parse into Python objects we know of: read the bytes,
  ``orjson.loads`` them, with the cyclic garbage collector disabled, as a careful loader
  of a big document does (with it on, the millions of new dicts trigger collection after
  collection: 0.57 s instead of 0.29 s for 50 MB here; json.load: 0.73 s and 0.48 s).
  perfkit's own reader is built on orjson, so this is the bar for "perfkit does more
  than parse, in the time of a parse".

Per process the table shows:

* ``work s``: time of the work itself inside the process, imports excluded (the parse; or
  perfkit's read + full analysis + JSON serialisation of the result). The ``perfkit CLI``
  row runs ``perfkit analyze TRACE --format json`` in-process and its work time also
  includes importing perfkit's CLI (typer, rich, numpy, orjson) and printing the report;
* ``process s``: wall time of the whole process (interpreter start included);
* ``peak RSS``: the process's ``ru_maxrss`` (everything it ever held, interpreter included;
  for orjson that is the file's bytes and the objects together).

Targets (README): perfkit's median work time ≤ 1.0× json.load's, and its peak RSS ≤ 1.5×
the file size.

**Page cache.** ``--cache warm`` (default) reads the whole trace file before every
process, so every process reads it from memory. ``--cache cold`` evicts the trace file from
the page cache before every process (``fsync`` + ``posix_fadvise(POSIX_FADV_DONTNEED)`` on
that one file: no root needed, and other users' cached files are left alone, unlike
``/proc/sys/vm/drop_caches``); the interpreter's and libraries' files stay cached, and on a
virtual machine the host may still cache the disk. Either way the script checks the state
with ``mincore`` right before each process and prints the resident share it found.

**Generated traces** (``--kind``, repeatable; the default runs ``phases`` and ``flat``). They
live in a temporary directory and are deleted unless ``--keep`` is given.

* ``phases``: a GPU training step as perfkit's loop records it: ``ProfilerStep#`` with
  ``perfkit/<phase>`` ranges (data, h2d, forward, backward, optimizer) on the loop thread;
  nested ops (``aten::linear`` → ``aten::addmm`` → ``cudaLaunchKernel``); host-to-device
  memcpys; autograd's backward on a *second thread* (``autograd::engine::evaluate_function:
  …Backward0`` → ``…Backward0`` → ``aten::mm``, AccumulateGrad) while the loop thread waits
  inside ``perfkit/backward``; kernels on a stream that queue behind each other, linked to
  their launches by correlation id (``args.correlation`` and ``ac2g`` flows); ``fwdbwd``
  flows from forward ops to their backward nodes; torch's DataLoader and Optimizer ranges.
  This runs the whole attribution path (call tree, phase ranges, the by-time lookup for
  the backward thread, launch linking), and the script checks its result: the median
  kernels per step of every phase must equal the counts the generator launched there.
* ``foreign``: the same trace without the ``perfkit/`` ranges, as plain ``torch.profiler``
  records it; its per-phase kernel counts are printed, not checked.
* ``flat``: the trace of the README's earlier rows: 400 flat cpu_ops per step, half of them
  on a second thread, each launching one kernel; no phase ranges.
* ``dense``: the worst case for perfkit's memory: nothing but short ``cpu_op`` events on
  one thread (4.15 M events in 1.07 GB, a ``ProfilerStep`` every 2000), so that every event
  is kept and enters the host call tree. ``--dense`` is short for ``--kind dense``.

``--compact`` writes any generated trace one event per line without spaces
(``json.dumps(e, separators=(",", ":"))``), as re-saved or minified traces are: the same
bytes then hold more events (``--kind dense``: 4.8 M events per GB compact, 3.9 M
indented), and perfkit's memory grows with the event count, not the file size.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import mmap
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHILD_JSON = """
import gzip, json, resource, sys, time
path = sys.argv[1]
t = time.perf_counter()
with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
    doc = json.load(f)
n = len(doc["traceEvents"])
work = time.perf_counter() - t
print(json.dumps({"work": work, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "n": n}))
"""

CHILD_ORJSON = """
import gc, gzip, json, resource, sys, time
import orjson
gc.disable()  # millions of new containers: the cyclic GC would about double the time
path = sys.argv[1]
t = time.perf_counter()
with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
    data = f.read()
doc = orjson.loads(data)
n = len(doc["traceEvents"])
work = time.perf_counter() - t
print(json.dumps({"work": work, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "n": n}))
"""

CHILD_CLI = """
import json, resource, sys, time
t = time.perf_counter()
from perfkit.cli import app
try:
    app(["analyze", sys.argv[1], "--format", "json"])
except SystemExit as exc:
    assert not exc.code, exc.code
work = time.perf_counter() - t
print(json.dumps({"work": work, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""

CHILD_PERFKIT = """
import json, resource, sys, time
from perfkit.trace.analysis import analyze_file
path = sys.argv[1]
t = time.perf_counter()
analysis = analyze_file(path)
text = json.dumps(analysis.to_dict())
work = time.perf_counter() - t
print(json.dumps({"work": work, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "n": sum(analysis.event_counts.values()), "steps": len(analysis.steps),
                  "mapping": analysis.phase_mapping,
                  "kernels": {p: t.kernels for p, t in analysis.phases.items()},
                  "memcpy_ns": {p: t.memcpy_ns for p, t in analysis.phases.items()}}))
"""

CHILDREN = {
    "json.load": CHILD_JSON,
    "orjson": CHILD_ORJSON,
    "perfkit": CHILD_PERFKIT,
    "perfkit CLI": CHILD_CLI,
}

OPS = ["aten::linear", "aten::addmm", "aten::relu", "aten::add_", "aten::mul", "aten::copy_", "aten::conv2d",
       "aten::cudnn_convolution", "aten::native_batch_norm", "aten::empty", "aten::view", "aten::sum"]  # fmt: skip
KERNELS = [
    "void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>, at::detail::Array<char*, 3> >(int, at::native::CUDAFunctor_add<float>, at::detail::Array<char*, 3>)",
    "ampere_sgemm_128x64_tn",
    "void cudnn::bn_fw_tr_1C11_kernel_NCHW<float, float, int, 512, true, 1, true>(cudnnTensorStruct, float const*, cudnnTensorStruct, float*, float const*, float const*, float, float, float*, float*, float*, float*, float, float)",
    "sm80_xmma_fprop_implicit_gemm_tf32f32_tf32f32_f32_nhwckrsc_nhwc_tilesize128x128x16_stage4_warpsize2x2x1_g1_tensor16x8x8_kernel",
]
GEMM = "ampere_sgemm_128x64_tn"
RELU = "void at::native::vectorized_elementwise_kernel<4, at::native::(anonymous namespace)::launch_clamp_scalar(at::TensorIteratorBase&, c10::Scalar, c10::Scalar, at::native::detail::ClampLimits)::{lambda()#1}::operator()() const::{lambda()#7}::operator()() const::{lambda(float)#1}, at::detail::Array<char*, 2> >(int, at::native::(anonymous namespace)::launch_clamp_scalar(at::TensorIteratorBase&, c10::Scalar, c10::Scalar, at::native::detail::ClampLimits)::{lambda()#1}::operator()() const::{lambda()#7}::operator()() const::{lambda(float)#1}, at::detail::Array<char*, 2>)"
THRESHOLD_BWD = "void at::native::vectorized_elementwise_kernel<4, at::native::(anonymous namespace)::threshold_kernel_impl<float>(at::TensorIteratorBase&, float, float)::{lambda(float, float)#1}, at::detail::Array<char*, 3> >(int, at::native::(anonymous namespace)::threshold_kernel_impl<float>(at::TensorIteratorBase&, float, float)::{lambda(float, float)#1}, at::detail::Array<char*, 3>)"
REDUCE = "void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::func_wrapper_t<float, at::native::sum_functor<float, float, float>::operator()(at::TensorIterator&)::{lambda(float, float)#1}>, unsigned int, float, 4> >(at::native::ReduceOp<float, at::native::func_wrapper_t<float, at::native::sum_functor<float, float, float>::operator()(at::TensorIterator&)::{lambda(float, float)#1}>, unsigned int, float, 4>)"
ADD = KERNELS[0]
FILL = "void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>, at::detail::Array<char*, 1> >(int, at::native::FillFunctor<float>, at::detail::Array<char*, 1>)"
FOREACH = "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<at::native::(anonymous namespace)::TensorListMetadata<2>, at::native::(anonymous namespace)::BinaryOpListAlphaFunctor<float, 2, 2, 0>, std::plus<float>, float>(at::native::(anonymous namespace)::TensorListMetadata<2>, at::native::(anonymous namespace)::BinaryOpListAlphaFunctor<float, 2, 2, 0>, std::plus<float>, float)"
KERNEL_ARGS = {"queued": 0, "device": 0, "context": 1, "stream": 7, "registers per thread": 72,
               "shared memory": 8192, "blocks per SM": 1.185185, "warps per SM": 4.740741, "grid": [128, 1, 1],
               "block": [128, 1, 1], "est. achieved occupancy %": 6}  # fmt: skip

#: Set by ``--compact``: one event per line, no spaces (see the module doc).
COMPACT = False

HEAD = (
    '{\n  "schemaVersion": 1,\n  "deviceProperties": [{"id": 0, "name": "NVIDIA A100-SXM4-40GB", '
    '"totalGlobalMem": 42505273344, "computeMajor": 8, "computeMinor": 0, "numSms": 108}],\n'
    '  "distributedInfo": {"backend": "nccl", "rank": 0, "world_size": 8},\n  "traceEvents": [\n'
)
TAIL = '\n  ],\n  "traceName": "bench",\n  "displayTimeUnit": "ms",\n  "baseTimeNanoseconds": 1700000000000000000\n}\n'


def _block(e: dict[str, Any]) -> str:
    if COMPACT:
        return json.dumps(e, separators=(",", ":"))
    head = {k: v for k, v in e.items() if k != "args"}
    text = "  {\n    " + json.dumps(head)[1:-1]
    if "args" in e:
        text += ',\n    "args": {\n      ' + json.dumps(e["args"])[1:-1] + "\n    }"
    return text + "\n  }"


# --------------------------------------------------------------------------- 'phases' / 'foreign'

#: Shape of one generated training step: ``LAYERS`` linear+relu layers forward, their
#: backward on the autograd thread, an SGD step over ``2 * LAYERS`` tensors.
LAYERS = 24
FOREACH_CHUNKS = 3  # multi_tensor_apply launches per foreach op


class StepWriter:
    """Emits the events of one training step with per-thread clocks and one CUDA stream.

    Host ops nest through :meth:`op` (a context manager on a thread's clock); every
    :meth:`launch` adds a runtime call, a kernel (or memcpy) that starts when both the
    launch has been issued and the stream is free, and the two ``ac2g`` flow events. The
    kernels launched per phase are counted in ``launched`` (the expected analysis).
    """

    def __init__(self, rng: random.Random, pid: int, main: int, bwd: int, t0: float, ids: dict[str, int]) -> None:
        self.rng, self.pid = rng, pid
        self.main, self.bwd = main, bwd
        self.clock = {main: t0, bwd: t0}
        self.stream_free = t0
        self.ids = ids  # running "ext", "corr", "seq" counters shared across steps
        self.events: list[dict[str, Any]] = []
        self.phase = "other"
        self.launched: Counter[str] = Counter()
        self.copies: Counter[str] = Counter()

    def _next(self, key: str) -> int:
        self.ids[key] += 1
        return self.ids[key]

    def gap(self, tid: int, low: float = 0.5, high: float = 2.0) -> None:
        self.clock[tid] += self.rng.uniform(low, high)

    @contextmanager
    def op(self, tid: int, name: str, cat: str = "cpu_op", **args: Any) -> Iterator[dict[str, Any]]:
        self.gap(tid)
        start = self.clock[tid]
        event: dict[str, Any] = {"ph": "X", "cat": cat, "name": name, "pid": self.pid, "tid": tid,
                                 "ts": round(start, 3), "dur": 0.0,
                                 "args": {"External id": self._next("ext"), **args}}  # fmt: skip
        self.events.append(event)
        yield event
        self.gap(tid, 1.0, 3.0)
        event["dur"] = round(self.clock[tid] - start, 3)

    def leaf(self, tid: int, name: str, low: float = 2.0, high: float = 12.0) -> None:
        with self.op(tid, name):
            self.clock[tid] += self.rng.uniform(low, high)

    def launch(self, tid: int, kernel: str, memcpy: bool = False) -> None:
        corr = self._next("corr")
        self.gap(tid, 1.0, 4.0)
        launch_ts = self.clock[tid]
        runtime = "cudaMemcpyAsync" if memcpy else "cudaLaunchKernel"
        self.events.append({"ph": "X", "cat": "cuda_runtime", "name": runtime, "pid": self.pid, "tid": tid,
                            "ts": round(launch_ts, 3), "dur": 4.1,
                            "args": {"External id": self.ids["ext"], "cbid": 211, "correlation": corr}})  # fmt: skip
        self.events.append({"ph": "s", "id": corr, "pid": self.pid, "tid": tid, "ts": round(launch_ts, 3),
                            "cat": "ac2g", "name": "ac2g"})  # fmt: skip
        self.clock[tid] += 4.1
        start = max(launch_ts + self.rng.uniform(3.0, 8.0), self.stream_free)
        dur = self.rng.uniform(20.0, 40.0) if memcpy else self.rng.uniform(1.5, 9.0)
        self.stream_free = start + dur + 0.5
        if memcpy:
            device: dict[str, Any] = {"ph": "X", "cat": "gpu_memcpy", "name": "Memcpy HtoD (Pageable -> Device)",
                                      "pid": 0, "tid": 7, "ts": round(start, 3), "dur": round(dur, 3),
                                      "args": {"External id": self.ids["ext"], "device": 0, "context": 1,
                                               "stream": 7, "correlation": corr, "bytes": 401408,
                                               "memory bandwidth (GB/s)": 12.5}}  # fmt: skip
            self.copies[self.phase] += 1
        else:
            device = {"ph": "X", "cat": "kernel", "name": kernel, "pid": 0, "tid": 7, "ts": round(start, 3),
                      "dur": round(dur, 3), "args": {"External id": self.ids["ext"], "correlation": corr, **KERNEL_ARGS}}  # fmt: skip
            self.launched[self.phase] += 1
        self.events.append(device)
        self.events.append({"ph": "f", "id": corr, "pid": 0, "tid": 7, "ts": round(start, 3), "cat": "ac2g",
                            "name": "ac2g", "bp": "e"})  # fmt: skip

    def flow(self, kind: str, flow_id: int, tid: int, ts: float) -> None:
        event: dict[str, Any] = {"ph": kind, "id": flow_id, "pid": self.pid, "tid": tid, "ts": round(ts, 3),
                                 "cat": "fwdbwd", "name": "fwdbwd"}  # fmt: skip
        if kind == "f":
            event["bp"] = "e"
        self.events.append(event)

    @contextmanager
    def phase_range(self, phase: str, perfkit_ranges: bool) -> Iterator[None]:
        self.phase = phase
        if perfkit_ranges:
            with self.op(self.main, f"perfkit/{phase}", cat="user_annotation"):
                yield
        else:
            yield
        self.phase = "other"


def training_step(w: StepWriter, step: int, perfkit_ranges: bool) -> None:
    """One step of a ``LAYERS``-layer MLP: data, h2d, forward, backward (second thread), SGD."""
    main, bwd = w.main, w.bwd
    nodes: list[tuple[int, int, str]] = []  # (sequence number, fwdbwd flow id, forward op) in forward order
    with w.op(main, f"ProfilerStep#{step}", cat="user_annotation"):
        with w.phase_range("data", perfkit_ranges), w.op(main, "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", cat="user_annotation"):
            for _ in range(2):
                with w.op(main, "aten::stack"):
                    w.leaf(main, "aten::empty", 1, 3)
                    w.leaf(main, "aten::cat", 20, 60)
        with w.phase_range("h2d", perfkit_ranges):
            for _ in range(2):
                with w.op(main, "aten::to"), w.op(main, "aten::_to_copy"):
                    w.leaf(main, "aten::empty_strided", 1, 3)
                    with w.op(main, "aten::copy_"):
                        w.launch(main, "", memcpy=True)
        with w.phase_range("forward", perfkit_ranges):
            for _ in range(LAYERS):
                for name in ("aten::linear", "aten::relu"):
                    seq = w._next("seq")
                    with w.op(main, name, **{"Sequence number": seq, "Fwd thread id": 0}) as ev:
                        flow = w._next("corr")
                        w.flow("s", flow, main, ev["ts"])
                        if name == "aten::linear":
                            with w.op(main, "aten::t"):
                                w.leaf(main, "aten::transpose", 2, 5)
                            with w.op(main, "aten::addmm"):
                                w.launch(main, GEMM)
                        else:
                            with w.op(main, "aten::clamp_min"):
                                w.launch(main, RELU)
                    nodes.append((seq, flow, name))
        with w.phase_range("backward", perfkit_ranges):
            with w.op(main, "aten::ones_like"):
                w.leaf(main, "aten::empty_like", 1, 3)
                with w.op(main, "aten::fill_"):
                    w.launch(main, FILL)
            # autograd's device thread runs the graph while the loop thread waits in backward()
            w.clock[bwd] = w.clock[main] + w.rng.uniform(5, 15)
            for seq, flow, forward_op in reversed(nodes):
                relu = forward_op == "aten::relu"
                node = "ReluBackward0" if relu else "AddmmBackward0"
                args = {"Sequence number": seq, "Fwd thread id": 1}
                with w.op(bwd, f"autograd::engine::evaluate_function: {node}", **args) as ev:
                    w.flow("f", flow, bwd, ev["ts"])
                    with w.op(bwd, node, **args):
                        if relu:
                            with w.op(bwd, "aten::threshold_backward"):
                                w.launch(bwd, THRESHOLD_BWD)
                        else:
                            for _ in range(2):
                                w.leaf(bwd, "aten::t", 2, 4)
                                with w.op(bwd, "aten::mm"):
                                    w.launch(bwd, GEMM)
                            with w.op(bwd, "aten::sum"):
                                w.launch(bwd, REDUCE)
                if not relu:
                    for _ in range(2):  # weight and bias
                        with w.op(bwd, "autograd::engine::evaluate_function: torch::autograd::AccumulateGrad"), \
                                w.op(bwd, "torch::autograd::AccumulateGrad"), w.op(bwd, "aten::add_"):  # fmt: skip
                            w.launch(bwd, ADD)
            w.clock[main] = max(w.clock[main], w.clock[bwd]) + w.rng.uniform(5, 15)
        with w.phase_range("optimizer", perfkit_ranges):
            with w.op(main, "Optimizer.step#SGD.step", cat="user_annotation"):
                for name in ("aten::_foreach_mul_", "aten::_foreach_add_"):
                    with w.op(main, name):
                        for _ in range(FOREACH_CHUNKS):
                            w.launch(main, FOREACH)
            with w.op(main, "Optimizer.zero_grad#SGD.zero_grad", cat="user_annotation"):
                w.clock[main] += w.rng.uniform(10, 20)


def expected_kernels() -> dict[str, int]:
    """Kernels :func:`training_step` launches per step, by phase (``h2d`` launches memcpys)."""
    return {
        "data": 0,
        "h2d": 0,
        "forward": 2 * LAYERS,
        "backward": 1 + LAYERS * (1 + 3 + 2),  # fill; relu bwd; 2 mm + sum; 2 AccumulateGrad
        "optimizer": 2 * FOREACH_CHUNKS,
        "other": 0,
    }


def generate_training(path: Path, size_mb: float, perfkit_ranges: bool, seed: int = 0) -> None:
    """Write a 'phases' (``perfkit_ranges``) or 'foreign' trace of about ``size_mb`` MB."""
    rng = random.Random(seed)
    target = int(size_mb * 1e6)
    ids = {"ext": 0, "corr": 0, "seq": 0}
    t = 4_000_000_000_000.0
    written, step, first = 0, 1, True
    with path.open("w") as f:
        f.write(HEAD)
        while written < target:
            w = StepWriter(rng, pid=3100, main=3100, bwd=3117, t0=t, ids=ids)
            training_step(w, step, perfkit_ranges)
            assert dict(w.launched) == {k: v for k, v in expected_kernels().items() if v}, w.launched
            assert dict(w.copies) == {"h2d": 2}, w.copies
            text = ",\n".join(_block(e) for e in w.events)
            f.write(text if first else ",\n" + text)
            first = False
            written += len(text)
            step += 1
            t = max(w.clock.values()) + 50.0
        f.write(TAIL)


# --------------------------------------------------------------------------- 'flat' / 'dense'


def generate_flat(path: Path, size_mb: float, seed: int = 0) -> None:
    """Write the README's earlier Kineto-layout trace of about ``size_mb`` MB (flat ops)."""
    rng = random.Random(seed)
    target = int(size_mb * 1e6)
    pid, main, bwd = 3100, 3100, 3117
    t, corr, ext, step = 4_000_000_000_000.0, 1, 1, 1
    written = 0
    with path.open("w") as f:
        f.write(HEAD)
        first = True
        while written < target:
            events: list[dict[str, Any]] = []
            step_start = t
            events.append({"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{step}", "pid": pid,
                           "tid": main, "ts": round(step_start, 3), "dur": 0.0, "args": {"External id": ext}})  # fmt: skip
            ext += 1
            for i in range(400):
                tid = main if i < 200 else bwd
                op_dur = rng.uniform(5, 40)
                events.append({"ph": "X", "cat": "cpu_op", "name": rng.choice(OPS), "pid": pid, "tid": tid,
                               "ts": round(t, 3), "dur": round(op_dur, 3),
                               "args": {"External id": ext, "Record function id": 0, "Sequence number": i,
                                        "Fwd thread id": 1, "Ev Idx": ext}})  # fmt: skip
                launch_ts = t + op_dur * 0.3
                events.append({"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": pid, "tid": tid,
                               "ts": round(launch_ts, 3), "dur": 4.1,
                               "args": {"External id": ext, "cbid": 211, "correlation": corr}})  # fmt: skip
                events.append({"ph": "s", "id": corr, "pid": pid, "tid": tid, "ts": round(launch_ts, 3),
                               "cat": "ac2g", "name": "ac2g"})  # fmt: skip
                k_ts = launch_ts + rng.uniform(5, 50)
                events.append({"ph": "X", "cat": "kernel", "name": rng.choice(KERNELS), "pid": 0, "tid": 7,
                               "ts": round(k_ts, 3), "dur": round(rng.uniform(2, 60), 3),
                               "args": {"External id": ext, "correlation": corr, **KERNEL_ARGS}})  # fmt: skip
                events.append({"ph": "f", "id": corr, "pid": 0, "tid": 7, "ts": round(k_ts, 3), "cat": "ac2g",
                               "name": "ac2g", "bp": "e"})  # fmt: skip
                t += op_dur + rng.uniform(1, 5)
                corr += 1
                ext += 1
            events[0]["dur"] = round(t - step_start, 3)
            text = ",\n".join(_block(e) for e in events)
            f.write(text if first else ",\n" + text)
            first = False
            written += len(text)
            step += 1
        f.write(TAIL)


def generate_dense(path: Path, size_mb: float) -> None:
    """Write a trace of back-to-back 2.5 µs cpu_ops on one thread (see the module doc)."""
    target = int(size_mb * 1e6)
    t, step, n, written = 1.7e12, 0, 0, 0
    with path.open("w") as f:
        f.write('{\n  "schemaVersion": 1,\n  "deviceProperties": [],\n  "traceEvents": [\n')
        while written < target:
            if n % 2000 == 0:
                e: dict[str, Any] = {"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{step}", "pid": 1,
                                     "tid": 1, "ts": round(t, 3), "dur": 6000.0, "args": {"External id": n}}  # fmt: skip
                step += 1
            else:
                e = {"ph": "X", "cat": "cpu_op", "name": "aten::add_" if n % 3 else "aten::empty", "pid": 1, "tid": 1,
                     "ts": round(t, 3), "dur": 2.5, "args": {"External id": n, "Record function id": 0,
                                                               "Sequence number": n, "Fwd thread id": 0, "Ev Idx": n}}  # fmt: skip
                t += 3.0
            text = ("" if n == 0 else ",\n") + _block(e)
            f.write(text)
            written += len(text)
            n += 1
        f.write('\n  ],\n  "traceName": "dense"\n}\n')


GENERATORS = {
    "phases": lambda path, mb: generate_training(path, mb, perfkit_ranges=True),
    "foreign": lambda path, mb: generate_training(path, mb, perfkit_ranges=False),
    "flat": generate_flat,
    "dense": generate_dense,
}


# --------------------------------------------------------------------------- page cache


def resident_share(path: Path) -> float | None:
    """Share of ``path``'s pages in the page cache (``mincore`` on a read-only mapping)."""
    size = path.stat().st_size
    if size == 0 or not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    vec = (ctypes.c_ubyte * pages)()
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr is None or addr == ctypes.c_void_p(-1).value:
            return None
        try:
            if libc.mincore(addr, size, vec) != 0:
                return None
        finally:
            libc.munmap(addr, size)
    finally:
        os.close(fd)
    return sum(v & 1 for v in vec) / pages


def set_cache(path: Path, mode: str) -> float | None:
    """Warm (read the whole file) or evict (fsync + FADV_DONTNEED) it; the resident share after."""
    if mode == "warm":
        with path.open("rb") as f:
            while f.read(1 << 24):
                pass
    else:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return resident_share(path)


# --------------------------------------------------------------------------- measuring


def run(code: str, path: Path) -> dict[str, Any]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def check_attribution(kind: str, result: dict[str, Any]) -> tuple[str, bool]:
    """The per-phase kernel counts perfkit found, held against what the generator launched."""
    kernels = {p: (None if v is None else round(v)) for p, v in result["kernels"].items()}
    found = ", ".join(f"{p} {v}" for p, v in kernels.items())
    line = f"phase mapping '{result['mapping']}', median kernels per step: {found or 'none'} ({result['steps']} steps)"
    if kind != "phases":
        return line, True
    expected = expected_kernels()
    copies = result["memcpy_ns"].get("h2d") or 0
    ok = result["mapping"] == "perfkit" and kernels == expected and copies > 0
    verdict = "as generated" if ok else f"EXPECTED {', '.join(f'{p} {v}' for p, v in expected.items())} and h2d memcpys"
    return f"{line}: {verdict}", ok


def bench_one(path: Path, label: str, kind: str | None, args: argparse.Namespace) -> bool:
    size = path.stat().st_size
    print(f"\n== {label}: {path} ({size / 1e6:.1f} MB)")
    sys.stdout.flush()
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in CHILDREN}
    resident: list[float] = []
    for _ in range(args.repeats):
        for name, code in CHILDREN.items():
            share = set_cache(path, args.cache)
            if share is not None:
                resident.append(share)
            rows[name].append(run(code, path))

    def med(name: str, key: str) -> float:
        return statistics.median(float(r[key]) for r in rows[name])

    ref = {name: med(name, "work") for name in ("json.load", "orjson")}
    ref_rss = {name: med(name, "rss") for name in ("json.load", "orjson")}
    print(
        f"{'':12} {'work s':>8} {'process s':>10} {'peak RSS MiB':>13} {'work/json':>10} "
        f"{'work/orjson':>12} {'RSS/file':>9} {'RSS/orjson':>11}"
    )
    for name in rows:
        work, rss = med(name, "work"), med(name, "rss")
        print(
            f"{name:12} {work:8.3f} {med(name, 'wall'):10.3f} {rss / 2**20:13.1f} "
            f"{work / ref['json.load']:9.2f}x {work / ref['orjson']:11.2f}x {rss / size:8.2f}x "
            f"{rss / ref_rss['orjson']:10.2f}x"
        )
    wall = med("perfkit CLI", "wall")
    print(
        f"whole process, perfkit CLI / json.load: {wall / med('json.load', 'wall'):.2f}x; "
        f"/ orjson: {wall / med('orjson', 'wall'):.2f}x"
    )
    events = rows["json.load"][0]["n"]
    print(f"{events:,} events ({size / max(events, 1):.0f} file bytes each); medians of {args.repeats} processes per row, interleaved")
    if resident:
        state = "warm: the file was read whole" if args.cache == "warm" else "cold: the file was evicted (FADV_DONTNEED)"
        print(
            f"page cache {state} before every process; resident share found by mincore just before: "
            f"{100 * min(resident):.1f}–{100 * max(resident):.1f}%"
        )
    line, ok = check_attribution(kind or "", rows["perfkit"][0])
    print(f"attribution: {line}")
    same = all(r["n"] == rows["perfkit"][0]["n"] for r in rows["perfkit"])
    return ok and same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("traces", nargs="*", type=Path, help="trace files (default: generate them)")
    parser.add_argument("--kind", action="append", choices=sorted(GENERATORS), help="generated trace (repeatable; default: phases, flat)")
    parser.add_argument("--size-mb", type=float, default=50.0, help="size of each generated trace")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", choices=["warm", "cold"], default="warm", help="page-cache state of the trace before every process")
    parser.add_argument("--keep", action="store_true", help="keep the generated traces")
    parser.add_argument("--dense", action="store_true", help="short for --kind dense")
    parser.add_argument("--compact", action="store_true", help="write generated traces one event per line")
    args = parser.parse_args()

    global COMPACT
    COMPACT = args.compact
    kinds = list(args.kind or [])
    if args.dense:
        kinds.append("dense")
    if not kinds and not args.traces:
        kinds = ["phases", "flat"]
    load = os.getloadavg()
    print(
        f"bench_analyze: {os.cpu_count()} CPUs, load average {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} (1/5/15 min), "
        f"python {sys.version.split()[0]}, cache {args.cache}"
    )
    ok = True
    for path in args.traces:
        ok &= bench_one(path, "given trace", None, args)
    for kind in kinds:
        tmp = Path(tempfile.mkdtemp(prefix="perfkit-bench-"))
        path = tmp / f"bench-{kind}.pt.trace.json"
        GENERATORS[kind](path, args.size_mb)
        ok &= bench_one(path, f"generated '{kind}'" + (" (compact)" if COMPACT else ""), kind, args)
        if args.keep:
            print(f"kept {path}")
        else:
            path.unlink()
            tmp.rmdir()
    load = os.getloadavg()
    print(f"\nload average at the end {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}")
    if not ok:
        print("CHECK FAILED: perfkit's result differs from what the generator wrote (see 'attribution')", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
