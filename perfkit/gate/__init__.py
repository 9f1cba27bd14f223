"""The CI perf gate: baselines, the gate policy, and the pass/fail decision.

* :mod:`perfkit.gate.baseline`: the stored baseline (N runs of one experiment).
* :mod:`perfkit.gate.policy`: ``gate:`` config / ``--policy`` file → compare policy.
* :mod:`perfkit.gate.engine`: baseline + candidate runs → :class:`GateResult`.
* :mod:`perfkit.gate.runs`: the experiment run ``repeats`` times; the checks before training.
* :mod:`perfkit.gate.flow`: the rules around the decision (``--repeats``, ``--paired``,
  run counts, saved or new candidate runs, warnings on the candidate runs' provenance).

The statistics are :mod:`perfkit.compare`'s: counters are compared exactly (or within a
tight tolerance), times by the significance test over runs. Only the CLI turns a
:class:`GateResult` into an exit status. Nothing here imports torch until the gate
trains (:func:`perfkit.gate.runs.run_repeats`).
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
from perfkit.gate.flow import gate_new_runs, gate_saved_runs
from perfkit.gate.policy import compare_policy, load_policy_file

__all__ = [
    "BASELINE_KIND",
    "BASELINE_SCHEMA_VERSION",
    "Baseline",
    "GateResult",
    "compare_policy",
    "evaluate_gate",
    "gate_new_runs",
    "gate_saved_runs",
    "load_baseline",
    "load_baselines",
    "load_policy_file",
    "save_baseline",
]
