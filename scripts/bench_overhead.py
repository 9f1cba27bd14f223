#!/usr/bin/env python
"""Overhead of perfkit's three front doors against a bare hand-written training loop.

Arms, all training the same model on the same DataLoader in one process:

* ``bare``: the loop a user writes by hand (fetch, forward, loss, backward, step);
* ``yaml loop``: perfkit's own loop (:func:`perfkit.runtime.loop.run_loop`) on a Session,
  with its defaults (per-phase boundaries and the gradient-norm monitoring);
* ``api``: the bare loop wrapped in ``perfkit.Session`` with ``s.data()``, five
  ``s.phase()`` blocks and ``s.step()``;
* ``perfkit run``: the bare loop, unmodified, under ``perfkit run``'s hooks
  (:class:`perfkit.runtime.script.ScriptHooks`).

Every arm is timed by the same external clock: ``perf_counter`` around a whole block of
steps, never perfkit's own step records. Blocks are interleaved in rounds whose arm
order rotates, so drift and order effects hit every arm alike. Each round gives one
ratio per arm (its mean step time over bare's in the same round); the script prints the
median ratio with a 95% bootstrap confidence interval over rounds (scipy). Target:
≤ 1.02 at the median.

    python scripts/bench_overhead.py [CONFIG] [--rounds 12] [--block 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

import perfkit
from perfkit.build.data import build_dataset, build_loader
from perfkit.build.models import build_model
from perfkit.build.optim import build_optimizer
from perfkit.config import load_config
from perfkit.runtime.batches import build_step_math, cross_entropy
from perfkit.runtime.loop import LoopOptions, Workload, run_loop
from perfkit.runtime.script import ScriptHooks
from perfkit.runtime.toggles import prepare_model

REPO = Path(__file__).resolve().parents[1]


def endless(loader: Any) -> Iterator[Any]:
    while True:
        yield from loader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(REPO / "configs" / "quickstart.yaml"))
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--block", type=int, default=10, help="steps per block")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    cfg = load_config(args.config, ["device=cpu"]).config
    torch.manual_seed(cfg.seed)
    spec = build_dataset(cfg.data, REPO)
    loader = build_loader(cfg.data, spec.dataset, pin_memory=False, seed=cfg.seed)
    module, runnable = prepare_model(build_model(cfg.model, REPO), cfg.toggles, torch.device("cpu"))
    optimizer = build_optimizer(cfg.optimizer, module.parameters(), default_total_steps=10**6).optimizer
    cpu = torch.device("cpu")
    work = Workload(
        runnable=runnable, module=module, loader=loader, optimizer=optimizer, scheduler=None, scaler=None,
        device=cpu, autocast=contextlib.nullcontext, non_blocking=False, channels_last=False,
        tokens_per_sample=spec.tokens_per_sample, math=build_step_math("input", "cross-entropy", REPO),
        batch_size=cfg.data.batch_size,
    )
    batches = endless(loader)

    def bare(steps: int) -> None:
        for _ in range(steps):
            x, y = next(batches)
            loss = cross_entropy(runnable(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    def yaml_loop(steps: int) -> None:
        session = perfkit.Session("bench", device=cpu, warmup_steps=0, steps=steps, count_flops=False, source="yaml")
        session.start()
        run_loop(work, LoopOptions(steps=steps, warmup_steps=0), session)
        session.finish()

    def api(steps: int) -> None:
        with perfkit.Session("bench", device=cpu, warmup_steps=0, steps=steps, count_flops=False) as s:
            for x, y in s.data(batches):
                with s.phase("h2d"):
                    x, y = x.to(cpu), y.to(cpu)
                with s.phase("forward"):
                    loss = cross_entropy(runnable(x), y)
                with s.phase("backward"):
                    loss.backward()
                with s.phase("optimizer"):
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                s.step()

    def hooked(steps: int) -> None:
        # `perfkit run`: the same bare loop, unmodified, under the hooks.
        session = perfkit.Session("bench", device=cpu, warmup_steps=0, steps=steps, count_flops=False, source="script")
        hooks = ScriptHooks(session, stop_when_done=False)
        session.start()
        hooks.install()
        try:
            for _ in range(steps):
                x, y = next(batches)  # the DataLoader iterator's __next__: hooked
                loss = cross_entropy(runnable(x), y)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        finally:
            hooks.remove()
            session.finish()

    arms: dict[str, Callable[[int], None]] = {"bare": bare, "yaml loop": yaml_loop, "api": api, "perfkit run": hooked}
    for arm in arms.values():  # warm every path once, outside the measurement
        arm(3)
    per_step: dict[str, list[float]] = {name: [] for name in arms}
    names = list(arms)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            start = time.perf_counter()
            arms[name](args.block)
            per_step[name].append((time.perf_counter() - start) / args.block * 1e3)

    print(f"config {args.config} · {args.rounds} rounds × {args.block} steps per arm · torch threads {torch.get_num_threads()}")
    print(f"{'arm':<12} {'median ms/step':>15} {'ratio vs bare':>14} {'95% CI':>18}")
    base = np.array(per_step["bare"])
    print(f"{'bare':<12} {statistics.median(base):>15.2f} {'1.000':>14}")
    for name in names[1:]:
        ratios = np.array(per_step[name]) / base  # paired: the same round
        ci = stats.bootstrap((ratios,), np.median, confidence_level=0.95, n_resamples=5000, random_state=0).confidence_interval
        print(f"{name:<12} {statistics.median(per_step[name]):>15.2f} {np.median(ratios):>14.3f} {f'[{ci.low:.3f}, {ci.high:.3f}]':>18}")


if __name__ == "__main__":
    main()
