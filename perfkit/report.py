"""The analysis step for one run: RunResult → RunReport (summary, advice, trace analysis).

Renderers take a :class:`RunReport` and only format it. ``run_document`` is the JSON
written by ``--output`` and by ``perfkit report --format json``: the raw result plus the
derived ``summary`` and ``advice`` for consumers such as ``jq``. Loading a document reads
only the raw part and derives the rest again, so a saved run always renders the same way
as a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfkit.advice import Advice, AdviceFacts, advise, facts_from_run
from perfkit.io import atomic_write_json, read_json
from perfkit.results import RunResult
from perfkit.summary import RunSummary, summarize


@dataclass(frozen=True)
class RunReport:
    result: RunResult
    summary: RunSummary
    advice: tuple[Advice, ...]
    trace: Any | None  # perfkit.trace.analysis.TraceAnalysis when the run was traced


def _trace_analysis(result: RunResult) -> Any | None:
    if result.trace is None:
        return None
    from perfkit.trace.analysis import TraceAnalysis

    return TraceAnalysis.from_dict(result.trace)


def build_run_report(result: RunResult) -> RunReport:
    summary = summarize(result)
    trace = _trace_analysis(result)
    facts: AdviceFacts = facts_from_run(result, summary)
    if trace is not None:
        from perfkit.trace_advice import facts_from_trace

        facts = facts.merged(facts_from_trace(trace))
    return RunReport(result=result, summary=summary, advice=advise(facts), trace=trace)


def run_document(report: RunReport) -> dict[str, Any]:
    doc = report.result.to_dict()
    doc["summary"] = report.summary.to_dict()
    doc["advice"] = [a.to_dict() for a in report.advice]
    return doc


def save_run(result: RunResult, path: str | Path) -> Path:
    """Write the run document atomically."""
    return atomic_write_json(path, run_document(build_run_report(result)))


def load_run(path: str | Path) -> RunResult:
    """Read a saved run; foreign or outdated files raise a one-line InputError."""
    return RunResult.from_dict(read_json(path, what="perfkit run result (run.json)"), source=str(path))
