#!/usr/bin/env python
"""How often does ``perfkit compare`` cry wolf, and how often does it catch a real slowdown?

On this machine, with one tiny config (a 2-block convnet on 32×32 images, batch 16, 10
measured steps a run), three arms of K trials each:

* **A/A**: the config against itself. Every "regressed" is a false alarm. Target: the
  95% interval of the false-regressed rate lies below 5%.
* **A/B data +10%**: B adds a busy-wait in the data phase (``data.params.cpu_cost_us``)
  worth 10% of the current step time: the median A run of the latest nine compares
  (re-sized before every trial: the machine's speed drifts with other jobs, and a
  busy-wait lasts the same wall time however slow the rest gets, so a fixed one would not
  stay "10%"; nine compares, three trials, so that a load spike does not size the next
  trial alone). A busy-wait also slows the rest of the step a little (caches, the core's
  state): in a first K = 80 run, 0.74 ms asked for added 1.17 ms, a 15.7% slowdown, not
  10%. So each data trial also measures the step time it added per µs asked for (median
  paired difference of its rounds), and the next trial asks for correspondingly less.
  Target: the 95% interval of the detection ("regressed") rate lies above 90%.
* **A/B forward +5%**: B does extra real compute in the *forward* phase: a chain of
  64×64 matmuls (``torch.mm``, no grad) worth 5% of the current step time, so it carries
  the machine's own noise, unlike a busy-wait. The step gets ~5% slower and the forward
  phase (about a third of the step) ~15% slower. The default threshold is 5% (a change
  whose estimate is within 5% is *unchanged*, see perfkit/compare/policy.py), so on
  ``step_ms`` a 5% slowdown sits right on the threshold and its "regressed" verdict is a
  coin toss *by design*; the script prints that rate and the share found *significantly*
  slower (p < α: the power of the test), and holds the 90% target against the phase
  metric the slowdown is in, ``phase.forward.host_ms``. The matmul count is re-sized
  before every trial from the current step time and the cost of one matmul *in situ*:
  first from a few alternating runs without and with 30 matmuls, then from each forward
  trial's own rounds (median step difference ÷ matmuls). A microbenchmark of the chain
  in a hot loop bounds that cost (1× to 3× of it), and one trial may move it by at most
  2× (a load spike during calibration must not size B by thousands of matmuls, nor by 6
  when 30 are needed).

Every trial is exactly what ``perfkit compare a.yaml b.yaml --repeats N`` does (the
interleaved runner, then ``compare_runs`` with the default policy), in this one process;
all arms share the same A config (the model is a thin wrapper that runs the extra
matmuls only when asked). The arms take turns within each trial round, in a rotating
order, so that machine drift during the benchmark hits all arms alike.

**One torch thread** (``--threads``, default 1). On a shared 2-core machine a second
intra-op thread turns every parallel region into a barrier that waits for a core: when
other jobs load the machine, steps slow down erratically and by far more than the lost
CPU share (in one two-thread run while another session's tests ran, the A runs' median
step went from 6 ms to about 280 ms), which says nothing about perfkit. With one thread the process just gets its share of the CPU, and the noise that
remains is the kind a user's compare meets.

**Why K = 80.** With the two-sided 95% Clopper–Pearson interval, 0 false alarms in 80
trials give an upper bound of 4.5% (0/60 would give 6.0%: not enough), and 78 of 80
detections give a lower bound of 91.3%. K is fixed in advance (no sequential peeking, so
the intervals keep their 95% coverage). Wilson intervals are printed too.

From the same trials the script also reports, at no extra cost: the rates with only the
first n rounds of each trial (how detection grows with ``--repeats``), and what a naive
comparison of one run a side would have said (round 1 only, per-step Mann–Whitney U: how
often it calls a difference significant; perfkit itself reports one run a side as noisy).

**Runtime.** 3·K compares of 2·(repeats + 1) runs of ~0.1 s each (12 steps of ~7 ms plus
building): about 35 minutes with the defaults (K = 80, 40 rounds) on a quiet 2-core
machine, an hour or more while other jobs run; ``--quick`` (K = 4, 10 rounds) is a smoke
run of about a minute. To keep it that
cheap the process calls ``gc.freeze()`` after its warm-up runs: the interleaved runner
and the runner each run ``gc.collect()`` before every run, and with torch and scipy loaded
a full collection costs ~0.1 s, twice per run (``--no-gc-freeze`` restores it). The
collections run outside the measured steps either way.

Usage: python scripts/bench_compare_noise.py [--quick] [--k 80] [--repeats 40] [--threads N] [--dump runs.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scipy import stats

from perfkit.compare import DEFAULT_REPEATS, ComparePolicy, Comparison, RunGroup, compare_runs
from perfkit.compare.interleave import ConfigInput, run_interleaved
from perfkit.compare.model import Status
from perfkit.config import LoadedConfig, load_config

MODELS = '''\
"""The benchmark's model: perfkit's built-in convnet, plus optional extra forward compute."""

import torch
from torch import nn

from perfkit.build.models import ConvNet


class SlowForward(nn.Module):
    def __init__(self, inner: nn.Module, extra_matmuls: int, size: int) -> None:
        super().__init__()
        self.inner = inner
        self.extra_matmuls = extra_matmuls
        q, _ = torch.linalg.qr(torch.randn(size, size, generator=torch.Generator().manual_seed(0)))
        self.register_buffer("w", q.contiguous(), persistent=False)  # orthogonal: no overflow

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.extra_matmuls:
            with torch.no_grad():
                y = self.w
                for _ in range(self.extra_matmuls):
                    y = torch.mm(y, self.w)
        return self.inner(x)


def convnet(width=8, depth=2, extra_matmuls=0, matmul_size=64):
    return SlowForward(ConvNet(width=width, depth=depth), extra_matmuls, matmul_size)
'''

CONFIG = """\
name: bench-tiny
seed: 0
device: cpu
model: {{name: "bench_models:convnet", params: {{width: 8, depth: 2, extra_matmuls: 0, matmul_size: {size}}}}}
data:
  name: synthetic-images
  params: {{num_samples: 1024, image_size: 32, cpu_cost_us: 0}}
  batch_size: {batch}
loop: {{steps: {steps}, warmup_steps: {warmup}, track_grad_norm: false}}
"""

STEP = "step_ms"
FORWARD = "phase.forward.host_ms"


@dataclass(frozen=True)
class Arm:
    name: str
    label: str  # the candidate's label in the compare
    target: str  # "false" (the regressed rate must stay low) or "detect" (it must be high)
    targeted: tuple[str, ...]  # metrics held against the target
    also: tuple[str, ...] = ()  # metrics reported without a target

    @property
    def metrics(self) -> tuple[str, ...]:
        return (*self.targeted, *self.also)


ARMS = (
    Arm("A/A", "A2", "false", targeted=(STEP, FORWARD)),
    Arm("A/B data +10%", "B-data", "detect", targeted=(STEP,)),
    Arm("A/B forward +5%", "B-forward", "detect", targeted=(FORWARD,), also=(STEP,)),
)


def interval(hits: int, k: int, method: str) -> tuple[float, float]:
    ci = stats.binomtest(hits, k).proportion_ci(confidence_level=0.95, method=method)
    return float(ci.low), float(ci.high)


def rate_line(hits: int, k: int) -> str:
    cp, wilson = interval(hits, k, "exact"), interval(hits, k, "wilson")
    return (
        f"{hits}/{k} = {100 * hits / k:.1f}% (95% CI Clopper–Pearson {100 * cp[0]:.1f}–{100 * cp[1]:.1f}%, "
        f"Wilson {100 * wilson[0]:.1f}–{100 * wilson[1]:.1f}%)"
    )


def first_rounds(groups: Sequence[RunGroup], n: int) -> list[RunGroup]:
    return [replace(g, runs=g.runs[:n], rounds=None if g.rounds is None else g.rounds[:n]) for g in groups]


def single_run(groups: Sequence[RunGroup]) -> list[RunGroup]:
    return [replace(g, runs=g.runs[:1], rounds=None) for g in groups]


def median_of(run: Any, phase: str | None = None) -> float:
    steps = run.measured_steps
    return statistics.median(s.step_host_ms if phase is None else s.host_ms[phase] for s in steps)


@dataclass
class Tally:
    """Verdicts of one arm: per metric, per round count n; plus naive and ratios."""

    status: dict[str, dict[int, Counter[Status]]] = field(default_factory=dict)
    slower_significant: Counter[str] = field(default_factory=Counter)
    naive: Counter[str] = field(default_factory=Counter)  # "significant", "slower"
    ratios: dict[str, list[float]] = field(default_factory=dict)
    odd: dict[str, list[int]] = field(default_factory=dict)  # trials against the target (1-based)
    trials: int = 0

    def add(self, metric: str, n: int, status: Status) -> None:
        self.status.setdefault(metric, {}).setdefault(n, Counter())[status] += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: K = 4, 10 rounds (no conclusions)")
    parser.add_argument("--k", type=int, default=None, help="trials per arm (default 80; --quick: 4)")
    parser.add_argument("--repeats", type=int, default=None, help=f"interleaved rounds per trial (default {DEFAULT_REPEATS}; --quick: 10)")
    parser.add_argument("--warmup-rounds", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10, help="measured steps per run")
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--data-slowdown", type=float, default=0.10, help="busy-wait added to data, share of the step")
    parser.add_argument("--forward-slowdown", type=float, default=0.05, help="compute added to forward, share of the step")
    parser.add_argument("--matmul-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1, see the module doc)")
    parser.add_argument("--no-gc-freeze", action="store_true", help="do not gc.freeze() after the warm-up runs")
    parser.add_argument("--dump", type=Path, default=None, help="write every run's median step and forward time (ms) as JSON")
    args = parser.parse_args()
    k = args.k if args.k is not None else (4 if args.quick else 80)
    repeats = args.repeats if args.repeats is not None else (10 if args.quick else DEFAULT_REPEATS)

    import torch

    from perfkit.runtime.runner import run_experiment

    torch.set_num_threads(args.threads)
    policy = ComparePolicy(n_resamples=500)
    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="perfkit-bench-"))
    (workdir / "bench_models.py").write_text(MODELS, encoding="utf-8")
    config_path = workdir / "tiny.yaml"
    config_path.write_text(
        CONFIG.format(batch=args.batch, steps=args.steps, warmup=args.warmup_steps, size=args.matmul_size),
        encoding="utf-8",
    )
    base = load_config(config_path)

    started = time.perf_counter()
    for _ in range(3):  # process warm-up
        run_experiment(base)
    if not args.no_gc_freeze:
        gc.collect()
        gc.freeze()
    calibration = [median_of(run_experiment(base)) for _ in range(3 if args.quick else 7)]
    step_ms = statistics.median(calibration)

    def with_matmuls(count: int) -> LoadedConfig:
        return load_config(config_path, [f"model.params.extra_matmuls={count}"])

    def chain_ms() -> float:
        """One matmul of the extra chain timed in a hot loop (a floor for its in-situ cost)."""
        w = torch.linalg.qr(torch.randn(args.matmul_size, args.matmul_size))[0].contiguous()
        times = []
        with torch.no_grad():
            for _ in range(7):
                y, t = w, time.perf_counter()
                for _ in range(100):
                    y = torch.mm(y, w)
                times.append((time.perf_counter() - t) * 10.0)
        return statistics.median(times)

    # In-situ cost of one extra matmul: alternate runs without and with a probe chain.
    floor_ms = chain_ms()
    probe = 30
    pairs = [(median_of(run_experiment(base)), median_of(run_experiment(with_matmuls(probe)))) for _ in range(3 if args.quick else 6)]
    matmul_ms = min(3 * floor_ms, max(floor_ms, statistics.median(b - a for a, b in pairs) / probe))
    data_gain = 1.0  # step time a busy-wait adds per µs asked for (measured by each data trial)

    def slowed(reference_ms: float) -> dict[str, tuple[LoadedConfig, str]]:
        """The B configs, sized from the reference step time and the matmul cost (module doc)."""
        cost = args.data_slowdown * reference_ms * 1e3 / args.batch / data_gain
        count = max(1, round(args.forward_slowdown * reference_ms / matmul_ms))
        return {
            "B-data": (load_config(config_path, [f"data.params.cpu_cost_us={cost:.1f}"]), f"{cost:.1f}"),
            "B-forward": (with_matmuls(count), str(count)),
        }

    candidates = slowed(step_ms)
    print(
        f"bench_compare_noise: {sys.platform}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads; "
        f"convnet width 8 / 32x32 images / batch {args.batch}, {args.steps} steps + {args.warmup_steps} warm-up per run"
    )
    print(
        f"K = {k} trials per arm · {repeats} rounds (+{args.warmup_rounds} warm-up round) · threshold "
        f"{100 * policy.threshold:g}% · alpha {policy.alpha:g}" + (" · QUICK SMOKE RUN: no conclusions" if args.quick else "")
    )
    print(
        f"calibration: median step {step_ms:.2f} ms ({len(calibration)} runs: {min(calibration):.2f}–{max(calibration):.2f}); "
        f"data +{100 * args.data_slowdown:g}%: cpu_cost_us {candidates['B-data'][1]} per sample; forward "
        f"+{100 * args.forward_slowdown:g}% of the step: {candidates['B-forward'][1]} matmuls "
        f"({args.matmul_size}×{args.matmul_size}, {1e3 * matmul_ms:.1f} µs each in situ, {1e3 * floor_ms:.1f} µs in a hot loop)"
    )
    sys.stdout.flush()

    subsets = sorted({n for n in (8, 10, 12, 16, 20, 24, 30, 40, repeats) if n <= repeats})
    tallies = {arm.name: Tally() for arm in ARMS}
    sizes: dict[str, list[str]] = {"B-data": [], "B-forward": []}
    loads: list[float] = []
    dump: dict[str, list[dict[str, Any]]] = {arm.name: [] for arm in ARMS}
    recent_a: list[list[float]] = []  # A's run medians in the latest compares
    for trial in range(k):
        if recent_a:
            candidates = slowed(statistics.median(v for runs in recent_a[-9:] for v in runs))
        for key in sizes:
            sizes[key].append(candidates[key][1])
        order = ARMS[trial % len(ARMS) :] + ARMS[: trial % len(ARMS)]
        for arm in order:
            candidate = base if arm.label == "A2" else candidates[arm.label][0]
            inputs = [ConfigInput("A", base), ConfigInput(arm.label, candidate)]
            ran = run_interleaved(inputs, run_experiment, repeats=repeats, warmup_rounds=args.warmup_rounds)
            recent_a.append([median_of(r) for r in ran.groups[0].runs])
            # Re-measure what B's knob costs in situ from this trial's rounds (module doc).
            a_runs, b_runs = ran.groups[0].runs, ran.groups[1].runs
            extra = statistics.median(median_of(b) - median_of(a) for a, b in zip(a_runs, b_runs, strict=True))
            if arm.label == "B-forward":
                measured = extra / int(candidates["B-forward"][1])
                matmul_ms = min(2 * matmul_ms, 3 * floor_ms, max(matmul_ms / 2, floor_ms, measured))
            elif arm.label == "B-data":
                asked_ms = float(candidates["B-data"][1]) * args.batch / 1e3
                data_gain = min(2 * data_gain, 3.0, max(data_gain / 2, 1.0, extra / asked_ms))
            dump[arm.name].append(
                {
                    g.label: {"step": [median_of(r) for r in g.runs], "forward": [median_of(r, "forward") for r in g.runs]}
                    for g in ran.groups
                }
            )
            tally = tallies[arm.name]
            tally.trials += 1
            for n in subsets:
                cmp: Comparison = compare_runs(first_rounds(ran.groups, n), policy)
                for metric in arm.metrics:
                    row = cmp.get(metric)
                    tally.add(metric, n, row.status)
                    if n == repeats:
                        hit = row.status is Status.REGRESSED
                        if metric in arm.targeted and hit == (arm.target == "false"):
                            tally.odd.setdefault(metric, []).append(trial + 1)
                        if row.ratio is not None:
                            tally.ratios.setdefault(metric, []).append(row.ratio)
                        if row.significant and row.ratio is not None and row.ratio > 1:
                            tally.slower_significant[metric] += 1
            naive = compare_runs(single_run(ran.groups), policy).get(arm.targeted[0])
            if naive.significant:  # perfkit itself calls these "noisy": one run a side never concludes
                tally.naive["significant"] += 1
                tally.naive["slower"] += naive.ratio is not None and naive.ratio > 1
        loads.append(os.getloadavg()[0])
        elapsed = time.perf_counter() - started
        print(f"  trial {trial + 1}/{k}: {elapsed:.0f} s, load {loads[-1]:.2f}", file=sys.stderr, flush=True)

    ok = True
    print()
    for arm in ARMS:
        tally = tallies[arm.name]
        print(f"{arm.name} (K={k}, {repeats} rounds):")
        for metric in arm.metrics:
            counts = tally.status[metric][repeats]
            hits = counts[Status.REGRESSED]
            others = " · ".join(f"{s.value} {counts[s]}" for s in Status if s is not Status.REGRESSED and counts[s])
            ratio = statistics.median(tally.ratios[metric]) if tally.ratios.get(metric) else float("nan")
            line = f"  {metric}: regressed {rate_line(hits, k)}" + (f" · {others}" if others else "")
            line += f" · median ratio {ratio:.3f}"
            if metric in arm.targeted:
                low, high = interval(hits, k, "exact")
                if arm.target == "false":
                    met = high < 0.05
                    line += f"   [target: 95% CI below 5%: {'met' if met else 'NOT met'}]"
                else:
                    met = low > 0.90
                    line += f"   [target: 95% CI above 90%: {'met' if met else 'NOT met'}]"
                ok &= met
            print(line)
            if tally.odd.get(metric):
                what = "false alarms" if arm.target == "false" else "missed"
                print(f"    {what} in trials {', '.join(f'{t} (load {loads[t - 1]:.1f})' for t in tally.odd[metric])}")
            if arm.target == "detect":
                sig = tally.slower_significant[metric]
                print(f"    significantly slower (p < {policy.alpha:g}, whatever the threshold): {rate_line(sig, k)}")
            if arm.name == "A/A":
                changed = counts[Status.REGRESSED] + counts[Status.IMPROVED]
                print(f"    any false change (regressed or improved): {rate_line(changed, k)}")
    print(
        f"B sizes over the trials: data cpu_cost_us {min(sizes['B-data'], key=float)}–{max(sizes['B-data'], key=float)} "
        f"per sample; forward matmuls first {sizes['B-forward'][0]}, last {sizes['B-forward'][-1]}; at the end a busy-wait "
        f"added {data_gain:.2f} ms of step per ms asked for, one matmul {1e3 * matmul_ms:.1f} µs"
    )
    print()
    print("with only the first n rounds of the same trials (regressed, % of K):")
    for n in subsets:
        cells = []
        for arm in ARMS:
            counts = tallies[arm.name].status[arm.targeted[0]][n]
            cells.append(f"{arm.name} {arm.targeted[0]} {100 * counts[Status.REGRESSED] / k:5.1f}%")
        print(f"  n = {n:2d}: " + " · ".join(cells))
    print()
    print("naive: one run a side (round 1), per-step Mann–Whitney U, p < alpha (perfkit reports these as noisy):")
    for arm in ARMS:
        naive_counts = tallies[arm.name].naive
        print(
            f"  {arm.name} {arm.targeted[0]}: significant {rate_line(naive_counts['significant'], k)}, "
            f"of which slower {naive_counts['slower']}"
        )
    if args.dump is not None:
        args.dump.write_text(json.dumps(dump), encoding="utf-8")
    load_after = os.getloadavg()
    print(
        f"\nelapsed {time.perf_counter() - started:.0f} s · load average (1/5/15 min) before "
        f"{load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, after "
        f"{load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}; 1-min load after each trial "
        f"{min(loads):.2f}–{max(loads):.2f} (median {statistics.median(loads):.2f}) on {os.cpu_count()} CPUs"
    )
    if args.quick:
        return 0
    print("targets " + ("met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
