"""Benchmark ``perfkit analyze`` against a plain ``json.load`` of the same trace.

    python scripts/bench_analyze.py                 # generate a ~50 MB Kineto-like trace
    python scripts/bench_analyze.py --size-mb 1000 --repeats 1
    python scripts/bench_analyze.py --dense --size-mb 1000 --repeats 1
    python scripts/bench_analyze.py --dense --compact --size-mb 1000 --repeats 1
    python scripts/bench_analyze.py TRACE [--repeats 5]

Each measurement runs in a fresh Python process, alternating perfkit and json.load so that
machine noise hits both alike. Per process it reports:

* ``work s``: time of the work itself inside the process (``json.load``; or perfkit's read +
  full analysis + JSON serialisation of the result), imports excluded. The ``perfkit CLI``
  row runs ``perfkit analyze TRACE --format json`` in-process and its work time also
  includes importing perfkit's CLI (typer, rich, numpy, orjson) and printing the report;
* ``process s``: wall time of the whole process (interpreter start included);
* ``peak RSS``: the process's ``ru_maxrss`` (everything it ever held, interpreter included).

Targets: perfkit's median work time ≤ 1.0× json.load's, and its peak RSS ≤ 1.5× the file
size. The generated trace imitates a GPU training trace recorded by Kineto (its layout,
and per step: cpu_ops, runtime launches, kernels with their args, ac2g flows); it lives in
a temporary directory and is deleted unless ``--keep`` is given.

``--dense`` generates the worst case for perfkit's memory instead: nothing but short
``cpu_op`` events on one thread (4.15 M events in 1.07 GB, a ``ProfilerStep`` every 2000),
so that every event is kept and enters the host call tree.

``--compact`` writes either trace one event per line without spaces
(``json.dumps(e, separators=(",", ":"))``), as re-saved or minified traces are: the same
bytes then hold about twice the events (``--dense --compact``: ~9 M events per GB), and
perfkit's memory grows with the event count, not the file size.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
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
                  "n": sum(analysis.event_counts.values())}))
"""

OPS = ["aten::linear", "aten::addmm", "aten::relu", "aten::add_", "aten::mul", "aten::copy_", "aten::conv2d",
       "aten::cudnn_convolution", "aten::native_batch_norm", "aten::empty", "aten::view", "aten::sum"]  # fmt: skip
KERNELS = [
    "void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>, at::detail::Array<char*, 3> >(int, at::native::CUDAFunctor_add<float>, at::detail::Array<char*, 3>)",
    "ampere_sgemm_128x64_tn",
    "void cudnn::bn_fw_tr_1C11_kernel_NCHW<float, float, int, 512, true, 1, true>(cudnnTensorStruct, float const*, cudnnTensorStruct, float*, float const*, float const*, float, float, float*, float*, float*, float*, float, float)",
    "sm80_xmma_fprop_implicit_gemm_tf32f32_tf32f32_f32_nhwckrsc_nhwc_tilesize128x128x16_stage4_warpsize2x2x1_g1_tensor16x8x8_kernel",
]


#: Set by ``--compact``: one event per line, no spaces (see the module doc).
COMPACT = False


def _block(e: dict[str, Any]) -> str:
    if COMPACT:
        return json.dumps(e, separators=(",", ":"))
    head = {k: v for k, v in e.items() if k != "args"}
    text = "  {\n    " + json.dumps(head)[1:-1]
    if "args" in e:
        text += ',\n    "args": {\n      ' + json.dumps(e["args"])[1:-1] + "\n    }"
    return text + "\n  }"


def generate(path: Path, size_mb: float, seed: int = 0) -> None:
    """Write a Kineto-layout trace of about ``size_mb`` MB."""
    rng = random.Random(seed)
    target = int(size_mb * 1e6)
    pid, main, bwd = 3100, 3100, 3117
    t, corr, ext, step = 4_000_000_000_000.0, 1, 1, 1
    written = 0
    with path.open("w") as f:
        head = (
            '{\n  "schemaVersion": 1,\n  "deviceProperties": [{"id": 0, "name": "NVIDIA A100-SXM4-40GB", '
            '"totalGlobalMem": 42505273344, "computeMajor": 8, "computeMinor": 0, "numSms": 108}],\n'
            '  "distributedInfo": {"backend": "nccl", "rank": 0, "world_size": 8},\n  "traceEvents": [\n'
        )
        f.write(head)
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
                               "args": {"External id": ext, "queued": 0, "device": 0, "context": 1, "stream": 7,
                                        "correlation": corr, "registers per thread": 72, "shared memory": 8192,
                                        "blocks per SM": 1.185185, "warps per SM": 4.740741, "grid": [128, 1, 1],
                                        "block": [128, 1, 1], "est. achieved occupancy %": 6}})  # fmt: skip
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
        f.write(
            '\n  ],\n  "traceName": "bench",\n  "displayTimeUnit": "ms",\n  "baseTimeNanoseconds": 1700000000000000000\n}\n'
        )


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


def run(code: list[str], path: Path) -> dict[str, float]:
    start = time.perf_counter()
    done = subprocess.run([*code, str(path)], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    last = done.stdout.strip().splitlines()[-1]
    result: dict[str, float] = json.loads(last)
    result["wall"] = wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", nargs="?", type=Path, help="a trace file (default: generate one)")
    parser.add_argument("--size-mb", type=float, default=50.0, help="size of the generated trace")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the generated trace")
    parser.add_argument(
        "--dense", action="store_true", help="generate only cpu_ops on one thread (memory worst case)"
    )
    parser.add_argument(
        "--compact", action="store_true", help="write the generated trace one event per line"
    )
    args = parser.parse_args()

    tmp = None
    path = args.trace
    if path is None:
        tmp = tempfile.mkdtemp(prefix="perfkit-bench-")
        path = Path(tmp) / "bench.pt.trace.json"
        global COMPACT
        COMPACT = args.compact
        (generate_dense if args.dense else generate)(path, args.size_mb)
    size = path.stat().st_size
    print(f"trace: {path} ({size / 1e6:.1f} MB)")

    py = sys.executable
    rows: dict[str, list[dict[str, float]]] = {"json.load": [], "perfkit": [], "perfkit CLI": []}
    for _ in range(args.repeats):
        rows["json.load"].append(run([py, "-c", CHILD_JSON], path))
        rows["perfkit"].append(run([py, "-c", CHILD_PERFKIT], path))
        rows["perfkit CLI"].append(run([py, "-c", CHILD_CLI], path))

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in rows[name])

    base_work, base_wall = med("json.load", "work"), med("json.load", "wall")
    print(
        f"{'':12} {'work s':>8} {'process s':>10} {'peak RSS MiB':>13} {'work/json':>10} {'RSS/file':>9}"
    )
    for name in rows:
        work, rss = med(name, "work"), med(name, "rss")
        print(
            f"{name:12} {work:8.3f} {med(name, 'wall'):10.3f} {rss / 2**20:13.1f} "
            f"{work / base_work:9.2f}x {rss / size:8.2f}x"
        )
    print(
        f"process wall ratio, perfkit CLI / json.load: {med('perfkit CLI', 'wall') / base_wall:.2f}x"
    )
    print("(medians of", args.repeats, "runs per row, interleaved)")
    if tmp is not None and not args.keep:
        path.unlink()
        Path(tmp).rmdir()


if __name__ == "__main__":
    main()
