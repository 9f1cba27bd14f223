"""Markdown rendering of one run's report (GitHub-flavoured tables). Formatting only."""

from __future__ import annotations

from perfkit.render import format as fmt
from perfkit.render.advice_render import advice_markdown
from perfkit.report import RunReport


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def run_markdown(report: RunReport) -> str:
    r = report.result
    s = report.summary
    env = r.environment
    toggles = r.config.get("toggles", {})
    lines = [f"## perfkit: {fmt.md_text(r.name)}" + (" (PARTIAL: interrupted)" if r.partial else ""), ""]
    lines.append(
        f"{env.device_type} · {fmt.md_text(env.device_name)} · torch {env.torch} · {env.cpu_count} CPUs · "
        f"{s.measured_steps} measured steps, {s.warmup_steps} warm-up excluded · clock `{r.measurement.clock}`"
        + (" · `--sync`" if r.measurement.sync else "")
    )
    lines.append("")
    lines.append(
        f"amp `{toggles.get('amp')}` · channels_last `{toggles.get('channels_last')}` · "
        f"compile `{toggles.get('compile')}` · workers `{r.config.get('data', {}).get('num_workers')}` · "
        f"optimizer `{r.config.get('optimizer', {}).get('name')}`"
    )
    lines.append("")
    unit = fmt.phase_unit_for(s.step.median if s.step else None)
    has_device = s.device_step is not None
    header = ["phase", f"host ({unit[0]})", "% of step", f"IQR ({unit[0]})"]
    if has_device:
        header += [f"device ({unit[0]})", "% device", f"device IQR ({unit[0]})"]
    header.append("share")
    lines += [_row(header), _row(["---"] + ["---:"] * (len(header) - 2) + ["---"])]
    for p in s.phases:
        decimals = fmt.decimals_for(p.host.median_uncertainty / unit[1])
        cells = [p.phase, fmt.fmt_time(p.host.median, unit, decimals), fmt.fmt_pct(p.share), fmt.fmt_time(p.host.iqr, unit, decimals)]
        if has_device:
            cells += [
                fmt.fmt_time(p.device.median if p.device else None, unit, decimals),
                fmt.fmt_pct(p.device_share),
                fmt.fmt_time(p.device.iqr if p.device else None, unit, decimals),
            ]
        cells.append(fmt.bar(p.device_share if has_device else p.share))
        lines.append(_row(cells))
    if s.step is not None:
        decimals = fmt.decimals_for(s.step.median_uncertainty / unit[1])
        cells = ["**step**", f"**{fmt.fmt_time(s.step.median, unit, decimals)}**", "100.0%", fmt.fmt_time(s.step.iqr, unit, decimals)]
        if has_device:
            cells += [
                fmt.fmt_time(s.device_step.median if s.device_step else None, unit, decimals),
                "100.0%",
                fmt.fmt_time(s.device_step.iqr if s.device_step else None, unit, decimals),
            ]
        cells.append("")
        lines.append(_row(cells))
    lines.append("")
    lines.append(f"- **throughput**: {fmt.fmt_si(s.samples_per_s, 'samples/s')}" + (f", {fmt.fmt_si(s.tokens_per_s, 'tokens/s')}" if s.tokens_per_s is not None else ""))
    lines.append(f"- **noise**: step IQR is {fmt.fmt_pct(s.noise)} of the median ({s.noise_level})")
    mfu = fmt.fmt_pct(s.mfu) if s.mfu is not None else f"— ({fmt.md_text(s.mfu_absent_reason or '')})"
    lines.append(f"- **FLOPs**: {fmt.fmt_si(s.flops_per_step, 'FLOP')}/step, {fmt.fmt_si(s.achieved_flops_per_s, 'FLOP/s')} achieved, MFU {mfu}")
    mem = r.memory
    if mem.device_peak_allocated_bytes is not None:
        lines.append(f"- **device memory**: peak {fmt.fmt_bytes(mem.device_peak_allocated_bytes)} allocated, {fmt.fmt_bytes(mem.device_peak_reserved_bytes)} reserved of {fmt.fmt_bytes(mem.device_total_bytes)}")
    lines.append(f"- **host memory**: peak RSS {fmt.fmt_bytes(mem.host_peak_rss_bytes)} ({fmt.rss_scope(mem)})")
    lines.append(f"- **parameters**: {fmt.fmt_count(r.counters.parameters)}")
    if s.tracing_overhead is not None:
        lines.append(f"- **tracing**: {s.traced_steps} traced steps ran {s.tracing_overhead:.2f}× the untraced median (excluded above)")
    if r.measurement.trace_path:
        lines.append(f"- **trace**: {fmt.md_text(r.measurement.trace_path)}")
    if r.warnings:
        lines += ["", "### Warnings", ""]
        lines += [f"- {fmt.md_text(w.message)}" for w in r.warnings]
    if s.measured_steps == 0:
        lines += ["", "Nothing was measured: the run stopped before its first measured step."]
    else:
        lines += ["", *advice_markdown(report.advice)]
    if report.trace is not None:
        from perfkit.render.trace_markdown import trace_markdown

        lines += ["", trace_markdown(report.trace)]
    return "\n".join(lines) + "\n"
