"""The instrumented training loop.

One step is ``grad_accum`` micro-batches of data → h2d → forward → backward, then one
optimizer phase. Phase boundaries are contiguous: at each boundary the loop reads the
host clock and (on CUDA) records one event on the current stream, so

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
* ``forward``: model forward and the loss, under autocast when AMP is on;
* ``backward``: ``loss.backward()`` (scaled by the GradScaler under fp16);
* ``optimizer``: unscale and clipping when ``grad_clip`` is set, ``optimizer.step``,
  ``scaler.update``, ``zero_grad`` and the scheduler step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from perfkit.errors import BuildError
from perfkit.results import PHASES, StepSample
from perfkit.runtime.clock import Clock, DeviceTimer
from perfkit.runtime.host_memory import reset_peak_rss
from perfkit.runtime.toggles import to_device
from perfkit.trace.names import PHASE_RANGE_PREFIX


class StepTracer(Protocol):
    """What the loop needs from a profiler session (see :mod:`perfkit.trace.session`)."""

    def is_traced(self, step_index: int) -> bool: ...

    def step(self) -> None: ...


def lm_or_classification_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy: ``(B, C)`` classification, ``(B, T, V)`` language models (class
    dimension last), and ``(B, C, H, W)`` dense prediction (class dimension 1, as torch
    expects)."""
    if output.dim() == 3:
        return nn.functional.cross_entropy(output.reshape(-1, output.size(-1)), target.reshape(-1))
    return nn.functional.cross_entropy(output, target)


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
    batch_size: int = 0
    loss_fn: Callable[[Any, Any], torch.Tensor] = lm_or_classification_loss


@dataclass(frozen=True)
class LoopOptions:
    steps: int
    warmup_steps: int
    grad_accum: int = 1
    grad_clip: float | None = None
    track_grad_norm: bool = True
    sync: bool = False


@dataclass
class LoopRecord:
    """What the loop measured. ``interrupted`` means Ctrl-C stopped it early.

    ``full_batch`` is the first host-side (pre-copy) micro-batch of ``batch_size`` samples,
    kept for FLOP counting after the loop; ``compiled_*`` count torch.compile graphs when
    measuring starts and ends (a difference means compilation inside measured steps);
    ``host_peak_reset`` says the process's RSS high-water mark was reset when measuring
    started (:mod:`perfkit.runtime.host_memory`).
    """

    steps: list[StepSample] = field(default_factory=list)
    interrupted: bool = False
    full_batch: tuple[Any, Any] | None = None
    compiled_before_measuring: int = 0
    compiled_after_measuring: int = 0
    host_peak_reset: bool = False


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
    loss: torch.Tensor
    grad_norm: torch.Tensor | None


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


def _split(batch: Any) -> tuple[Any, Any]:
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    if isinstance(batch, dict) and {"input", "target"} <= batch.keys():
        return batch["input"], batch["target"]
    raise BuildError(
        "data.name: dataset items must be (input, target) pairs or {'input':..., 'target':...} "
        f"dicts; got a batch of type {type(batch).__name__}"
    )


def _batch_size(inputs: Any) -> int:
    if isinstance(inputs, torch.Tensor):
        return int(inputs.shape[0])
    if isinstance(inputs, (list, tuple)) and inputs:
        return _batch_size(inputs[0])
    if isinstance(inputs, dict) and inputs:
        return _batch_size(next(iter(inputs.values())))
    raise BuildError("data.name: cannot tell the batch size of the inputs; return tensors")


def run_loop(
    work: Workload,
    options: LoopOptions,
    clock: Clock,
    timer: DeviceTimer,
    tracer: StepTracer | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> LoopRecord:
    """Run ``warmup_steps + steps`` steps and return their raw samples.

    Ctrl-C stops the loop after discarding the unfinished step; the steps already
    finished are returned with ``interrupted=True``.
    """
    record = LoopRecord()
    pending: list[_PendingStep] = []
    total = options.warmup_steps + options.steps
    batches = _batches(work.loader)
    params = [p for p in work.module.parameters() if p.requires_grad]
    cuda_sync = options.sync and work.device.type == "cuda"
    if tracer is not None:
        from torch.profiler import record_function

        def phase_range(name: str) -> contextlib.AbstractContextManager[Any]:
            return record_function(PHASE_RANGE_PREFIX + name)
    else:

        def phase_range(name: str) -> contextlib.AbstractContextManager[Any]:
            return contextlib.nullcontext()

    cuda = work.device.type == "cuda"
    try:
        for index in range(total):
            warmup = index < options.warmup_steps
            if index == options.warmup_steps:
                record.compiled_before_measuring = compiled_graphs()
                record.host_peak_reset = reset_peak_rss()  # host peak covers measured steps
                if cuda:
                    torch.cuda.reset_peak_memory_stats(work.device)  # peaks cover measured steps only
            traced = tracer.is_traced(index) if tracer is not None else False
            try:
                step, cpu_batch = _run_step(
                    work, options, clock, timer, batches, params, phase_range, cuda_sync, index, warmup, traced
                )
                if cuda and (index == 0 or index == options.warmup_steps - 1):
                    torch.cuda.synchronize(work.device)  # between steps: surface async CUDA errors here
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
            except (RuntimeError, ValueError, IndexError, TypeError, AssertionError) as exc:
                if index == 0:
                    raise BuildError(
                        f"model.params: the first training step failed ({type(exc).__name__}: {_first_line(exc)}); "
                        "check that model.params fit data.params (num_classes, image_size, vocab_size, seq_len)"
                    ) from exc
                raise BuildError(
                    f"model.name: training failed at step {index} ({type(exc).__name__}: {_first_line(exc)}); "
                    "PERFKIT_DEBUG=1 shows the traceback"
                ) from exc
            if record.full_batch is None and cpu_batch is not None:
                record.full_batch = cpu_batch
            pending.append(step)
            if tracer is not None:
                tracer.step()
            if on_step is not None:
                on_step(index + 1, total)
    except KeyboardInterrupt:
        record.interrupted = True
    timer.finish()  # the run's single device synchronisation
    record.compiled_after_measuring = compiled_graphs()
    record.steps = _finalize(pending, timer)
    return record


class _DataError(Exception):
    """The DataLoader raised while producing a batch (the cause holds the original)."""


class _OptimizerError(Exception):
    """The optimizer phase raised (the cause holds the original)."""


def marks_per_step(grad_accum: int) -> int:
    """Device-timer marks one step places (at most): its start, four per micro-batch
    (after data, h2d, forward, backward), the monitoring boundary, the optimizer, the end.
    The runner pre-creates that many CUDA events per step (:class:`CudaEventTimer`)."""
    return 4 * grad_accum + 4


def compiled_graphs() -> int:
    """Graphs torch.compile (dynamo) has compiled so far in this process."""
    try:
        from torch._dynamo.utils import counters
    except ImportError:  # pragma: no cover
        return 0
    return int(counters["stats"].get("unique_graphs", 0))


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
    clock: Clock,
    timer: DeviceTimer,
    batches: Iterator[Any],
    params: list[nn.Parameter],
    phase_range: Callable[[str], contextlib.AbstractContextManager[Any]],
    cuda_sync: bool,
    index: int,
    warmup: bool,
    traced: bool,
) -> tuple[_PendingStep, tuple[Any, Any] | None]:
    """One step; returns its pending sample and, if one of its micro-batches had
    ``batch_size`` samples, that micro-batch as loaded (host side, for FLOP counting)."""
    host = dict.fromkeys(PHASES, 0.0)
    pairs: list[tuple[str, int, int]] = []
    state = {"t": clock.now(), "h": timer.mark()}
    step_start_t, step_start_h = state["t"], int(state["h"])

    def boundary(phase: str | None) -> None:
        """Close the current segment; ``phase=None`` leaves it to ``other``."""
        if cuda_sync:
            torch.cuda.synchronize(work.device)  # --sync only: host time then includes device work
        now = clock.now()
        handle = timer.mark()
        if phase is not None:
            host[phase] += now - state["t"]
            pairs.append((phase, int(state["h"]), handle))
        state["t"], state["h"] = now, handle

    samples = 0
    losses: list[torch.Tensor] = []
    full: tuple[Any, Any] | None = None
    for _ in range(options.grad_accum):
        with phase_range("data"):
            try:
                batch = next(batches)
            except BuildError:
                raise
            except Exception as exc:  # any failure inside the user's dataset or a worker
                raise _DataError() from exc
            inputs, targets = _split(batch)
        boundary("data")
        size = _batch_size(inputs)
        samples += size
        if full is None and size == work.batch_size:
            full = (inputs, targets)
        with phase_range("h2d"):
            inputs = to_device(inputs, work.device, work.non_blocking, work.channels_last)
            targets = to_device(targets, work.device, work.non_blocking, False)
        boundary("h2d")
        with phase_range("forward"), work.autocast():
            loss = work.loss_fn(work.runnable(inputs), targets)
            if options.grad_accum > 1:
                loss = loss / options.grad_accum
        boundary("forward")
        with phase_range("backward"):
            if work.scaler is not None:
                work.scaler.scale(loss).backward()
            else:
                loss.backward()
        boundary("backward")
        losses.append(loss.detach())
    grad_norm: torch.Tensor | None = None
    if options.track_grad_norm and options.grad_clip is None:
        # Monitoring only: timed as `other`, never as optimizer time. Under a GradScaler the
        # gradients are still scaled; dividing the norm by the scale tensor avoids an extra
        # unscale_ (and a host sync) that the user's own loop would not do.
        grads = [p.grad for p in params if p.grad is not None]
        if grads:
            grad_norm = _total_norm(grads)
            if work.scaler is not None:
                grad_norm = grad_norm / _scale_tensor(work.scaler)
        boundary(None)
    with phase_range("optimizer"):
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
    boundary("optimizer")
    step_loss = losses[0] if len(losses) == 1 else torch.stack(losses).sum()
    grad_norm = grad_norm.detach() if grad_norm is not None else None
    end_t = clock.now()
    end_h = timer.mark()
    tokens = samples * work.tokens_per_sample if work.tokens_per_sample else None
    step_ms = (end_t - step_start_t) * 1e3
    host_ms = {phase: value * 1e3 for phase, value in host.items()}
    host_ms["other"] = step_ms - sum(host_ms.values())
    pending = _PendingStep(
        index=index,
        warmup=warmup,
        traced=traced,
        host_ms=host_ms,
        step_host_ms=step_ms,
        device_pairs=pairs,
        step_marks=(step_start_h, end_h),
        samples=samples,
        tokens=tokens,
        loss=step_loss,
        grad_norm=grad_norm,
    )
    return pending, full


def _finalize(pending: list[_PendingStep], timer: DeviceTimer) -> list[StepSample]:
    """Read device times and move losses/norms to the host, after the measured window."""
    if not pending:
        return []
    losses = torch.stack([p.loss.float() for p in pending]).cpu().tolist()
    norms_present = [p.grad_norm for p in pending if p.grad_norm is not None]
    norms_host = torch.stack([n.float() for n in norms_present]).cpu().tolist() if norms_present else []
    norm_iter = iter(norms_host)
    out: list[StepSample] = []
    for p, loss in zip(pending, losses, strict=True):
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
                loss=float(loss),
                grad_norm=next(norm_iter) if p.grad_norm is not None else None,
            )
        )
    return out
