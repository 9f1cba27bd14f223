"""``ProfilerSession``: torch.profiler around perfkit's training loop.

How the loop uses it::

    with ProfilerSession(cfg.profiler, run_name, cfg.loop.warmup_steps, use_cuda) as session:
        for i in range(steps):
            traced = session.is_traced(i)      # record it in StepSample.traced
            t0 = clock.now()
            with record_function(phase_range_name("data")): ...
            ...                                # the other phases
            t1 = clock.now()                   # the step's end timestamp
            session.step()                     # outside the measured window
    result.trace = None if session.analysis() is None else session.analysis().to_dict()

**Schedule.** ``torch.profiler.schedule(skip_first, wait, warmup, active, repeat)`` from
:class:`~perfkit.config.schema.ProfilerConfig`, with ``skip_first`` defaulting to the
loop's warm-up steps. Step ``i`` (counting every loop step from 0, warm-up included)
runs under ``schedule(i)``: ``step()`` is ``prof.step()``, which moves the profiler to
step ``i + 1``. :meth:`ProfilerSession.is_traced` asks the same schedule function, so
it is true exactly for the steps that carry the profiler's overhead (its WARMUP and
RECORD actions; WARMUP already runs the collectors).

**Output.** At the end of each recorded cycle torch calls ``on_trace_ready``; the
session then (1) copies the in-process events into an
:class:`~perfkit.trace.events.EventStore` (the profiler reuses its buffers afterwards;
should this torch's event API not fit, it reads the written file back instead and the
analysis says so in a note) and (2) writes the trace to ``<config.dir>/<run_name>/<worker>.pt.trace.json`` (``.gz`` when
``config.gzip``) atomically: exported to a temporary file in the same directory,
fsync'ed, then renamed over the target. With ``repeat != 1`` each cycle gets its own
file, ``<worker>.<ms timestamp>.pt.trace.json``, which TensorBoard shows as spans.
Both happen inside ``step()``, i.e. outside the loop's measured window.

**Analysis.** :meth:`ProfilerSession.analysis` analyzes the copied events of every
recorded step (all cycles together), once, on first call.

The module imports torch only inside the methods that need it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from perfkit.errors import TraceError
from perfkit.trace.analysis import analyze_events
from perfkit.trace.events import AMD, NVIDIA, DeviceProperties, DistributedInfo, EventStore
from perfkit.trace.files import default_worker, trace_file_path
from perfkit.trace.kineto import store_from_kineto
from perfkit.trace.model import TraceAnalysis
from perfkit.trace.reader import read_trace

if TYPE_CHECKING:
    from perfkit.config.schema import ProfilerConfig

_TRACED_ACTIONS = ("WARMUP", "RECORD", "RECORD_AND_SAVE")
_RECORD_ACTIONS = ("RECORD", "RECORD_AND_SAVE")


#: What libkineto prints on every trace start and stop, straight to file descriptor 2
#: ("USDT:2026-11-27 15:35:06 12211:12211 SyncActivityProfilerHandler.cpp:52] profiler_start"):
#: two lines per traced run, ten per gate, even with --quiet.
_KINETO_CHATTER = re.compile(rb"^USDT:.*\] profiler_(start|stop)\s*$")


@contextlib.contextmanager
def native_stderr_without_kineto_chatter() -> Iterator[None]:
    """Run the block with file descriptor 2 captured; afterwards write back everything it
    printed except libkineto's start/stop lines. Native code prints there directly, so
    ``sys.stderr`` cannot filter it. Only calls that start or stop tracing are wrapped
    (between steps, outside every measured window); if fd 2 cannot be duplicated, the
    block runs unfiltered."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().splitlines(keepends=True) if not _KINETO_CHATTER.match(line)]
            if kept:
                os.write(2, b"".join(kept))


class ProfilerSession:
    """A context manager that runs torch.profiler on the schedule of a ``ProfilerConfig``.

    Args:
        config: the ``profiler:`` section (schedule, collectors, output dir, gzip).
        run_name: the run directory under ``config.dir`` (TensorBoard's "run").
        loop_warmup_steps: the loop's warm-up steps, the default of ``skip_first``.
        use_cuda: also collect CUDA activity (kernels, memcpy, runtime calls).
        worker: the trace file's worker name; default ``<hostname>_<pid>``.
    """

    def __init__(
        self,
        config: ProfilerConfig,
        run_name: str,
        loop_warmup_steps: int,
        use_cuda: bool,
        worker: str | None = None,
    ) -> None:
        import torch.profiler

        self.config = config
        self.run_name = run_name
        self.use_cuda = use_cuda
        self.worker = worker or default_worker()
        self.skip_first = loop_warmup_steps if config.skip_first is None else config.skip_first
        self._schedule = torch.profiler.schedule(
            wait=config.wait,
            warmup=config.warmup,
            active=config.active,
            repeat=config.repeat,
            skip_first=self.skip_first,
        )
        self._prof: Any = None
        self._step = 0
        self._stores: list[EventStore] = []
        self._paths: list[Path] = []
        self._baseline: dict[int, int] | None = None
        self._analysis: TraceAnalysis | None = None
        self._analyzed = False
        self._notes: list[str] = []

    # ------------------------------------------------------------------ context manager

    def __enter__(self) -> ProfilerSession:
        import torch.profiler

        activities = [torch.profiler.ProfilerActivity.CPU]
        if self.use_cuda:
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        self._prof = torch.profiler.profile(
            activities=activities,
            schedule=self._schedule,
            on_trace_ready=self._on_trace_ready,
            record_shapes=self.config.record_shapes,
            profile_memory=self.config.profile_memory,
            with_stack=self.config.with_stack,
            with_flops=self.config.with_flops,
        )
        with native_stderr_without_kineto_chatter():
            self._prof.__enter__()
        self._step = 0
        self._sample_memory_baseline(None)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        prof, self._prof = self._prof, None
        if prof is not None:
            # A cycle still recording is stopped and saved by torch (on_trace_ready).
            with native_stderr_without_kineto_chatter():
                prof.__exit__(exc_type, exc, tb)

    # ------------------------------------------------------------------ loop API

    def is_traced(self, step_index: int) -> bool:
        """True when the profiler is in WARMUP or RECORD during loop step ``step_index``.

        Uses ``torch.profiler.schedule``'s own action function, so it matches what the
        profiler does: those steps carry the profiler's overhead and should be kept out of
        the headline timings.
        """
        return self._action(step_index) in _TRACED_ACTIONS

    def step(self) -> None:
        """End the current loop step for the profiler (``prof.step()``).

        Call it after the step's end timestamp: when a cycle ends, this is where the trace
        is exported and the events copied.
        """
        if self._prof is None:
            raise RuntimeError("ProfilerSession.step() called outside 'with ProfilerSession(...)'")
        previous = self._action(self._step)
        with warnings.catch_warnings():
            # Each cycle's events are copied in on_trace_ready, so torch's warning that a
            # new cycle clears the previous one's events does not apply here.
            warnings.filterwarnings("ignore", message=".*Profiler clears events")
            # Kineto starts and stops tracing where the schedule's action changes.
            quiet = native_stderr_without_kineto_chatter() if previous != self._action(self._step + 1) else contextlib.nullcontext()
            with quiet:
                self._prof.step()
        self._step += 1
        self._sample_memory_baseline(previous)

    @property
    def trace_path(self) -> Path | None:
        """The trace file written last (``None`` until a cycle has been saved)."""
        return self._paths[-1] if self._paths else None

    @property
    def trace_paths(self) -> tuple[Path, ...]:
        """Every trace file written, one per recorded cycle."""
        return tuple(self._paths)

    def analysis(self) -> TraceAnalysis | None:
        """Analysis of the in-process events of every recorded step (``None``: none recorded)."""
        if not self._analyzed:
            self._analyzed = True
            stores = [s for s in self._stores if len(s)]
            if stores:
                path = self.trace_path
                analysis = analyze_events(
                    EventStore.concatenate(stores),
                    trace_path=None if path is None else str(path.resolve()),
                    tensorboard_logdir=str(Path(self.config.dir).resolve()),
                )
                self._analysis = replace(analysis, notes=(*analysis.notes, *self._notes))
        return self._analysis

    # ------------------------------------------------------------------ internals

    def _action(self, step_index: int) -> str:
        return str(self._schedule(step_index).name)

    def _sample_memory_baseline(self, previous: str | None) -> None:
        """Device memory allocated when a recording cycle starts (for in-process peak memory).

        A cycle starts at a RECORD step that follows a step outside recording, and also
        right after a RECORD_AND_SAVE step: with ``wait=0, warmup=0`` the next cycle's
        RECORD follows the previous cycle's RECORD_AND_SAVE directly (RECORD,
        RECORD_AND_SAVE, RECORD, ...), and the memory allocated then is what the new
        cycle's allocation deltas add to.
        """
        if not (self.use_cuda and self.config.profile_memory):
            return
        now = self._action(self._step)
        new_cycle = previous not in _RECORD_ACTIONS or previous == "RECORD_AND_SAVE"
        if now in _RECORD_ACTIONS and new_cycle:
            import torch.cuda

            self._baseline = {
                i: int(torch.cuda.memory_allocated(i)) for i in range(torch.cuda.device_count())
            }

    def _on_trace_ready(self, prof: Any) -> None:
        span = str(int(time.time() * 1000)) if self.config.repeat != 1 else None
        target = trace_file_path(
            self.config.dir, self.run_name, self.worker, self.config.gzip, span=span
        )
        try:
            store = store_from_kineto(
                prof.profiler.kineto_results.events(),
                devices=self._device_properties(),
                distributed=self._distributed(),
                memory_baseline=self._baseline,
            )
        except Exception as exc:  # an event API this torch lacks: fall back to the file
            store = None
            self._notes.append(
                f"The in-process profiler events could not be read ({type(exc).__name__}: "
                f"{exc}); the written trace file was analyzed instead."
            )
        _export_atomically(prof, target)
        self._paths.append(target)
        self._stores.append(store if store is not None else read_trace(target))

    def _device_properties(self) -> tuple[DeviceProperties, ...]:
        if not self.use_cuda:
            return ()
        import torch
        import torch.cuda

        # ROCm builds of torch drive AMD GPUs through the same torch.cuda API.
        hip = getattr(torch.version, "hip", None) is not None
        out = []
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            arch = str(getattr(p, "gcnArchName", "") or "").split(":", 1)[0] or f"gfx{p.major}"
            out.append(
                DeviceProperties(
                    id=i,
                    name=str(p.name),
                    sm_count=int(p.multi_processor_count),
                    compute_capability=None if hip else f"{p.major}.{p.minor}",
                    total_memory_bytes=int(p.total_memory),
                    vendor=AMD if hip else NVIDIA,
                    architecture=arch if hip else None,
                )
            )
        return tuple(out)

    @staticmethod
    def _distributed() -> DistributedInfo | None:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return None
        return DistributedInfo(
            backend=str(dist.get_backend()), rank=dist.get_rank(), world_size=dist.get_world_size()
        )


def _export_atomically(prof: Any, target: Path) -> None:
    """``prof.export_chrome_trace`` to a temp file next to ``target``, fsync, rename."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # torch gzips when the name ends in .gz; the temp name must not look like a trace.
        suffix = ".tmp.gz" if target.name.endswith(".gz") else ".tmp"
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
    except OSError as exc:
        raise TraceError(
            f"{target.parent}: cannot write the trace there ({exc}); set profiler.dir"
        ) from exc
    try:
        prof.export_chrome_trace(str(tmp))
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise TraceError(f"{target}: cannot write the trace ({exc}); set profiler.dir") from exc
        raise


__all__ = ["ProfilerSession"]
