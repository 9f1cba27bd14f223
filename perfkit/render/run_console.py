"""Console (rich) rendering of one run's report. Formatting only: every figure is a
field of :class:`~perfkit.report.RunReport`."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from perfkit.render import format as fmt
from perfkit.render.advice_render import advice_renderable
from perfkit.report import RunReport

_NOISE_TEXT = {
    "ok": "",
    "fluctuating": " — noisy (IQR > 10% of median)",
    "severe": " — very noisy (IQR > 25% of median)",
}


def header(report: RunReport) -> RenderableType:
    r = report.result
    s = report.summary
    env = r.environment
    cfg = r.config
    toggles = cfg.get("toggles", {})
    data = cfg.get("data", {})
    opt = cfg.get("optimizer", {})
    title = Text()
    title.append("perfkit ", style="bold")
    title.append(f"{r.name}", style="bold cyan")
    if r.partial:
        title.append("  PARTIAL (interrupted)", style="bold red")
    variant = r.measurement.optimizer_variant or "variant not recorded"
    lines = [
        title,
        Text(
            f"{env.device_type} · {env.device_name} · torch {env.torch}"
            + (f" · CUDA {env.cuda}" if env.cuda and env.device_type == "cuda" else "")
            + f" · {env.cpu_count} CPUs"
        ),
        Text(
            f"model {cfg.get('model', {}).get('name')} ({fmt.fmt_count(r.counters.parameters)} params) · "
            f"batch {_known(data.get('batch_size'))} × accum {_known(cfg.get('loop', {}).get('grad_accum'))} · "
            f"workers {data.get('num_workers')} · optimizer {opt.get('name')} ({variant})"
        ),
        Text(
            f"amp {_known(toggles.get('amp'))} · channels_last {_onoff(toggles.get('channels_last'))} · "
            f"compile {_onoff(toggles.get('compile'))} · cudnn.benchmark {_default(toggles.get('cudnn_benchmark'))} · "
            f"tf32 {_default(toggles.get('tf32'))}"
        ),
        Text(
            f"{s.measured_steps} measured steps"
            + (" (traced: profiler overhead included)" if s.headline_from_traced else "")
            + f", {s.warmup_steps} warm-up excluded · clock: {r.measurement.clock}"
            + (" · --sync: device synchronised at every phase" if r.measurement.sync else ""),
            style="dim",
        ),
    ]
    lines += [Text(line, style="dim") for note in r.measurement.notes for line in fmt.wrap(note)]
    return Group(*lines)


def _known(value: object) -> str:
    """A config value, or '—' where a run on the user's own loop could not observe it."""
    return "—" if value is None else str(value)


def _onoff(value: object) -> str:
    return "on" if value else "off"


def _default(value: object) -> str:
    return "default" if value is None else _onoff(value)


def phase_table(report: RunReport) -> RenderableType:
    s = report.summary
    unit = fmt.phase_unit_for(s.step.median if s.step else None)
    has_device = s.device_step is not None
    # Times are per-step medians; shares are of the summed time of the same steps (they add
    # up to 100%, medians need not), so the headers and the caption say which is which.
    table = Table(
        title=f"Step breakdown ({unit[0]}, median over {s.measured_steps} steps)",
        title_justify="left",
        caption="% of total: share of the steps' summed time (medians need not add up)",
        caption_justify="left",
    )
    table.add_column("phase")
    table.add_column("host", justify="right")
    table.add_column("% of total", justify="right")
    table.add_column("IQR", justify="right")
    if has_device:
        table.add_column("device", justify="right")
        table.add_column("% device total", justify="right")
        table.add_column("device IQR", justify="right")
    table.add_column("device share" if has_device else "share", min_width=10)
    row: list[str | Text]
    for p in s.phases:
        decimals = fmt.decimals_for(p.host.median_uncertainty / unit[1])
        row = [
            p.phase,
            fmt.fmt_time(p.host.median, unit, decimals),
            fmt.fmt_pct(p.share),
            fmt.fmt_time(p.host.iqr, unit, decimals),
        ]
        if has_device:
            row += [
                fmt.fmt_time(p.device.median if p.device else None, unit, decimals),
                fmt.fmt_pct(p.device_share),
                fmt.fmt_time(p.device.iqr if p.device else None, unit, decimals),
            ]
        # On CUDA the bar is the device share: where the GPU's time goes.
        row.append(fmt.bar(p.device_share if has_device else p.share))
        table.add_row(*row)
    if s.step is not None:
        decimals = fmt.decimals_for(s.step.median_uncertainty / unit[1])
        row = [
            Text("step", style="bold"),
            Text(fmt.fmt_time(s.step.median, unit, decimals), style="bold"),
            "100.0%",
            fmt.fmt_time(s.step.iqr, unit, decimals),
        ]
        if has_device:
            row += [
                fmt.fmt_time(s.device_step.median if s.device_step else None, unit, decimals),
                "100.0%",
                fmt.fmt_time(s.device_step.iqr if s.device_step else None, unit, decimals),
            ]
        row.append("")
        table.add_section()
        table.add_row(*row)
    return table


def metrics_table(report: RunReport) -> RenderableType:
    s = report.summary
    r = report.result
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    throughput = f"{fmt.fmt_si(s.samples_per_s, 'samples/s')}"
    if s.tokens_per_s is not None:
        throughput += f" · {fmt.fmt_si(s.tokens_per_s, 'tokens/s')}"
    table.add_row("throughput", throughput)
    if s.step is not None:
        unit = fmt.time_unit_for(s.step.median)
        table.add_row(
            "step time",
            f"median {fmt.fmt_time(s.step.median, unit)} {unit[0]} · p5 {fmt.fmt_time(s.step.p5, unit)} · "
            f"p95 {fmt.fmt_time(s.step.p95, unit)} · IQR {fmt.fmt_pct(s.noise)} of median{_NOISE_TEXT[s.noise_level]}",
        )
    flops = f"{fmt.fmt_si(s.flops_per_step, 'FLOP')}/step"
    if s.achieved_flops_per_s is not None:
        flops += f" · {fmt.fmt_si(s.achieved_flops_per_s, 'FLOP/s')} achieved"
    if s.mfu is not None:
        flops += f" · MFU {fmt.fmt_pct(s.mfu)} of {fmt.fmt_si(s.peak_flops_per_s, 'FLOP/s')} ({r.counters.flops_dtype} peak)"
    else:
        flops += f" · MFU — ({s.mfu_absent_reason})"
    table.add_row("FLOPs", flops)
    mem = r.memory
    if mem.device_peak_allocated_bytes is not None:
        table.add_row(
            "memory",
            f"device peak {fmt.fmt_bytes(mem.device_peak_allocated_bytes)} allocated, "
            f"{fmt.fmt_bytes(mem.device_peak_reserved_bytes)} reserved of {fmt.fmt_bytes(mem.device_total_bytes)}",
        )
    table.add_row("host memory", f"peak RSS {fmt.fmt_bytes(mem.host_peak_rss_bytes)} ({fmt.rss_scope(mem)})")
    if s.loss_first is not None and s.loss_last is not None:
        table.add_row("loss", f"{s.loss_first:.4g} → {s.loss_last:.4g}")
    if s.tracing_overhead is not None:
        table.add_row(
            "tracing",
            f"{s.traced_steps} traced steps ran {s.tracing_overhead:.2f}× the untraced median (excluded from the figures above)",
        )
    return table


def warnings_block(report: RunReport) -> RenderableType | None:
    if not report.result.warnings:
        return None
    lines = [Text("Warnings", style="bold yellow")]
    for w in report.result.warnings:
        lines += [Text(line, style="yellow") for line in fmt.wrap(w.message, indent="  ! ")]
    return Group(*lines)


def advice_block(report: RunReport) -> RenderableType:
    if report.summary.measured_steps == 0:
        return Text("Nothing was measured: the run stopped before its first measured step.", style="yellow")
    return advice_renderable(report.advice)


def trace_block(report: RunReport) -> list[RenderableType]:
    if report.trace is None:
        path = report.result.measurement.trace_path
        return [Text(f"trace: {path}", style="bold")] if path else []
    from perfkit.render.trace_console import trace_renderables

    return list(trace_renderables(report.trace))


def render_run(report: RunReport, console: Console) -> None:
    """Print the whole run report."""
    parts: list[RenderableType | None] = [
        header(report),
        Text(""),
        phase_table(report),
        metrics_table(report),
        Text(""),
        warnings_block(report),
        advice_block(report),
    ]
    for part in parts:
        if part is not None:
            console.print(part)
    for part in trace_block(report):
        console.print(part)
