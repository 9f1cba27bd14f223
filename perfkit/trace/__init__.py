"""perfkit's trace subsystem: record traces, read them, and measure where step time goes.

Public API (importing this package never imports torch):

* :data:`PHASE_RANGE_PREFIX`, :data:`PHASE_RANGES`, :func:`phase_range_name`: the
  ``record_function`` names the training loop wraps its phases in.
* :class:`ProfilerSession`: torch.profiler around the loop (:mod:`perfkit.trace.session`).
* :func:`analyze_file`, :func:`analyze_events`: a trace file or an event store to a
  :class:`TraceAnalysis` (:mod:`perfkit.trace.model` documents every field and unit).
* :func:`read_trace`, :func:`find_traces`, :func:`trace_file_path`: files.

``docs/trace-analysis.md`` explains every measurement.
"""

from __future__ import annotations

from perfkit.trace.analysis import analyze_events, analyze_file
from perfkit.trace.files import find_traces, trace_file_path
from perfkit.trace.model import TRACE_SCHEMA, TraceAnalysis
from perfkit.trace.names import OTHER_PHASE, PHASE_RANGE_PREFIX, PHASE_RANGES, phase_range_name
from perfkit.trace.reader import read_trace
from perfkit.trace.session import ProfilerSession

__all__ = [
    "OTHER_PHASE",
    "PHASE_RANGES",
    "PHASE_RANGE_PREFIX",
    "TRACE_SCHEMA",
    "ProfilerSession",
    "TraceAnalysis",
    "analyze_events",
    "analyze_file",
    "find_traces",
    "phase_range_name",
    "read_trace",
    "trace_file_path",
]
