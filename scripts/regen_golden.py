#!/usr/bin/env python
"""Check the golden files in tests/golden/ against the current code; rewrite them only on request.

The inputs are synthetic runs with fixed seeds (tests/unit/compare/compare_synthetic.py
and tests/unit/gate/gate_synthetic.py), compared with the default policies; the outputs
are what ``perfkit compare --format json|md`` and ``perfkit gate --md/--junit`` write for
them. The compare and gate tests render the same inputs and diff against these files.

Without ``--accept`` nothing is written: each out-of-date file's unified diff (golden →
current output) is printed and the exit status is 1. Read the diff; when every change is
intended, run again with ``--accept`` to write the files. A golden file is never a test's
only safeguard: tests/unit/compare/test_golden_figures.py recomputes the key figures
(ratios, intervals, p-values) from the same inputs with scipy and checks them against the
stored files, so a regression re-blessed with ``--accept`` still fails there.

Usage: python scripts/regen_golden.py [--accept] [--dir DIR]
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
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


def golden_diff(name: str, current: str | None, expected: str) -> str:
    """The unified diff from the stored file (``None``: missing) to the current output."""
    return "".join(
        difflib.unified_diff(
            [] if current is None else current.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            fromfile=f"golden/{name}" + (" (missing)" if current is None else ""),
            tofile=f"current/{name}",
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accept", action="store_true", help="write the out-of-date files (after printing their diffs)")
    parser.add_argument("--dir", type=Path, default=GOLDEN, help="the golden folder (default: tests/golden)")
    args = parser.parse_args(argv)
    stale: list[str] = []
    for name, text in golden_outputs().items():
        path = args.dir / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        sys.stdout.write(golden_diff(name, current, text))
        if args.accept:
            atomic_write_text(path, text)
            print(f"wrote {path}")
    if not stale:
        print("golden files are up to date")
        return 0
    if args.accept:
        return 0
    print(
        f"out of date: {', '.join(stale)} (nothing written). If every change above is intended, "
        "run: python scripts/regen_golden.py --accept",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
