#!/usr/bin/env python
"""How often does ``perfkit compare`` cry wolf, and how often does it catch a real slowdown?

On this machine, with one tiny config:

* **A/A**: the config against itself, K times. Every "regressed" is a false alarm; the
  target is a false-regressed rate of at most 5%.
* **A/B**: the config against the same config slowed by about 10% through the data
  knob (``data.params.cpu_cost_us``: busy-wait per sample, calibrated from a measured
  step time), K times. The target is a detection ("regressed") rate of at least 90%.

Trials alternate A/A and A/B so that machine drift during the benchmark hits both arms.
Each trial is exactly what ``perfkit compare a.yaml b.yaml --repeats N`` does (the
interleaved runner, then ``compare_runs``), in this one process.

From the same trials the script also reports, at no extra cost:

* the rates with only the first n rounds of each trial (n < N), to show how detection
  grows with ``--repeats``;
* what a naive comparison of one run a side would have said (round 1 only, per-step
  Mann–Whitney U): the trap ``perfkit compare`` avoids.

The B config adds busy-wait worth 10% of the step time measured in the A/A trial just
before it (the machine's speed drifts with other jobs; a fixed calibration would not stay
"10%"). The realised ratio is printed.

Runtime: 2·K compares of 2·(repeats + 1) runs each: about 4 minutes with the defaults
(K = 20, repeats = 40) on a quiet 2-core machine, several times that while other jobs run.

Usage: python scripts/bench_compare_noise.py [--k 20] [--repeats 40] [--threads 1] [--dump runs.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from scipy import stats

from perfkit.compare import DEFAULT_REPEATS, ComparePolicy, RunGroup, compare_runs
from perfkit.compare.interleave import ConfigInput, run_interleaved
from perfkit.compare.model import Status
from perfkit.config import LoadedConfig, load_config

CONFIG = """\
name: bench-tiny
seed: 0
device: cpu
model: {{name: convnet, params: {{width: 8, depth: 2}}}}
data:
  name: synthetic-images
  params: {{num_samples: 1024, image_size: 32, cpu_cost_us: 0}}
  batch_size: {batch}
loop: {{steps: {steps}, warmup_steps: {warmup}, track_grad_norm: false}}
"""


def rate_line(counts: Counter[Status], k: int, status: Status) -> str:
    hits = counts[status]
    ci = stats.binomtest(hits, k).proportion_ci(confidence_level=0.95, method="exact")
    others = " · ".join(f"{s.value} {counts[s]}" for s in Status if s is not status and counts[s])
    return f"{status.value} {hits}/{k} = {100 * hits / k:.1f}% (95% CI {100 * ci.low:.1f}–{100 * ci.high:.1f}%)" + (
        f" · {others}" if others else ""
    )


def first_rounds(groups: tuple[RunGroup, ...], n: int) -> list[RunGroup]:
    return [replace(g, runs=g.runs[:n], rounds=None if g.rounds is None else g.rounds[:n]) for g in groups]


def single_run(groups: tuple[RunGroup, ...]) -> list[RunGroup]:
    return [replace(g, runs=g.runs[:1], rounds=None) for g in groups]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, default=20, help="trials per arm (A/A and A/B)")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="interleaved rounds per trial")
    parser.add_argument("--warmup-rounds", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10, help="measured steps per run")
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--slowdown", type=float, default=0.10, help="target slowdown of the B config")
    parser.add_argument("--metric", default="step_ms")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--dump", type=Path, default=None, help="write every run's median step (ms) per trial as JSON")
    args = parser.parse_args()

    import torch

    from perfkit.runtime.runner import run_experiment

    if args.threads is not None:
        torch.set_num_threads(args.threads)

    policy = ComparePolicy(n_resamples=500)
    loose = ComparePolicy(n_resamples=500, alpha=0.05)
    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="perfkit-bench-"))
    config_path = workdir / "tiny.yaml"
    config_path.write_text(CONFIG.format(batch=args.batch, steps=args.steps, warmup=args.warmup_steps), encoding="utf-8")
    base = load_config(config_path)

    started = time.perf_counter()
    for _ in range(2):  # process warm-up
        run_experiment(base)
    calibration = [statistics.median(s.step_host_ms for s in run_experiment(base).measured_steps) for _ in range(7)]
    step_ms = statistics.median(calibration)

    def slowed(reference_ms: float) -> tuple[LoadedConfig, float]:
        """The config slowed by ``--slowdown`` of ``reference_ms`` through cpu_cost_us."""
        cost = args.slowdown * reference_ms * 1e3 / args.batch
        return load_config(config_path, [f"data.params.cpu_cost_us={cost:.1f}"]), cost

    slow, cost_us = slowed(step_ms)
    costs: list[float] = []

    print(f"bench_compare_noise: {sys.platform}, convnet width 8 / 32x32 images / batch {args.batch}, "
          f"{args.steps} steps + {args.warmup_steps} warm-up per run, {torch.get_num_threads()} torch threads")
    print(f"K = {args.k} trials per arm · repeats = {args.repeats} rounds (+{args.warmup_rounds} warm-up round) · "
          f"threshold {100 * policy.threshold:g}% · alpha {policy.alpha:g} · metric {args.metric}")
    print(f"calibration: median step {step_ms:.2f} ms (7 runs: {min(calibration):.2f}–{max(calibration):.2f}); "
          f"B adds cpu_cost_us = {cost_us:.1f} per sample = {cost_us * args.batch / 1e3:.2f} ms per step "
          f"({100 * args.slowdown:.0f}%), recalibrated before each A/B trial from the A/A trial just run")
    sys.stdout.flush()

    subsets = sorted({n for n in (8, 10, 12, 16, 20, 24, 30, 40, args.repeats) if n <= args.repeats})
    verdicts: dict[str, dict[int, Counter[Status]]] = {arm: {n: Counter() for n in subsets} for arm in ("A/A", "A/B")}
    naive: dict[str, Counter[Status]] = {"A/A": Counter(), "A/B": Counter()}
    at_05: dict[str, Counter[Status]] = {"A/A": Counter(), "A/B": Counter()}
    ratios: dict[str, list[float]] = {"A/A": [], "A/B": []}
    dump: dict[str, list[list[list[float]]]] = {"A/A": [], "A/B": []}
    for trial in range(args.k):
        for arm in ("A/A", "A/B"):
            candidate = base if arm == "A/A" else slow
            inputs = [ConfigInput("A", base), ConfigInput("A2" if arm == "A/A" else "B", candidate)]
            ran = run_interleaved(inputs, run_experiment, repeats=args.repeats, warmup_rounds=args.warmup_rounds)
            dump[arm].append([[statistics.median(s.step_host_ms for s in r.measured_steps) for r in g.runs] for g in ran.groups])
            for n in subsets:
                row = compare_runs(first_rounds(ran.groups, n), policy).get(args.metric)
                verdicts[arm][n][row.status] += 1
                if n == args.repeats and row.ratio is not None:
                    ratios[arm].append(row.ratio)
            naive[arm][compare_runs(single_run(ran.groups), policy).get(args.metric).status] += 1
            at_05[arm][compare_runs(ran.groups, loose).get(args.metric).status] += 1
            if arm == "A/A":  # the machine's current step time: B = 10% of it, for the A/B trial next
                current = statistics.median(dump[arm][-1][0])
                slow, cost_us = slowed(current)
                costs.append(cost_us)
        elapsed = time.perf_counter() - started
        print(f"  trial {trial + 1}/{args.k}: {elapsed:.0f} s", file=sys.stderr, flush=True)

    print()
    print(f"A/A (K={args.k}, repeats={args.repeats}): " + rate_line(verdicts["A/A"][args.repeats], args.k, Status.REGRESSED)
          + "   [target: regressed <= 5%]")
    print(f"A/B (K={args.k}, repeats={args.repeats}): " + rate_line(verdicts["A/B"][args.repeats], args.k, Status.REGRESSED)
          + "   [target: regressed >= 90%]")
    print(f"median estimated ratio: A/A {statistics.median(ratios['A/A']):.3f}, A/B {statistics.median(ratios['A/B']):.3f} "
          f"(cpu_cost_us {min(costs):.1f}–{max(costs):.1f} per sample over the A/B trials)")
    print()
    print("with only the first n rounds of the same trials:")
    for n in subsets:
        aa = verdicts["A/A"][n]
        ab = verdicts["A/B"][n]
        print(f"  n = {n:2d}: A/A false regressed {100 * aa[Status.REGRESSED] / args.k:5.1f}% · "
              f"A/B detected {100 * ab[Status.REGRESSED] / args.k:5.1f}% (noisy {100 * ab[Status.NOISY] / args.k:.1f}%)")
    print()
    print(f"same trials with alpha = 0.05 (repeats={args.repeats}):")
    print(f"  A/A: {rate_line(at_05['A/A'], args.k, Status.REGRESSED)}")
    print(f"  A/B: {rate_line(at_05['A/B'], args.k, Status.REGRESSED)}")
    print()
    print("naive: one run a side (round 1), per-step Mann–Whitney U:")
    print(f"  A/A: {rate_line(naive['A/A'], args.k, Status.REGRESSED)}")
    print(f"  A/B: {rate_line(naive['A/B'], args.k, Status.REGRESSED)}")
    if args.dump is not None:
        args.dump.write_text(json.dumps(dump), encoding="utf-8")
    load_after = os.getloadavg()
    print(f"\nelapsed {time.perf_counter() - started:.0f} s · load average (1/5/15 min) before "
          f"{load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, after "
          f"{load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
