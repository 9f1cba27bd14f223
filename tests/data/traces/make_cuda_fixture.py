"""Write ``cuda_fixture.pt.trace.json``: a HAND-BUILT Kineto trace of a CUDA training loop.

No GPU was available when perfkit's trace analysis was written, so this file is made by
hand, following the structure of real Kineto traces (see ``shared/traces``): Kineto's
multi-line layout, ``deviceProperties``/``distributedInfo`` before ``traceEvents``,
``ProfilerStep#N`` and ``perfkit/<phase>`` user annotations on the loop thread, cpu_ops,
``cudaLaunchKernel``/``cudaMemcpyAsync``/``cudaMemsetAsync`` runtime calls and one
``cuLaunchKernel`` driver call (Triton), kernels/memcpy/memset on GPU 0 linked by
``args.correlation``, ``ac2g`` flow events, backward ops on autograd's own thread, an
NCCL kernel on a second stream, ``[memory]`` events and one launch outside every step.
Replace it with a real trace recorded on the GPU machine when one is available
(``perfkit profile --trace`` with a CUDA config), keeping the hand-computed test values
of ``tests/unit/trace/test_trace_cuda_fixture.py`` in mind: they depend on this layout.

Two steps. All times below are µs from ``T0``; step 11 repeats step 10 400 µs later and
adds an NCCL all-reduce launched from the autograd thread during backward.

Run ``python tests/data/traces/make_cuda_fixture.py`` to regenerate the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

T0 = 4_000_000_000_000.0  # Kineto writes µs relative to baseTimeNanoseconds
PID = 4242
MAIN = 4242  # the loop thread
AUTOGRAD = 4250  # autograd's device thread (backward ops run here on CUDA)
GPU = 0
STREAM = 7
NCCL_STREAM = 20

OUT = Path(__file__).with_name("cuda_fixture.pt.trace.json")


class Trace:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.external = 0

    def _ext(self) -> int:
        self.external += 1
        return self.external

    def host(self, cat: str, name: str, start: float, dur: float, tid: int = MAIN) -> None:
        self.events.append(
            {"ph": "X", "cat": cat, "name": name, "pid": PID, "tid": tid,
             "ts": T0 + start, "dur": dur, "args": {"External id": self._ext()}}
        )  # fmt: skip

    def launch(
        self,
        api: str,
        start: float,
        dur: float,
        corr: int,
        work: tuple[str, str, float, float] | None,
        tid: int = MAIN,
        cat: str = "cuda_runtime",
        stream: int = STREAM,
        grid: tuple[int, int, int] = (1, 1, 1),
    ) -> None:
        """A launch call and the device work it enqueued: (cat, name, start, dur)."""
        ext = self.external  # the enclosing op's External id
        self.events.append(
            {"ph": "X", "cat": cat, "name": api, "pid": PID, "tid": tid,
             "ts": T0 + start, "dur": dur, "args": {"External id": ext, "cbid": 211, "correlation": corr}}
        )  # fmt: skip
        self.events.append(
            {"ph": "s", "id": corr, "pid": PID, "tid": tid, "ts": T0 + start, "cat": "ac2g", "name": "ac2g"}
        )
        if work is None:
            return
        wcat, wname, wstart, wdur = work
        args: dict[str, Any] = {"External id": ext, "queued": 0, "device": GPU, "context": 1,
                                "stream": stream, "correlation": corr}  # fmt: skip
        if wcat == "kernel":
            args.update({"registers per thread": 32, "shared memory": 0, "grid": list(grid),
                         "block": [128, 1, 1], "est. achieved occupancy %": 50})  # fmt: skip
        else:
            args.update({"bytes": 4096, "memory bandwidth (GB/s)": 1.0})
        self.events.append(
            {"ph": "X", "cat": wcat, "name": wname, "pid": GPU, "tid": stream,
             "ts": T0 + wstart, "dur": wdur, "args": args}
        )  # fmt: skip
        self.events.append(
            {"ph": "f", "id": corr, "pid": GPU, "tid": stream, "ts": T0 + wstart,
             "cat": "ac2g", "name": "ac2g", "bp": "e"}
        )  # fmt: skip

    def memory(self, at: float, total: int, nbytes: int) -> None:
        self.events.append(
            {"ph": "i", "cat": "cpu_instant_event", "s": "t", "name": "[memory]", "pid": PID,
             "tid": MAIN, "ts": T0 + at,
             "args": {"Total Reserved": 8 * 2**30, "Total Allocated": total, "Bytes": nbytes,
                      "Device Id": GPU, "Device Type": 1, "Addr": 1}}
        )  # fmt: skip


def step(t: Trace, n: int, o: float, corr: int, nccl: bool) -> None:
    """One training step; ``o`` shifts every time (µs), ``corr`` numbers its launches."""
    t.host("user_annotation", f"ProfilerStep#{n}", o + 1000, 400)
    # data: the DataLoader fetch and its collate.
    t.host("user_annotation", "perfkit/data", o + 1005, 50)
    t.host("user_annotation", "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", o + 1006, 44)
    t.host("cpu_op", "aten::stack", o + 1010, 30)
    # h2d: one host-to-device copy.
    t.host("user_annotation", "perfkit/h2d", o + 1060, 30)
    t.host("cpu_op", "aten::to", o + 1061, 28)
    t.host("cpu_op", "aten::copy_", o + 1062, 26)
    t.launch("cudaMemcpyAsync", o + 1065, 10, corr + 1, ("gpu_memcpy", "Memcpy HtoD (Pageable -> Device)", o + 1070, 10))
    # forward: a GEMM, a ReLU, and a Triton kernel launched through the driver API.
    t.host("user_annotation", "perfkit/forward", o + 1100, 100)
    t.host("cpu_op", "aten::linear", o + 1105, 45)
    t.host("cpu_op", "aten::addmm", o + 1110, 38)
    t.launch("cudaLaunchKernel", o + 1115, 5, corr + 2,
             ("kernel", "ampere_sgemm_64x32_sliced1x4_tn", o + 1125, 40), grid=(216, 1, 1))  # fmt: skip
    t.host("cpu_op", "aten::relu", o + 1155, 25)
    t.launch("cudaLaunchKernel", o + 1160, 5, corr + 3,
             ("kernel", "void at::native::vectorized_elementwise_kernel<4, relu>", o + 1170, 5),
             grid=(54, 1, 1))  # fmt: skip
    t.host("cpu_op", "triton_poi_fused_add_0", o + 1182, 13)
    t.launch("cuLaunchKernel", o + 1185, 5, corr + 4, ("kernel", "triton_poi_fused_add_0", o + 1192, 4),
             cat="cuda_driver", grid=(1, 1, 1))  # fmt: skip
    # backward: the loop thread waits inside perfkit/backward; autograd's thread launches.
    t.host("user_annotation", "perfkit/backward", o + 1210, 120)
    t.host("cpu_op", "autograd::engine::evaluate_function: AddmmBackward0", o + 1215, 45, tid=AUTOGRAD)
    t.host("cpu_op", "AddmmBackward0", o + 1216, 43, tid=AUTOGRAD)
    t.host("cpu_op", "aten::mm", o + 1220, 30, tid=AUTOGRAD)
    t.launch("cudaLaunchKernel", o + 1225, 5, corr + 5,
             ("kernel", "sm80_xmma_gemm_f32f32_tf32f32_f32_nn_n_tilesize32x32x8_stage3_warpsize1x2x1_tensor16x8x8_kernel",
              o + 1235, 40), tid=AUTOGRAD, grid=(108, 1, 1))  # fmt: skip
    t.host("cpu_op", "aten::zero_", o + 1262, 18, tid=AUTOGRAD)
    t.launch("cudaMemsetAsync", o + 1265, 5, corr + 6, ("gpu_memset", "Memset (Device)", o + 1276, 2), tid=AUTOGRAD)
    if nccl:
        t.host("user_annotation", "nccl:all_reduce", o + 1285, 15, tid=AUTOGRAD)
        t.host("cpu_op", "record_param_comms", o + 1286, 13, tid=AUTOGRAD)
        t.launch("cudaLaunchKernel", o + 1290, 5, corr + 7,
                 ("kernel", "ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevComm*, unsigned long, ncclWork*)",
                  o + 1300, 40), tid=AUTOGRAD, stream=NCCL_STREAM, grid=(2, 1, 1))  # fmt: skip
    # optimizer: one multi-tensor kernel that runs past the host step's end.
    t.host("user_annotation", "perfkit/optimizer", o + 1340, 50)
    t.host("user_annotation", "Optimizer.step#SGD.step", o + 1341, 48)
    t.host("cpu_op", "aten::_foreach_add_", o + 1345, 40)
    t.launch("cudaLaunchKernel", o + 1350, 6, corr + 8,
             ("kernel", "void at::native::multi_tensor_apply_kernel<TensorListMetadata<2>, BinaryOpListAlphaFunctor>",
              o + 1360, 60), grid=(27, 1, 1))  # fmt: skip


def build() -> dict[str, Any]:
    t = Trace()
    # Before the first step: a memset launched outside every ProfilerStep.
    t.host("cpu_op", "aten::zeros", 940, 20)
    t.launch("cudaMemsetAsync", 950, 5, 100, ("gpu_memset", "Memset (Device)", 960, 2))
    step(t, 10, 0.0, 200, nccl=False)
    step(t, 11, 400.0, 300, nccl=True)
    t.memory(1062, 1 * 2**30, 4096)
    t.memory(1300, 3 * 2**30, 2 * 2**30)
    t.memory(1370, 2 * 2**30, -(2**30))
    meta = [
        {"name": "process_name", "ph": "M", "ts": T0 + 900, "pid": PID, "tid": 0, "args": {"name": "python"}},
        {"name": "process_labels", "ph": "M", "ts": T0 + 900, "pid": GPU, "tid": 0, "args": {"labels": "GPU 0"}},
        {"name": "thread_name", "ph": "M", "ts": T0 + 900, "pid": GPU, "tid": STREAM, "args": {"name": "stream 7 "}},
    ]
    return {
        "schemaVersion": 1,
        "deviceProperties": [
            {"id": 0, "name": "NVIDIA A100-SXM4-40GB", "totalGlobalMem": 40 * 2**30,
             "computeMajor": 8, "computeMinor": 0, "maxThreadsPerBlock": 1024,
             "maxThreadsPerMultiprocessor": 2048, "regsPerBlock": 65536, "warpSize": 32,
             "sharedMemPerBlock": 49152, "numSms": 108},
        ],  # fmt: skip
        "distributedInfo": {"backend": "nccl", "rank": 0, "world_size": 2},
        "traceEvents": [*t.events, *meta],
        "traceName": "cuda_fixture (hand-built)",
        "displayTimeUnit": "ms",
        "baseTimeNanoseconds": 1700000000000000000,
    }


def kineto_layout(doc: dict[str, Any]) -> str:
    """Serialise like Kineto's C++ ChromeTraceLogger: one block per event, 2-space indent."""
    def block(e: dict[str, Any]) -> str:
        head = {k: v for k, v in e.items() if k != "args"}
        text = "  {\n    " + json.dumps(head)[1:-1]
        if "args" in e:
            text += ",\n    \"args\": {\n      " + json.dumps(e["args"])[1:-1] + "\n    }"
        return text + "\n  }"

    lines = ["{"]
    for key in ("schemaVersion", "deviceProperties", "distributedInfo"):
        lines.append(f'  "{key}": {json.dumps(doc[key])},')
    lines.append('  "traceEvents": [')
    lines.append(",\n".join(block(e) for e in doc["traceEvents"]))
    lines.append("  ],")
    tail = [f'  "{k}": {json.dumps(doc[k])}' for k in ("traceName", "displayTimeUnit", "baseTimeNanoseconds")]
    lines.append(",\n".join(tail))
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    OUT.write_text(kineto_layout(build()))
    print(f"wrote {OUT}")
