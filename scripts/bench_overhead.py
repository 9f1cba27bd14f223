#!/usr/bin/env python
"""Overhead of perfkit's instrumented loop against a bare hand-written training loop.

Both loops train the same model on the same DataLoader in one process, interleaved in
blocks whose order alternates each round (bare, perfkit, then perfkit, bare, …) so that
machine drift and order effects affect both alike. Each
records per-step wall time with ``perf_counter`` at step boundaries; the script prints
the median step time of each and their ratio (target ≤ 1.02 on CPU).

perfkit runs in timing mode (no profiler), with its defaults: per-phase clock reads and
the global gradient norm for the health checks.

    python scripts/bench_overhead.py [CONFIG] [--rounds 8] [--block 15]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import torch

from perfkit.build.data import build_dataset, build_loader
from perfkit.build.models import build_model
from perfkit.build.optim import build_optimizer
from perfkit.config import load_config
from perfkit.runtime.clock import NullDeviceTimer, PerfCounterClock
from perfkit.runtime.loop import LoopOptions, Workload, lm_or_classification_loss, run_loop
from perfkit.runtime.toggles import prepare_model

REPO = Path(__file__).resolve().parents[1]


def bare_block(model, loader_iter, optimizer, steps: int) -> list[float]:  # type: ignore[no-untyped-def]
    """The loop a user writes by hand: next batch, forward, loss, backward, step."""
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        x, y = next(loader_iter)
        loss = lm_or_classification_loss(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def endless(loader):  # type: ignore[no-untyped-def]
    while True:
        yield from loader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(REPO / "configs" / "quickstart.yaml"))
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--block", type=int, default=15, help="steps per block")
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
    work = Workload(
        runnable=runnable, module=module, loader=loader, optimizer=optimizer, scheduler=None, scaler=None,
        device=torch.device("cpu"), autocast=contextlib.nullcontext,
        non_blocking=False, channels_last=False, tokens_per_sample=spec.tokens_per_sample,
    )
    arms = {
        "perfkit (default: grad-norm monitoring on)": LoopOptions(steps=args.block, warmup_steps=0),
        "perfkit (track_grad_norm: false)": LoopOptions(steps=args.block, warmup_steps=0, track_grad_norm=False),
    }
    batches = endless(loader)
    bare_block(runnable, batches, optimizer, 10)  # warm-up, not measured
    samples: dict[str, list[float]] = {"bare loop": [], **{name: [] for name in arms}}
    names = list(samples)
    for round_index in range(args.rounds):
        # Rotate which loop goes first, so an order effect (warm caches, allocator
        # state) cancels out instead of favouring one side.
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            if name == "bare loop":
                samples[name] += bare_block(runnable, batches, optimizer, args.block)
            else:
                record = run_loop(work, arms[name], PerfCounterClock(), NullDeviceTimer())
                samples[name] += [s.step_host_ms for s in record.steps]
    bare_median = statistics.median(samples["bare loop"])
    print(f"config: {args.config}  ({args.rounds} rounds × {args.block} steps per loop, interleaved, torch threads {torch.get_num_threads()})")
    for name, values in samples.items():
        median = statistics.median(values)
        ratio = "" if name == "bare loop" else f"   ratio to bare {median / bare_median:.3f}  (target ≤ 1.02)"
        print(f"{name:<44} median step {median:8.3f} ms (n={len(values)}){ratio}")


if __name__ == "__main__":
    main()
