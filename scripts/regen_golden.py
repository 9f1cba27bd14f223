#!/usr/bin/env python
"""Regenerate the golden files in tests/golden/ (never edit them by hand).

The inputs are synthetic runs with fixed seeds (tests/unit/compare/compare_synthetic.py
and tests/unit/gate/gate_synthetic.py), compared with the default policies; the outputs
are what ``perfkit compare --format json|md`` and ``perfkit gate --md/--junit`` write for
them. The compare and gate tests render the same inputs and diff against these files.

Usage: python scripts/regen_golden.py [--check]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
sys.path.insert(0, str(ROOT / "tests" / "unit" / "compare"))
sys.path.insert(0, str(ROOT))

from compare_synthetic import golden_groups  # noqa: E402

from perfkit.compare import compare_runs  # noqa: E402
from perfkit.config.schema import GateConfig  # noqa: E402
from perfkit.gate import compare_policy, evaluate_gate  # noqa: E402
from perfkit.io import atomic_write_text, dumps_json  # noqa: E402
from perfkit.render.compare_markdown import comparison_markdown  # noqa: E402
from perfkit.render.gate_report import gate_junit, gate_markdown  # noqa: E402
from tests.unit.gate.gate_synthetic import golden_case  # noqa: E402


def golden_outputs() -> dict[str, str]:
    """File name → expected content."""
    comparison = compare_runs(golden_groups())
    stored, candidate = golden_case()
    gate = evaluate_gate(stored, candidate, compare_policy(GateConfig()))
    return {
        "compare.json": dumps_json(comparison.to_dict()),
        "compare.md": comparison_markdown(comparison),
        "gate.md": gate_markdown(gate),
        "gate.xml": gate_junit(gate),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if a golden file is out of date, write nothing")
    args = parser.parse_args()
    stale = []
    for name, text in golden_outputs().items():
        path = GOLDEN / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            atomic_write_text(path, text)
            print(f"wrote {path.relative_to(ROOT)}")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run python scripts/regen_golden.py", file=sys.stderr)
        return 1
    if not stale:
        print("golden files are up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
