"""Helpers for the trace tests: synthetic events and trace files in several layouts."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
#: Real GPU traces shared next to the repository (never copied into it).
SHARED_TRACES = Path(os.environ.get("PERFKIT_SHARED_TRACES", REPO.parent / "shared" / "traces"))
CUDA_FIXTURE = REPO / "tests" / "data" / "traces" / "cuda_fixture.pt.trace.json"

T0 = 1_000_000.0  # µs


def ev(
    cat: str,
    name: str,
    ts: float,
    dur: float,
    *,
    pid: int = 1,
    tid: int = 1,
    corr: int | None = None,
    ph: str = "X",
    **args: Any,
) -> dict[str, Any]:
    """One Kineto-like event; ``ts``/``dur`` in µs relative to ``T0``."""
    a: dict[str, Any] = dict(args)
    if corr is not None:
        a["correlation"] = corr
    e: dict[str, Any] = {
        "ph": ph,
        "cat": cat,
        "name": name,
        "pid": pid,
        "tid": tid,
        "ts": T0 + ts,
        "dur": dur,
    }
    if a:
        e["args"] = a
    return e


def launch(
    name: str, ts: float, dur: float, corr: int, kernel: str, k_ts: float, k_dur: float, *,
    tid: int = 1, cat: str = "kernel", api_cat: str = "cuda_runtime", stream: int = 7,
) -> list[dict[str, Any]]:  # fmt: skip
    """A launch call plus its device event (and the ac2g flow pair Kineto writes)."""
    return [
        ev(api_cat, name, ts, dur, tid=tid, corr=corr),
        {"ph": "s", "id": corr, "pid": 1, "tid": tid, "ts": T0 + ts, "cat": "ac2g", "name": "ac2g"},
        ev(cat, kernel, k_ts, k_dur, pid=0, tid=stream, corr=corr, device=0, stream=stream),
        {
            "ph": "f",
            "id": corr,
            "pid": 0,
            "tid": stream,
            "ts": T0 + k_ts,
            "cat": "ac2g",
            "name": "ac2g",
            "bp": "e",
        },
    ]


def fwd_mark(ts: float, *, pid: int = 1, tid: int = 1, flow_id: int = 1) -> dict[str, Any]:
    """The start of a ``fwdbwd`` flow: the forward op at ``ts`` recorded an autograd node."""
    return {"ph": "s", "id": flow_id, "pid": pid, "tid": tid, "ts": T0 + ts, "cat": "fwdbwd", "name": "fwdbwd"}


def session(n: int, ts: float, dur: float) -> dict[str, Any]:
    """Kineto's span of one profiler session (``PyTorch Profiler (n)``)."""
    return {"ph": "X", "cat": "Trace", "name": f"PyTorch Profiler ({n})", "pid": "Spans",
            "tid": "PyTorch Profiler", "ts": T0 + ts, "dur": dur, "args": {"Op count": 0}}  # fmt: skip


def document(events: Sequence[dict[str, Any]], **top: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"schemaVersion": 1, "deviceProperties": [], **top}
    doc["traceEvents"] = list(events)
    doc.setdefault("traceName", "synthetic")
    return doc


def kineto_text(doc: dict[str, Any]) -> str:
    """Kineto C++ layout: one multi-line block per event, ``"  },\\n  {"`` between events."""

    def block(e: dict[str, Any]) -> str:
        head = {k: v for k, v in e.items() if k != "args"}
        text = "  {\n    " + json.dumps(head)[1:-1]
        if "args" in e:
            text += ',\n    "args": {\n      ' + json.dumps(e["args"])[1:-1] + "\n    }"
        return text + "\n  }"

    head = [
        f'  "{k}": {json.dumps(v)},'
        for k, v in doc.items()
        if k not in ("traceEvents", "traceName")
    ]
    events = ",\n".join(block(e) for e in doc["traceEvents"])
    tail = f'  "traceName": {json.dumps(doc.get("traceName", ""))}'
    return "{\n" + "\n".join(head) + '\n  "traceEvents": [\n' + events + "\n  ],\n" + tail + "\n}\n"


def lines_text(doc: dict[str, Any]) -> str:
    """torch's Python exporter layout: one compact event per line."""
    head = "".join(
        f"{json.dumps(k)}: {json.dumps(v)},\n" for k, v in doc.items() if k != "traceEvents"
    )
    events = ",\n".join(json.dumps(e, separators=(",", ":")) for e in doc["traceEvents"])
    return "{\n" + head + '"traceEvents": [\n' + events + "\n]\n}\n"


LAYOUTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "kineto": kineto_text,
    "lines": lines_text,
    "compact": lambda doc: json.dumps(doc),
    "indented": lambda doc: json.dumps(doc, indent=1),
    "array": lambda doc: json.dumps(doc["traceEvents"]),
}


def write_trace(
    path: Path,
    events: Iterable[dict[str, Any]],
    layout: str = "kineto",
    gz: bool = False,
    **top: Any,
) -> Path:
    text = LAYOUTS[layout](document(list(events), **top))
    if gz:
        path = path.with_name(path.name + ".gz") if not path.name.endswith(".gz") else path
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path
