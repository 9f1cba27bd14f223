"""The instrumented YAML training loop: a user of :class:`~perfkit.runtime.session.Session`.

One step is ``grad_accum`` micro-batches of data → h2d → forward → backward, then one
optimizer phase. The loop measures nothing itself: every phase boundary is one
``Session.switch`` (one host clock read and, on CUDA, one event on the current stream)
and ``Session.end_step`` closes the step, so the YAML loop, the Python API and
``perfkit run`` share one measurement core. Phase boundaries are contiguous, so

    step = data + h2d + forward + backward + optimizer + other

holds exactly for host and for device time. ``other`` is perfkit's own bookkeeping inside
the step: keeping the loss tensor and, unless clipping computes it anyway, the global
gradient norm for the health checks (so that monitoring never inflates the optimizer
phase). Work perfkit does between steps (progress display, ``prof.step()``, the checks
below) falls outside every step.

Synchronisation points, all deliberate:

* none per phase in the default mode. CUDA events are read once, after the last step
  (``DeviceTimer.finish``); losses and gradient norms stay on the device until then;
* with ``sync=True`` (``--sync``), ``torch.cuda.synchronize`` at every boundary, so host
  times include the device work of the phase. Slower, and said in the report;
* between steps, after the first step and after the last warm-up step, one
  ``torch.cuda.synchronize``: asynchronous CUDA errors (a label out of range) surface
  at the step that caused them, and warm-up's queued work never spills into the first
  measured step;
* syncs the training itself contains, which a user's own loop pays too: ``next()`` on
  the DataLoader; a host-to-device copy from pageable memory (``pin_memory: false``) is
  ``cudaMemcpyAsync`` + ``cudaStreamSynchronize``, so the h2d phase then waits for the
  previous step's GPU work; GradScaler's ``step`` reads the inf check on the host for
  non-fused optimizers (fp16 only).

What each phase includes:

* ``data``: time blocked in ``next()`` on the DataLoader iterator, including starting a
  new epoch's iterator (and its workers unless ``persistent_workers``);
* ``h2d``: the host-to-device copy of the batch (``non_blocking`` when pinned) and the
  channels_last conversion of 4-D inputs;
* ``forward``: model forward and the loss (``model.call`` and ``loss:``,
  :mod:`perfkit.runtime.batches`), under autocast when AMP is on;
* ``backward``: ``loss.backward()`` (scaled by the GradScaler under fp16);
* ``optimizer``: unscale and clipping when ``grad_clip`` is set, ``optimizer.step``,
  ``scaler.update``, ``zero_grad`` and the scheduler step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from perfkit.errors import BuildError, PerfkitError
from perfkit.runtime.batches import StepMath, batch_size, to_device
from perfkit.runtime.session import Session


@dataclass
class Workload:
    """Everything the loop runs, already built and placed on the device."""

    runnable: nn.Module
    module: nn.Module
    loader: Any
    optimizer: Optimizer
    scheduler: LRScheduler | None
    scaler: torch.amp.GradScaler | None
    device: torch.device
    autocast: Callable[[], contextlib.AbstractContextManager[Any]]
    non_blocking: bool
    channels_last: bool
    tokens_per_sample: int | None
    math: StepMath
    batch_size: int = 0


@dataclass(frozen=True)
class LoopOptions:
    steps: int
    warmup_steps: int
    grad_accum: int = 1
    grad_clip: float | None = None
    track_grad_norm: bool = True


@dataclass
class LoopRecord:
    """What the loop adds to the session's measurements.

    ``interrupted``: Ctrl-C stopped it; ``failure``: an error stopped it after
    ``finished`` steps (the session keeps those steps). ``full_batch`` is the first
    host-side (pre-copy) micro-batch of ``batch_size`` samples, kept for FLOP counting
    after the loop.
    """

    interrupted: bool = False
    failure: PerfkitError | None = None
    finished: int = 0
    full_batch: Any = None


def _total_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    get_total_norm = getattr(nn.utils, "get_total_norm", None)
    if get_total_norm is not None:
        norm: torch.Tensor = get_total_norm(grads)
        return norm
    fallback: torch.Tensor = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    return fallback  # pragma: no cover


def _scale_tensor(scaler: torch.amp.GradScaler) -> torch.Tensor:
    """GradScaler's current scale as a device tensor, without reading it on the host."""
    get_async = getattr(scaler, "_get_scale_async", None)
    if get_async is not None:
        scale: torch.Tensor = get_async()
        return scale
    return torch.tensor(scaler.get_scale())  # pragma: no cover - older torch (syncs)


def _batches(loader: Any) -> Iterator[Any]:
    """Endless iteration over the loader; a new epoch starts a new iterator (timed as data)."""
    while True:
        produced = False
        for batch in loader:
            produced = True
            yield batch
        if not produced:
            raise BuildError("data.batch_size: the DataLoader produced no batch in a whole epoch; check the dataset and batch size")


def marks_per_step(grad_accum: int) -> int:
    """Device-timer marks one step places (at most): its start, four per micro-batch
    (data, h2d, forward, backward), the monitoring boundary, the optimizer, the end.
    The runner pre-creates that many CUDA events per step (:class:`CudaEventTimer`)."""
    return 4 * grad_accum + 4


def run_loop(work: Workload, options: LoopOptions, session: Session) -> LoopRecord:
    """Run ``warmup_steps + steps`` steps through ``session`` (already started).

    Ctrl-C stops the loop and discards the unfinished step (``interrupted``). An error
    inside a step is attributed (data, model, optimizer, memory) as a
    :class:`~perfkit.errors.BuildError`; the steps finished before it are kept
    (``failure``). The caller finishes the session either way.
    """
    record = LoopRecord()
    batches = _batches(work.loader)
    params = [p for p in work.module.parameters() if p.requires_grad]
    total = options.warmup_steps + options.steps
    index = 0
    try:
        for index in range(total):
            try:
                full = _run_step(work, options, session, batches, params)
            except _DataError as exc:
                cause = exc.__cause__ or exc
                raise BuildError(
                    f"data.name: loading a batch failed at step {index} ({_last_line(cause)}); "
                    "check the dataset (PERFKIT_DEBUG=1 shows the traceback)"
                ) from cause
            except _OptimizerError as exc:
                cause = exc.__cause__ or exc
                raise BuildError(
                    f"optimizer: the optimizer phase failed at step {index} ({type(cause).__name__}: "
                    f"{_first_line(cause)}); check optimizer.fused/foreach and the optimizer's options for this "
                    f"device and torch {torch.__version__} (PERFKIT_DEBUG=1 shows the traceback)"
                ) from cause
            except torch.OutOfMemoryError as exc:
                raise BuildError(
                    f"data.batch_size: out of device memory at step {index} ({_first_line(exc)}); "
                    "lower data.batch_size, enable toggles.amp, or use a smaller model"
                ) from exc
            except PerfkitError:
                raise
            except (RuntimeError, ValueError, IndexError, TypeError, AssertionError, KeyError, AttributeError) as exc:
                if index == 0:
                    raise BuildError(
                        f"model.params: the first training step failed ({type(exc).__name__}: {_first_line(exc)}); "
                        "check that model.params fit data.params (num_classes, image_size, vocab_size, seq_len), "
                        "model.call and loss"
                    ) from exc
                raise BuildError(
                    f"model.name: training failed at step {index} ({type(exc).__name__}: {_first_line(exc)}); "
                    "PERFKIT_DEBUG=1 shows the traceback"
                ) from exc
            if record.full_batch is None and full is not None:
                record.full_batch = full
            record.finished = index + 1
    except KeyboardInterrupt:
        record.interrupted = True
    except PerfkitError as exc:
        record.failure = exc
    return record


class _DataError(Exception):
    """The DataLoader raised while producing a batch (the cause holds the original)."""


class _OptimizerError(Exception):
    """The optimizer phase raised (the cause holds the original)."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _last_line(exc: BaseException) -> str:
    """``Type: message`` of the original error. A DataLoader worker re-raises it with the
    worker's traceback as text, whose last line is the original ``Type: message``."""
    text = [line for line in str(exc).strip().splitlines() if line.strip()]
    if len(text) > 1:
        return text[-1].strip()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _run_step(
    work: Workload,
    options: LoopOptions,
    session: Session,
    batches: Iterator[Any],
    params: list[nn.Parameter],
) -> Any:
    """One step; returns the first of its micro-batches with ``batch_size`` samples as
    loaded (host side, for FLOP counting), or None."""
    switch = session.switch
    samples = 0
    losses: list[torch.Tensor] = []
    full: Any = None
    for _ in range(options.grad_accum):
        switch("data")
        try:
            batch = next(batches)
        except BuildError:
            raise
        except Exception as exc:  # any failure inside the user's dataset or a worker
            raise _DataError() from exc
        size = batch_size(batch)
        if size is None:
            raise BuildError(
                "data.name: cannot tell the batch size: the batch holds no tensor; return tensors (or "
                "tuples/lists/dicts of them) from the dataset"
            )
        samples += size
        if full is None and size == work.batch_size:
            full = batch
        switch("h2d")
        try:
            batch = to_device(batch, work.device, work.non_blocking, work.channels_last)
        except (RuntimeError, TypeError) as exc:
            raise BuildError(
                f"data.name: the batch cannot be moved to {work.device} ({type(exc).__name__}: {_first_line(exc)}); "
                "return tensors, or tuples/lists/dicts of them, from the dataset"
            ) from exc
        switch("forward")
        with work.autocast():
            loss = work.math(work.runnable, batch)
            if options.grad_accum > 1:
                loss = loss / options.grad_accum
        switch("backward")
        if work.scaler is not None:
            work.scaler.scale(loss).backward()
        else:
            loss.backward()
        losses.append(loss.detach())
    grad_norm: torch.Tensor | None = None
    if options.track_grad_norm and options.grad_clip is None:
        # Monitoring only: timed as `other`, never as optimizer time. Under a GradScaler the
        # gradients are still scaled; dividing the norm by the scale tensor avoids an extra
        # unscale_ (and a host sync) that the user's own loop would not do.
        switch(None)
        grads = [p.grad for p in params if p.grad is not None]
        if grads:
            grad_norm = _total_norm(grads)
            if work.scaler is not None:
                grad_norm = grad_norm / _scale_tensor(work.scaler)
    switch("optimizer")
    try:
        if options.grad_clip is not None:
            if work.scaler is not None:
                work.scaler.unscale_(work.optimizer)
            grad_norm = nn.utils.clip_grad_norm_(params, options.grad_clip)
        if work.scaler is not None:
            work.scaler.step(work.optimizer)
            work.scaler.update()
        else:
            work.optimizer.step()
        work.optimizer.zero_grad(set_to_none=True)
        if work.scheduler is not None:
            work.scheduler.step()
    except torch.OutOfMemoryError:
        raise
    except (RuntimeError, ValueError, TypeError, AssertionError) as exc:
        # e.g. fused: true on a device or torch build whose kernels do not support
        # it: torch only checks at the first step(), so blame the optimizer here.
        raise _OptimizerError() from exc
    session.end_step(
        samples=samples,
        tokens=samples * work.tokens_per_sample if work.tokens_per_sample else None,
        loss=losses[0] if len(losses) == 1 else losses,
        grad_norm=grad_norm.detach() if grad_norm is not None else None,
    )
    return full
