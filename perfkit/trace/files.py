"""Where trace files live: TensorBoard's layout, and finding traces under a path.

torch-tb-profiler lists a trace as run ``<run>`` and worker ``<worker>`` when it sits at
``<logdir>/<run>/<worker>[.<span>].pt.trace.json[.gz]`` (``<span>`` is an optional
number, e.g. a timestamp, that splits one worker's traces into spans).
``torch.profiler.tensorboard_handler`` and :class:`~perfkit.trace.session.ProfilerSession`
both write that layout, so ``tensorboard --logdir <logdir>`` shows perfkit's traces.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from perfkit.errors import TraceError

TRACE_SUFFIX = ".pt.trace.json"
GZIP_SUFFIX = ".gz"
#: TensorBoard's own pattern for trace file names (torch_tb_profiler.consts.WORKER_PATTERN).
TRACE_NAME_RE = re.compile(r"^(?P<worker>.*?)(?P<span>\.\d+)?\.pt\.trace\.json(?:\.gz)?$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def default_worker() -> str:
    """``<hostname>_<pid>``, torch.profiler's default worker name."""
    return f"{socket.gethostname()}_{os.getpid()}"


def safe_component(name: str) -> str:
    """``name`` made safe as one path component (``/`` and spaces become ``_``)."""
    cleaned = _UNSAFE.sub("_", name).strip("._")
    return cleaned or "run"


def trace_file_path(
    trace_dir: str | os.PathLike[str],
    run_name: str,
    worker: str,
    gzip: bool,
    *,
    span: str | None = None,
) -> Path:
    """``<trace_dir>/<run>/<worker>[.<span>].pt.trace.json[.gz]`` (TensorBoard's layout).

    ``run_name`` and ``worker`` are made path-safe; a worker name that ends in ``.<digits>``
    would be read as a span by TensorBoard, so such a suffix becomes ``_<digits>``.
    ``span`` must be digits.
    """
    if span is not None and not span.isdigit():
        raise ValueError(f"span must be digits, got {span!r}")
    worker_name = re.sub(r"\.(\d+)$", r"_\1", safe_component(worker))
    name = worker_name + (f".{span}" if span else "") + TRACE_SUFFIX + (GZIP_SUFFIX if gzip else "")
    return Path(trace_dir) / safe_component(run_name) / name


def is_trace_file(path: Path) -> bool:
    return path.is_file() and TRACE_NAME_RE.match(path.name) is not None


def find_traces(path: str | os.PathLike[str]) -> list[Path]:
    """The trace files that ``path`` names, sorted.

    ``path`` is a trace file (any name: its content decides), or a directory searched at
    every depth, as torch-tb-profiler walks a logdir (each directory holding traces is a
    run, named by its path under the logdir). Hidden directories (``.git``, ``.cache``)
    are skipped. Raises :class:`~perfkit.errors.TraceError` when there is nothing to
    analyze.
    """
    root = Path(path)
    if not root.exists():
        raise TraceError(
            f"{root}: no such file or directory; pass a .pt.trace.json[.gz] file or the "
            "directory the traces were written to (profiler.dir, default perfkit-traces)"
        )
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise TraceError(f"{root}: not a file or directory; pass a .pt.trace.json[.gz] file")
    found: list[Path] = []
    for folder, subfolders, files in os.walk(root, followlinks=False):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        found.extend(p for name in files if is_trace_file(p := Path(folder) / name))
    if not found:
        what = (
            "is empty"
            if not any(root.iterdir())
            else "has no *.pt.trace.json or *.pt.trace.json.gz file"
        )
        raise TraceError(
            f"{root}: the directory {what} (looked in it and every subdirectory); "
            "record a trace with 'perfkit profile --trace' or pass a trace file"
        )
    return sorted(found)


__all__ = [
    "TRACE_NAME_RE",
    "TRACE_SUFFIX",
    "default_worker",
    "find_traces",
    "is_trace_file",
    "safe_component",
    "trace_file_path",
]
