"""``perfkit run train.py``: measure an unmodified script with torch's own hooks.

The script runs in this process, as ``python train.py`` would run it (``sys.argv``,
``__main__``, its folder first on ``sys.path``), while :class:`ScriptHooks` drives a
:class:`~perfkit.runtime.session.Session` from these boundaries:

* **data**: ``next()`` on any DataLoader iterator (``_BaseDataLoaderIter.__next__``,
  wrapped), and ``iter(DataLoader)`` (a new epoch, its workers' start-up included);
* **h2d**: ``Tensor.to``/``Tensor.cuda`` of a CPU tensor to another device while no
  other phase is open (wrapped; copies inside the model stay forward);
* **forward**: from the outermost module's forward pre-hook (torch's global
  ``register_module_forward_pre_hook``) until the next boundary, so the loss computed
  after the model's forward counts as forward, as in perfkit's own loop. Nested modules
  do not open new phases (a depth counter); a forward inside backward (activation
  checkpointing) or inside data loading stays in that phase;
* **backward**: ``Tensor.backward`` and ``torch.autograd.backward`` (wrapped; nested
  calls count once); the tensor backward is called on is kept as the step's loss;
* **optimizer**: torch's global optimizer step pre/post hooks, ``Optimizer.zero_grad``
  and ``GradScaler.step``/``update`` (wrapped).

**Where a step ends.** A step ends at the first DataLoader fetch after at least one
optimizer step: gradient accumulation (several fetches, forwards and backwards per
optimizer step) and several optimizers per batch (a GAN's D and G steps) each give one
step per optimizer cycle. A script that never iterates a DataLoader ends a step at the
first outermost forward after an optimizer step instead (then two optimizers stepping
on separate forwards make two steps; the result says so in a note). Time between two
boundaries that no phase claims is ``other``.

**Several models.** Any module whose forward starts while no forward is running is an
outermost module; the first one seen is the model whose parameters are counted.
**No optimizer.** No step ever ends; perfkit says which hook never fired.

Only the thread and process that started the script drive the session: DataLoader
workers, autograd's device threads and user threads pass through the hooks untouched.
Every hook and wrapper is removed when the script ends, however it ends.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data.dataloader import _BaseDataLoaderIter

from perfkit.runtime.batches import batch_size
from perfkit.runtime.session import Session


class StopScript(BaseException):
    """Raised inside the script once the measured steps are done (the default). A
    ``BaseException`` so that the script's ``except Exception`` does not swallow it."""


class ScriptHooks:
    """Installs the boundaries above around a running :class:`Session`."""

    def __init__(self, session: Session, stop_when_done: bool = True) -> None:
        self.session = session
        self.stop_when_done = stop_when_done
        self.fired = {"data": 0, "forward": 0, "backward": 0, "optimizer": 0}
        self._forward_depth = 0
        self._region: str | None = None  # a wrapped call now running (data, backward, optimizer)
        self._stepped = False  # an optimizer stepped since the step began
        self._saw_data = False
        self._training = False  # set at the first data fetch or forward: copies before it are setup
        self._first_forward_samples: int | None = None
        self._samples = 0
        self._losses: list[torch.Tensor] = []
        self._optimizers_in_step: set[int] = set()
        self.several_optimizers_without_data = False
        self._restore: list[Callable[[], None]] = []

    # ---------------------------------------------------------------- install/remove

    def install(self) -> None:
        from torch.nn.modules import module as module_hooks
        from torch.optim import optimizer as optimizer_hooks

        handles = [
            module_hooks.register_module_forward_pre_hook(self._forward_pre),
            module_hooks.register_module_forward_hook(self._forward_post, always_call=True),
            optimizer_hooks.register_optimizer_step_pre_hook(self._optimizer_pre),
            optimizer_hooks.register_optimizer_step_post_hook(self._optimizer_post),
        ]
        self._restore += [h.remove for h in handles]
        self._wrap(_BaseDataLoaderIter, "__next__", "data")
        self._wrap(DataLoader, "__iter__", "data")
        self._wrap(torch.Tensor, "backward", "backward")
        self._wrap(torch.autograd, "backward", "backward")
        self._wrap(torch.optim.Optimizer, "zero_grad", "optimizer")
        self._wrap(torch.amp.GradScaler, "step", "optimizer")
        self._wrap(torch.amp.GradScaler, "update", "optimizer")
        self._wrap_copy("to")
        self._wrap_copy("cuda")

    def remove(self) -> None:
        while self._restore:
            self._restore.pop()()

    def _set(self, owner: Any, name: str, value: Any) -> None:
        """Replace ``owner.name``; removal puts back exactly what was there (or deletes
        the override when the attribute was inherited, e.g. ``Tensor.to`` from the C base)."""
        own = vars(owner)
        if name in own:
            original = own[name]
            self._restore.append(lambda: setattr(owner, name, original))
        else:
            self._restore.append(lambda: delattr(owner, name))
        setattr(owner, name, value)

    def _wrap(self, owner: Any, name: str, phase: str) -> None:
        original = getattr(owner, name)
        hooks = self

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if hooks._region is not None or not hooks.session.owns_this_thread():
                return original(*args, **kwargs)  # nested, or another thread/process
            return hooks._run_region(phase, name, original, args, kwargs)

        self._set(owner, name, wrapper)

    def _wrap_copy(self, name: str) -> None:
        original = getattr(torch.Tensor, name)
        hooks = self

        always = name == "cuda"

        @functools.wraps(original)
        def wrapper(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            session = hooks.session
            if (
                not hooks._training
                or hooks._region is not None
                or session.current_phase is not None
                or tensor.device.type != "cpu"
                or not (always or _to_another_device(args, kwargs))
                or not session.owns_this_thread()
            ):
                return original(tensor, *args, **kwargs)
            session.switch("h2d")
            try:
                return original(tensor, *args, **kwargs)
            finally:
                if session.owns_this_thread():
                    session.switch(None)

        self._set(torch.Tensor, name, wrapper)

    # ---------------------------------------------------------------- the regions

    def _run_region(self, phase: str, name: str, original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        session = self.session
        if phase == "data":
            self._training = True
            if name == "__iter__" and args:
                session.observed.see_loader(args[0])
            self._step_boundary("data")
            self.fired["data"] += 1
            self._saw_data = True
        elif phase == "backward":
            self.fired["backward"] += 1
            self._forward_depth = 0
            loss = args[0] if args else kwargs.get("tensors")
            if isinstance(loss, torch.Tensor) and loss.numel() == 1:
                self._losses.append(loss.detach())
        if not session.owns_this_thread():  # --no-stop: the boundary above finished the session
            return original(*args, **kwargs)
        self._region = phase
        session.switch(phase)
        try:
            result = original(*args, **kwargs)
        finally:
            self._region = None
            if session.owns_this_thread():
                session.switch(None)
        if phase == "data" and name == "__next__":
            self._samples += batch_size(result) or 0
        return result

    def _forward_pre(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if not self.session.owns_this_thread():
            return
        depth = self._forward_depth
        self._forward_depth = depth + 1
        if depth > 0:
            return
        if self._region is not None or self.session.current_phase in ("data", "backward", "optimizer"):
            return  # a module used while loading data, recomputed in backward, or by the optimizer
        self._training = True
        self._step_boundary("forward")
        if not self.session.owns_this_thread():
            return
        self.fired["forward"] += 1
        self.session.observed.see_forward(module, args)
        if not self._saw_data and self._first_forward_samples is None:
            first = next((a for a in args if isinstance(a, torch.Tensor)), None)
            self._first_forward_samples = batch_size(first) if first is not None else None
        self.session.switch("forward")

    def _forward_post(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if self.session.owns_this_thread():
            self._forward_depth = max(0, self._forward_depth - 1)

    def _optimizer_pre(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if not self.session.owns_this_thread():
            return
        self.fired["optimizer"] += 1
        self.session.observed.see_optimizer(optimizer)
        self._optimizers_in_step.add(id(optimizer))
        if self._region is None:
            self.session.switch("optimizer")

    def _optimizer_post(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if not self.session.owns_this_thread():
            return
        self._stepped = True
        if self._region is None:
            self.session.switch(None)

    # ---------------------------------------------------------------- step boundaries

    def _step_boundary(self, event: str) -> None:
        """Called at a data fetch or an outermost forward: closes the step when an
        optimizer has stepped since it began (see the module docstring)."""
        if not self._stepped:
            return
        if event == "forward" and self._saw_data:
            return  # data-driven: only a fetch ends a step
        if not self._saw_data and len(self._optimizers_in_step) > 1:
            self.several_optimizers_without_data = True
        samples = self._samples if self._saw_data else (self._first_forward_samples or 0)
        losses, self._losses = self._losses, []
        self._stepped = False
        self._samples = 0
        self._first_forward_samples = None
        self._optimizers_in_step = set()
        self.session.end_step(samples=samples, loss=losses or None)
        if self.session.done:
            if self.stop_when_done:
                raise StopScript
            self.session.finish()  # --no-stop: the result is complete; the hooks go inert

    def missing_hook(self) -> str | None:
        """Which boundary never fired, when no step could be closed."""
        if self.fired["optimizer"] == 0:
            return (
                "no optimizer step ran (torch.optim.Optimizer.step's global hooks never fired): perfkit run ends a "
                "step at the first data fetch or forward after an optimizer step; does the script train?"
            )
        if self.fired["data"] == 0 and self.fired["forward"] == 0:
            return "no DataLoader fetch and no module forward ran after the optimizer step, so no step could end"
        return None


def _to_another_device(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether ``Tensor.to(*args, **kwargs)`` targets a device other than the CPU (a
    dtype-only ``.to(torch.float16)`` is no copy to a device)."""
    candidates = [*args, kwargs.get("device")]
    for value in candidates:
        if isinstance(value, torch.device):
            return value.type != "cpu"
        if isinstance(value, str):
            return not value.startswith("cpu")
        if isinstance(value, int) and not isinstance(value, bool):
            return True  # a CUDA device index
        if isinstance(value, torch.Tensor):
            return value.device.type != "cpu"
    return False


__all__ = ["ScriptHooks", "StopScript"]
