"""``perfkit.Session``: the one measurement core.

Every way perfkit measures training goes through this class: the Python API around a
user's own loop, the YAML experiment loop (:mod:`perfkit.runtime.loop`), and
``perfkit run script.py`` (:mod:`perfkit.runtime.script`, which drives it from torch's
hooks). A fix to timing or attribution is therefore made once.

How a step is measured::

    with perfkit.Session(name="exp", warmup_steps=5) as s:
        for batch in s.data(loader):           # time blocked in next() is `data`
            with s.phase("h2d"): ...
            with s.phase("forward"): ...
            with s.phase("backward"): ...
            with s.phase("optimizer"): ...
            s.step(samples=len(batch))         # closes the step
    s.save("run.json")

**Boundaries are contiguous.** Every phase boundary is one :meth:`Session.switch`: it
reads the host clock once and (on CUDA) records one event on the current stream; the
segment it closes goes to the phase that was open, or to ``other`` when none was. So

    step = data + h2d + forward + backward + optimizer + other

holds exactly, for host time and for device time. A step starts at its first boundary
(the first data fetch or phase) and ends at :meth:`Session.step`; the next step starts
when ``step()`` returns, so code between ``step()`` and the next fetch is the next
step's ``other``. Only perfkit's own work between steps (the checks below, the
profiler's ``step()``, a progress callback) falls outside every step.

**Synchronisation points**, all deliberate:

* none per phase by default: CUDA events are read once, after the last step
  (``DeviceTimer.finish``), and losses stay on the device until then;
* with ``sync=True``, ``torch.cuda.synchronize`` at every boundary, so host times
  include the device work of the phase (slower; reports say so);
* between steps, after the first step and after the last warm-up step, one
  ``torch.cuda.synchronize``: asynchronous CUDA errors surface at the step that caused
  them, and warm-up's queued work never spills into the first measured step.

**Warm-up** steps are kept in the raw data, marked ``warmup``, and excluded from every
statistic. When warm-up ends, the host RSS high-water mark and CUDA's peak-memory
statistics are reset, so peaks cover the measured steps.

**Traces.** With ``trace=True`` (or a :class:`~perfkit.config.schema.ProfilerConfig`),
torch.profiler runs on its schedule and every phase is a ``perfkit/<phase>``
``record_function`` range, so each kernel is attributed to the phase that launched it
(by correlation id) when the trace is analysed.

**FLOPs.** With ``count_flops=True`` (the API's default) the last warm-up step runs
under ``torch.utils.flop_counter.FlopCounterMode``: its count (forward and backward of
every micro-batch, as torch counts them) is the run's FLOPs per step, and the dtype the
matmuls and convolutions ran in is observed from the same ops. The counter's overhead
lands in a warm-up step, never in a measured one. No warm-up step, or a model compiled
with torch.compile (whose graphs the counter cannot see into), leaves FLOPs absent.

**Interruptions.** Leaving the ``with`` block on an exception (Ctrl-C included)
discards the unfinished step and keeps the finished ones; the result is marked
``partial`` and, when ``output`` was given, saved before the exception propagates.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import torch

from perfkit.errors import PerfkitError
from perfkit.results import PHASES, Memory, RunResult, StepSample
from perfkit.runtime.batches import batch_size
from perfkit.runtime.clock import (
    Clock,
    CudaEventTimer,
    DeviceTimer,
    NullDeviceTimer,
    PerfCounterClock,
)
from perfkit.runtime.host_memory import peak_rss_bytes, reset_peak_rss
from perfkit.trace.names import PHASE_RANGE_PREFIX

if TYPE_CHECKING:
    from perfkit.config.schema import ProfilerConfig
    from perfkit.runtime.observe import Observations

ProgressCallback = Callable[[int, int], None]

#: Marks the API reserves CUDA events for per step when it cannot know better; the pool
#: grows between steps (never inside a phase) when a run needs more.
DEFAULT_MARKS_PER_STEP = 16
#: Steps the API reserves events for when ``steps`` is not given.
DEFAULT_RESERVED_STEPS = 64


class SessionError(PerfkitError):
    """The Session was used in a way it cannot measure (an unknown or nested phase,
    ``step()`` inside a phase, a call after the session finished)."""


@dataclass
class _OpenStep:
    index: int
    start_t: float
    start_h: int
    host: dict[str, float]
    pairs: list[tuple[str, int, int]] = field(default_factory=list)
    auto_samples: int = 0


@dataclass
class _PendingStep:
    index: int
    warmup: bool
    traced: bool
    host_ms: dict[str, float]
    step_host_ms: float
    device_pairs: list[tuple[str, int, int]]
    step_marks: tuple[int, int]
    samples: int
    tokens: int | None
    loss: Any
    grad_norm: Any


@dataclass
class SessionRecord:
    """What a finished session measured, before it becomes a :class:`RunResult`.

    ``interrupted``: Ctrl-C ended it; ``error``: another exception ended it (its
    ``Type: message``); either way ``steps`` holds the finished steps only.
    ``compiled_*`` count torch.compile graphs when measuring started and ended (a
    difference means compilation inside measured steps). ``flops_per_step`` and the
    ``*_dtype`` fields come from the FLOP-counted warm-up step (``None`` when none ran).
    """

    started_at: str
    device: torch.device
    steps: list[StepSample]
    interrupted: bool
    error: str | None
    compiled_before_measuring: int
    compiled_after_measuring: int
    memory: Memory
    trace_path: str | None
    trace_analysis: dict[str, Any] | None
    flops_per_step: int | None = None
    conv_flops_per_step: int | None = None
    matmul_dtype: str | None = None
    conv_dtype: str | None = None
    flops_note: str | None = None


class _PhaseContext:
    """``with session.phase(name):`` — one reusable object per phase name."""

    __slots__ = ("_name", "_session")

    def __init__(self, session: Session, name: str) -> None:
        self._session = session
        self._name = name

    def __enter__(self) -> None:
        s = self._session
        if s._open is not None:
            raise SessionError(
                f"phase '{self._name}' opened inside phase '{s._open}': phases do not nest; close "
                f"'{s._open}' first (time outside named phases counts as 'other')"
            )
        s.switch(self._name)

    def __exit__(self, *exc: object) -> None:
        self._session.switch(None)


class Session:
    """Measure a training loop's steps, phase by phase. See the module docstring.

    Args:
        name: the run's name in reports and the trace folder.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a
            ``torch.device``: where the model trains, for CUDA events and memory peaks.
        warmup_steps: steps excluded from the statistics (kept in the raw data).
        steps: measured steps to take; after them :attr:`done` is true and
            :meth:`data` stops yielding. ``None``: measure until the block ends.
        trace: record a torch.profiler trace (``True`` for the default schedule right
            after warm-up, or a ``ProfilerConfig``).
        sync: synchronise the device at every boundary (opt-in; slower).
        output: save the result here (atomically) when the session ends, also when an
            exception ends it.
        model: the model, for parameter counts (found automatically by ``perfkit run``).
        count_flops: count FLOPs in the last warm-up step (see the module docstring).
        clock: the host clock (tests inject a fake one).
        progress: called as ``progress(done_steps, total_steps)`` between steps.
    """

    def __init__(
        self,
        name: str = "session",
        *,
        device: str | torch.device | None = "auto",
        warmup_steps: int = 5,
        steps: int | None = None,
        trace: bool | ProfilerConfig = False,
        sync: bool = False,
        output: str | os.PathLike[str] | None = None,
        model: torch.nn.Module | None = None,
        count_flops: bool = True,
        clock: Clock | None = None,
        progress: ProgressCallback | None = None,
        marks_per_step: int | None = None,
        source: str = "api",
        config: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise SessionError(f"warmup_steps: must be an integer >= 0 (got {warmup_steps!r})")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise SessionError(f"steps: must be an integer >= 1, or None to measure until the block ends (got {steps!r})")
        self.name = name
        self.warmup_steps = warmup_steps
        self.steps = steps
        self.sync = sync
        self.output = None if output is None else Path(output)
        self.count_flops = count_flops
        self.source = source
        self._device_spec = device
        self._trace = trace
        self._clock = clock or PerfCounterClock()
        self._progress = progress
        self._marks_per_step = marks_per_step
        self._extra_config = dict(config or {})
        from perfkit.runtime.observe import Observations

        self.observed: Observations = Observations()
        if model is not None:
            self.observed.see_model(model)
        self._phases = {name: _PhaseContext(self, name) for name in PHASES}
        self._state = "new"
        self._record: SessionRecord | None = None
        self._result: RunResult | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Session:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.finish(exc)

    def start(self) -> Session:
        """Start measuring (``with Session(...)`` calls it)."""
        if self._state != "new":
            raise SessionError("start(): a Session measures one run; create a new Session for another")
        from perfkit.runtime.device import resolve_device

        device = self._device_spec
        self.device = device if isinstance(device, torch.device) else resolve_device(str(device or "auto"))
        self._cuda = self.device.type == "cuda"
        if self.sync and not self._cuda:
            self.sync = False  # CPU work is synchronous: nothing to wait for
        self._started_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self._pid = os.getpid()
        self._thread = threading.get_ident()
        per_step = self._marks_per_step or DEFAULT_MARKS_PER_STEP
        planned = self.warmup_steps + (self.steps if self.steps is not None else DEFAULT_RESERVED_STEPS)
        self._timer: DeviceTimer = CudaEventTimer(self.device, capacity=planned * per_step) if self._cuda else NullDeviceTimer()
        self._pending: list[_PendingStep] = []
        self._current: _OpenStep | None = None
        self._open: str | None = None
        self._t = self._clock.now()
        self._h = self._timer.mark()
        self._origin = (self._t, self._h)  # where a step with no boundary of its own begins
        self._index = 0
        self._measured = 0
        self._max_marks = 0
        self._compiled_before = 0
        self._compiled_at_start = compiled_graphs()  # process-wide: only graphs compiled in this run count
        self._host_peak_reset = False
        self._range: Any = None
        self._flops: Any = None
        self._flop_result: tuple[int, int, str | None, str | None] | None = None
        self._flops_note: str | None = None
        self._tracer: Any = None
        self._tracer_cm: Any = None
        profiler = self._profiler_config()
        if profiler is not None:
            from perfkit.trace.session import ProfilerSession

            self._tracer_cm = ProfilerSession(profiler, run_name=self.name, loop_warmup_steps=self.warmup_steps, use_cuda=self._cuda)
            self._tracer = self._tracer_cm.__enter__()
        self._ranges = self._tracer is not None
        self._observer: Any = None
        if self.source == "api":
            # Which optimizers step (class, variant) for the report: one Python call per
            # optimizer.step(), no timing.
            from torch.optim.optimizer import register_optimizer_step_pre_hook

            def see(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
                if self.owns_this_thread():
                    self.observed.see_optimizer(optimizer)

            self._observer = register_optimizer_step_pre_hook(see)
        self._state = "running"
        if self.warmup_steps == 0:
            self._end_warmup()
        elif self.warmup_steps == 1 and self.count_flops:
            self._start_flop_count()  # step 0 is the last warm-up step
        return self

    def _profiler_config(self) -> ProfilerConfig | None:
        if self._trace is False or self._trace is None:
            return None
        from perfkit.config.schema import ProfilerConfig

        if self._trace is True:
            return ProfilerConfig(enabled=True)
        if isinstance(self._trace, ProfilerConfig):
            return self._trace
        raise SessionError(f"trace: expected True, False or a ProfilerConfig, got {type(self._trace).__name__}")

    @property
    def done(self) -> bool:
        """True once ``steps`` measured steps are finished (or the session ended)."""
        return self._state != "running" or (self.steps is not None and self._measured >= self.steps)

    @property
    def step_index(self) -> int:
        """The index of the step now running (warm-up steps included, from 0)."""
        return self._index

    @property
    def current_phase(self) -> str | None:
        return self._open if self._state == "running" else None

    def owns_this_thread(self) -> bool:
        """True in the process and thread that started the session (hooks use it to
        ignore DataLoader workers, autograd's device threads and user threads)."""
        return self._state == "running" and threading.get_ident() == self._thread and os.getpid() == self._pid

    # ------------------------------------------------------------------ boundaries

    def switch(self, phase: str | None) -> None:
        """One boundary: close the current segment (charged to the open phase, or to
        ``other``) and open ``phase`` (``None``: time until the next boundary is
        ``other``). The first boundary of a step starts it. Low-level: the YAML loop and
        ``perfkit run``'s hooks call it directly; loops use :meth:`phase`."""
        if self._state != "running":
            raise SessionError("the session has finished; phases and steps must be inside the 'with Session(...)' block")
        if self.sync:
            torch.cuda.synchronize(self.device)  # --sync only: host time then includes device work
        now = self._clock.now()
        handle = self._timer.mark()
        current = self._current
        if current is None:
            self._current = _OpenStep(self._index, now, handle, dict.fromkeys(PHASES, 0.0))
        elif self._open is not None:
            current.host[self._open] += now - self._t
            current.pairs.append((self._open, self._h, handle))
        if self._ranges:
            self._switch_range(phase)
        self._open = phase
        self._t = now
        self._h = handle

    def _switch_range(self, phase: str | None) -> None:
        if self._range is not None:
            self._range.__exit__(None, None, None)
            self._range = None
        if phase is not None:
            from torch.autograd.profiler import record_function

            self._range = record_function(PHASE_RANGE_PREFIX + phase)
            self._range.__enter__()

    def phase(self, name: str) -> _PhaseContext:
        """``with s.phase("forward"):`` marks one of data, h2d, forward, backward,
        optimizer. Phases do not nest; time outside them is ``other``."""
        context = self._phases.get(name)
        if context is None:
            raise SessionError(f"unknown phase '{name}'; use one of {', '.join(PHASES)} (time outside them is 'other')")
        return context

    def data(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """Yield ``iterable``'s items; the time blocked in ``iter()`` and ``next()`` is
        the ``data`` phase. Stops when :attr:`done`. The samples of each batch (the first
        dimension of its first tensor) count for the step unless ``step(samples=...)``
        says otherwise."""
        self.observed.see_loader(iterable)
        iterator: Iterator[Any] | None = None
        while not self.done:
            self.switch("data")
            try:
                if iterator is None:
                    iterator = iter(iterable)
                item = next(iterator)
            except StopIteration:
                self.switch(None)
                return
            self.switch(None)
            self.add_samples(item)
            yield item

    def add_samples(self, batch: Any) -> None:
        """Count a batch's samples for the running step (what :meth:`data` does)."""
        if self._current is not None:
            self._current.auto_samples += batch_size(batch) or 0

    def step(
        self,
        samples: int | None = None,
        tokens: int | None = None,
        loss: Any = None,
        grad_norm: Any = None,
    ) -> None:
        """Close the running step. ``samples``/``tokens``: what it trained on (default:
        the batches :meth:`data` yielded); ``loss``/``grad_norm``: tensors or floats,
        read on the host only after the run (no sync)."""
        if self._open is not None:
            raise SessionError(f"step() called inside phase '{self._open}'; close the phase first")
        self.end_step(samples=samples, tokens=tokens, loss=loss, grad_norm=grad_norm)

    def end_step(self, samples: int | None = None, tokens: int | None = None, loss: Any = None, grad_norm: Any = None) -> None:
        """Close the running step at a boundary placed now (an open phase ends there)."""
        if self._state != "running":
            raise SessionError("step() after the session finished")
        if self._current is None:  # a step with no boundary yet: it began where the last one ended
            self._current = _OpenStep(self._index, *self._origin, host=dict.fromkeys(PHASES, 0.0))
            self._t, self._h = self._origin
        self.switch(None)  # the step's end boundary
        current = self._current
        assert current is not None
        if self._flops is not None:
            self._stop_flop_count()
        step_ms = (self._t - current.start_t) * 1e3
        host_ms = {phase: value * 1e3 for phase, value in current.host.items()}
        host_ms["other"] = step_ms - sum(host_ms.values())
        warmup = current.index < self.warmup_steps
        self._pending.append(
            _PendingStep(
                index=current.index,
                warmup=warmup,
                traced=self._tracer.is_traced(current.index) if self._tracer is not None else False,
                host_ms=host_ms,
                step_host_ms=step_ms,
                device_pairs=current.pairs,
                step_marks=(current.start_h, self._h),
                samples=current.auto_samples if samples is None else int(samples),
                tokens=tokens,
                loss=loss,
                grad_norm=grad_norm,
            )
        )
        self._max_marks = max(self._max_marks, len(current.pairs) + 2)
        self._current = None
        self._between_steps(current.index, warmup)

    def _between_steps(self, index: int, warmup: bool) -> None:
        """perfkit's own work between two steps: outside every step's time."""
        if self._ranges and self._range is not None:
            self._switch_range(None)
        if self._cuda and (index == 0 or index == self.warmup_steps - 1):
            torch.cuda.synchronize(self.device)  # between steps: surface async CUDA errors here
        if not warmup:
            self._measured += 1
        if index + 1 == self.warmup_steps:
            self._end_warmup()
        if self._tracer is not None:
            self._tracer.step()
        self._index = index + 1
        if self._progress is not None:
            total = self.warmup_steps + self.steps if self.steps is not None else 0
            self._progress(self._index, total)
        reserve = getattr(self._timer, "reserve", None)
        if reserve is not None:
            reserve(4 * self._max_marks)  # refill the event pool here, never inside a phase
        if self.count_flops and self._index == self.warmup_steps - 1 and self._flop_result is None:
            self._start_flop_count()
        if self.done:
            return
        # The next step starts now: code between step() and its first phase is its `other`.
        now = self._clock.now()
        handle = self._timer.mark()
        self._t, self._h = now, handle
        self._origin = (now, handle)
        self._current = _OpenStep(self._index, now, handle, dict.fromkeys(PHASES, 0.0))

    def _end_warmup(self) -> None:
        self._compiled_before = compiled_graphs()
        self._host_peak_reset = reset_peak_rss()  # the host peak covers measured steps
        if self._cuda:
            torch.cuda.reset_peak_memory_stats(self.device)  # so do device peaks

    # ------------------------------------------------------------------ FLOPs

    def _start_flop_count(self) -> None:
        if compiled_graphs() > self._compiled_at_start or self.observed.compiled:
            self._flops_note = "FLOPs not counted: torch.compile'd graphs are opaque to the FLOP counter"
            return
        from perfkit.runtime.flops import StepFlopCounter

        self._flops = StepFlopCounter()
        self._flops.__enter__()

    def _stop_flop_count(self) -> None:
        counter, self._flops = self._flops, None
        counter.__exit__(None, None, None)
        self._flop_result = (counter.total, counter.conv, counter.matmul_dtype(self.device), counter.conv_dtype(self.device))

    # ------------------------------------------------------------------ the end

    def finish(self, error: BaseException | None = None) -> RunResult | None:
        """End the session: discard an unfinished step, read device times (the run's one
        synchronisation), stop the profiler, and build the result. An ``error`` marks the
        result partial. Saves to ``output`` when given. Idempotent."""
        if self._state == "new":
            return None
        if self._state == "finished":
            return self._result
        self._state = "finished"
        if self._observer is not None:
            self._observer.remove()
        if self._flops is not None:  # the counted step never finished
            self._flops.__exit__(None, None, None)
            self._flops = None
        if self._range is not None:
            self._range.__exit__(None, None, None)
            self._range = None
        self._current = None
        self._timer.finish()  # the run's single device synchronisation
        compiled_after = compiled_graphs()
        steps = _finalize(self._pending, self._timer)
        trace_path: str | None = None
        analysis: dict[str, Any] | None = None
        if self._tracer_cm is not None:
            self._tracer_cm.__exit__(None, None, None)
            path = self._tracer.trace_path
            trace_path = str(path.resolve()) if path is not None else None
            found = self._tracer.analysis()
            analysis = found.to_dict() if found is not None else None
        host_peak, host_scope = peak_rss_bytes(self._host_peak_reset)
        total = int(torch.cuda.get_device_properties(self.device).total_memory) if self._cuda else None
        memory = Memory(
            device_peak_allocated_bytes=int(torch.cuda.max_memory_allocated(self.device)) if self._cuda else None,
            device_peak_reserved_bytes=int(torch.cuda.max_memory_reserved(self.device)) if self._cuda else None,
            device_total_bytes=total,
            host_peak_rss_bytes=host_peak,
            host_peak_rss_scope=host_scope,
        )
        flops = self._flop_result
        self._record = SessionRecord(
            started_at=self._started_at,
            device=self.device,
            steps=steps,
            interrupted=isinstance(error, KeyboardInterrupt),
            error=None if error is None or isinstance(error, KeyboardInterrupt) else _describe(error),
            compiled_before_measuring=self._compiled_before,
            compiled_after_measuring=compiled_after,
            memory=memory,
            trace_path=trace_path,
            trace_analysis=analysis,
            flops_per_step=flops[0] if flops else None,
            conv_flops_per_step=flops[1] if flops else None,
            matmul_dtype=flops[2] if flops else None,
            conv_dtype=flops[3] if flops else None,
            flops_note=self._flops_note,
        )
        if self.source != "yaml":
            from perfkit.runtime.assemble import session_result

            self._result = session_result(self, self._record)
            if self.output is not None:
                self.save(self.output)
        return self._result

    @property
    def record(self) -> SessionRecord:
        if self._record is None:
            raise SessionError("the session has not finished yet: read .record after the 'with' block")
        return self._record

    @property
    def result(self) -> RunResult:
        """The :class:`RunResult` (after the ``with`` block)."""
        if self._result is None:
            raise SessionError("no result yet: read .result after the 'with Session(...)' block has ended")
        return self._result

    @property
    def extra_config(self) -> dict[str, Any]:
        return dict(self._extra_config)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the result as JSON, atomically; ``perfkit report``, ``compare`` and
        ``gate`` read it unchanged."""
        from perfkit.report import save_run

        target = Path(path)
        save_run(self.result, target)
        return target


def _describe(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def compiled_graphs() -> int:
    """Graphs torch.compile (dynamo) has compiled so far in this process."""
    try:
        from torch._dynamo.utils import counters
    except ImportError:  # pragma: no cover
        return 0
    return int(counters["stats"].get("unique_graphs", 0))


def _host_values(values: Sequence[Any]) -> list[float | None]:
    """Losses (or norms) of every step on the host, with one device-to-host copy.

    A step's value may be None, a float, a tensor, or a list of them (several
    backward passes in one step: their sum)."""
    tensors: list[torch.Tensor] = []
    slots: list[list[int] | float | None] = []
    for value in values:
        parts = value if isinstance(value, (list, tuple)) else ([] if value is None else [value])
        if not parts:
            slots.append(None)
            continue
        if all(not isinstance(p, torch.Tensor) for p in parts):
            slots.append(float(sum(float(p) for p in parts)))
            continue
        idx: list[int] = []
        for p in parts:
            tensors.append(p.detach().reshape(()).float() if isinstance(p, torch.Tensor) else torch.tensor(float(p)))
            idx.append(len(tensors) - 1)
        slots.append(idx)
    host: list[float] = []
    if tensors:
        devices = {t.device for t in tensors}
        if len(devices) == 1:
            host = torch.stack(tensors).cpu().tolist()
        else:
            host = [float(t.cpu()) for t in tensors]
    out: list[float | None] = []
    for slot in slots:
        if isinstance(slot, list):
            out.append(float(sum(host[i] for i in slot)))
        else:
            out.append(slot)
    return out


def _finalize(pending: list[_PendingStep], timer: DeviceTimer) -> list[StepSample]:
    """Read device times and move losses/norms to the host, after the measured window."""
    if not pending:
        return []
    losses = _host_values([p.loss for p in pending])
    norms = _host_values([p.grad_norm for p in pending])
    out: list[StepSample] = []
    for p, loss, norm in zip(pending, losses, norms, strict=True):
        device_ms: dict[str, float] | None = None
        step_device_ms: float | None = None
        if timer.enabled:
            device_ms = dict.fromkeys(PHASES, 0.0)
            for phase, start, end in p.device_pairs:
                device_ms[phase] += timer.elapsed_ms(start, end)
            step_device_ms = timer.elapsed_ms(*p.step_marks)
            device_ms["other"] = step_device_ms - sum(device_ms[ph] for ph in PHASES)
        out.append(
            StepSample(
                index=p.index,
                warmup=p.warmup,
                traced=p.traced,
                host_ms=p.host_ms,
                step_host_ms=p.step_host_ms,
                device_ms=device_ms,
                step_device_ms=step_device_ms,
                samples=p.samples,
                tokens=p.tokens,
                loss=loss,
                grad_norm=norm,
            )
        )
    return out


__all__ = ["Session", "SessionError", "SessionRecord", "compiled_graphs"]
