"""The gate policy: the ``gate:`` section of the experiment, or a ``--policy`` file with
the same keys (at its top level or under ``gate:``), turned into the :class:`~perfkit.compare.ComparePolicy` that decides."""

from __future__ import annotations

from pathlib import Path

from perfkit.compare.metrics import validate_metric_patterns
from perfkit.compare.policy import ComparePolicy
from perfkit.config.loader import LoadedConfig, load_section
from perfkit.config.schema import GateConfig
from perfkit.errors import PerfkitError


def load_policy_file(path: str | Path) -> GateConfig:
    """A YAML file of ``gate:`` keys (repeats, alpha, threshold, thresholds, metrics, …),
    at its top level or under ``gate:``. Metric names are checked here too, so that a typo
    is reported at its line in the file."""
    return checked_gate(load_section(path, "gate"))


def checked_gate(loaded: LoadedConfig) -> GateConfig:
    """``loaded``'s gate section, its metric names and patterns checked; an error names
    the file and line (``exp.yaml:31: gate.metrics: 'step_msx' matches no metric``)."""
    gate = loaded.config.gate
    try:
        validate_metric_patterns(gate.metrics, "gate.metrics")
        validate_metric_patterns(tuple(gate.thresholds), "gate.thresholds")
    except PerfkitError as exc:
        raise loaded.locate(exc) from None
    return gate


def compare_policy(gate: GateConfig, ignore_environment: bool = False) -> ComparePolicy:
    """Counters exact unless ``counter_tolerance`` > 0 (or a ``thresholds`` entry names
    them); times past ``threshold`` and significant at ``alpha``; only ``metrics`` are
    gated. Every metric name or pattern must name a known metric: a typo would otherwise
    gate nothing and pass silently."""
    validate_metric_patterns(gate.metrics, "gate.metrics")
    validate_metric_patterns(tuple(gate.thresholds), "gate.thresholds")
    return ComparePolicy(
        threshold=gate.threshold,
        alpha=gate.alpha,
        thresholds=tuple(gate.thresholds.items()),
        gated=tuple(gate.metrics),
        counter_mode="tolerance" if gate.counter_tolerance > 0 else "exact",
        counter_tolerance=gate.counter_tolerance,
        ignore_environment=ignore_environment,
    )
