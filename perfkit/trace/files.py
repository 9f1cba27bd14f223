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
#: Longest run folder name written (bytes; every kept character is ASCII). Folder and
#: file names must stay under the file system's 255-byte limit; a run name is also shown
#: by TensorBoard, so it is kept well below it.
MAX_RUN_NAME_BYTES = 120
#: Longest worker part of a trace file name: with a span, ``.pt.trace.json.gz`` and the
#: temporary name the atomic write uses (``.<name>.<8 random>.tmp.gz``), the longest name
#: written stays under 255 bytes.
MAX_WORKER_BYTES = 160
#: Hex digits of the SHA-256 of the full name that end a shortened name.
_HASH_CHARS = 12


def default_worker() -> str:
    """``<hostname>_<pid>``, torch.profiler's default worker name."""
    return f"{socket.gethostname()}_{os.getpid()}"


def safe_component(name: str, max_bytes: int = MAX_RUN_NAME_BYTES) -> str:
    """``name`` made safe as one path component (``/`` and spaces become ``_``).

    A name longer than ``max_bytes`` is shortened deterministically: its first
    characters, ``-``, and the first 12 hex digits of the SHA-256 of the whole name, so
    two long names that share their beginning still get different folders.
    """
    cleaned = _UNSAFE.sub("_", name).strip("._") or "run"
    if len(cleaned) <= max_bytes:  # ASCII only: characters are bytes
        return cleaned
    import hashlib  # here: importing it loads OpenSSL (~4 MiB), which analyze never needs

    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
    keep = cleaned[: max_bytes - _HASH_CHARS - 1].rstrip("._")
    return f"{keep}-{digest}"


def run_dir(trace_dir: str | os.PathLike[str], run_name: str) -> Path:
    """``<trace_dir>/<run>``: the folder a run's traces go to (the name made path-safe and
    shortened when long, :func:`safe_component`)."""
    return Path(trace_dir) / safe_component(run_name)


def trace_file_path(
    trace_dir: str | os.PathLike[str],
    run_name: str,
    worker: str,
    gzip: bool,
    *,
    span: str | None = None,
) -> Path:
    """``<trace_dir>/<run>/<worker>[.<span>].pt.trace.json[.gz]`` (TensorBoard's layout).

    ``run_name`` and ``worker`` are made path-safe and shortened when long
    (:func:`safe_component`, :data:`MAX_RUN_NAME_BYTES`, :data:`MAX_WORKER_BYTES`); a worker
    name that ends in ``.<digits>`` would be read as a span by TensorBoard, so such a
    suffix becomes ``_<digits>``.
    ``span`` must be digits.
    """
    if span is not None and not span.isdigit():
        raise ValueError(f"span must be digits, got {span!r}")
    worker_name = re.sub(r"\.(\d+)$", r"_\1", safe_component(worker, MAX_WORKER_BYTES))
    name = worker_name + (f".{span}" if span else "") + TRACE_SUFFIX + (GZIP_SUFFIX if gzip else "")
    return run_dir(trace_dir, run_name) / name


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
    "MAX_RUN_NAME_BYTES",
    "MAX_WORKER_BYTES",
    "TRACE_NAME_RE",
    "TRACE_SUFFIX",
    "default_worker",
    "find_traces",
    "is_trace_file",
    "run_dir",
    "safe_component",
    "trace_file_path",
]
