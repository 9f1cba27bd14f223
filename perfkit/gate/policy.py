"""The gate policy: the ``gate:`` section of the experiment, or a ``--policy`` file with
the same keys, turned into the :class:`~perfkit.compare.ComparePolicy` that decides."""

from __future__ import annotations

from pathlib import Path

from perfkit.compare.metrics import validate_metric_patterns
from perfkit.compare.policy import ComparePolicy
from perfkit.config.loader import load_section_file
from perfkit.config.schema import GateConfig


def load_policy_file(path: str | Path) -> GateConfig:
    """A YAML file of ``gate:`` keys (repeats, alpha, threshold, thresholds, metrics, …)."""
    policy: GateConfig = load_section_file(path, "gate")
    return policy


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
