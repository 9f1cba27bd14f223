"""The ``perfkit`` command line. Importing it must not import torch.

Command modules register themselves on the shared Typer app when imported; the import
order below is the order ``perfkit --help`` lists them in.
"""

from __future__ import annotations

# ruff: noqa: I001  (the import order is the order of `perfkit --help`)

from perfkit.cli import profile as _profile  # noqa: F401  (profile, validate, init, report)
from perfkit.cli import run as _run  # noqa: F401  (run)
from perfkit.cli import analyze as _analyze  # noqa: F401  (analyze)
from perfkit.cli import compare as _compare  # noqa: F401  (compare)
from perfkit.cli import gate as _gate  # noqa: F401  (baseline save, gate)
from perfkit.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
