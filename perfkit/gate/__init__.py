"""The CI perf gate: baselines, the gate policy, and the pass/fail decision.

* :mod:`perfkit.gate.baseline`: the stored baseline (N runs of one experiment).
* :mod:`perfkit.gate.policy`: ``gate:`` config / ``--policy`` file → compare policy.
* :mod:`perfkit.gate.engine`: baseline + candidate runs → :class:`GateResult`.

The statistics are :mod:`perfkit.compare`'s: counters are compared exactly (or within a
tight tolerance), times by the significance test over runs. Only the CLI turns a
:class:`GateResult` into an exit status. Nothing here imports torch.
"""

from perfkit.gate.baseline import (
    BASELINE_KIND,
    BASELINE_SCHEMA_VERSION,
    Baseline,
    load_baseline,
    load_baselines,
    save_baseline,
)
from perfkit.gate.engine import GateResult, evaluate_gate
from perfkit.gate.policy import compare_policy, load_policy_file

__all__ = [
    "BASELINE_KIND",
    "BASELINE_SCHEMA_VERSION",
    "Baseline",
    "GateResult",
    "compare_policy",
    "evaluate_gate",
    "load_baseline",
    "load_baselines",
    "load_policy_file",
    "save_baseline",
]
