#!/usr/bin/env python
"""Regenerate the compare golden files in tests/golden/ (never edit them by hand).

The inputs are synthetic runs with fixed seeds (tests/unit/compare/compare_synthetic.py),
compared with the default policy; the outputs are the JSON and Markdown renderings that
``perfkit compare --format json|md`` would print for them. ``tests/unit/compare/
test_golden.py`` renders the same inputs and diffs against these files.

Usage: python scripts/regen_golden.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
sys.path.insert(0, str(ROOT / "tests" / "unit" / "compare"))

from compare_synthetic import golden_groups  # noqa: E402

from perfkit.compare import compare_runs  # noqa: E402
from perfkit.io import atomic_write_text  # noqa: E402
from perfkit.render.compare_markdown import comparison_markdown  # noqa: E402


def golden_outputs() -> dict[str, str]:
    """File name → expected content."""
    comparison = compare_runs(golden_groups())
    return {
        "compare.json": json.dumps(comparison.to_dict(), indent=2) + "\n",
        "compare.md": comparison_markdown(comparison),
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
