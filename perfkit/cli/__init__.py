"""The ``perfkit`` command line. Importing it must not import torch."""

from __future__ import annotations

from perfkit.cli import analyze as _analyze  # noqa: F401  (registers `perfkit analyze`)
from perfkit.cli import compare as _compare  # noqa: F401  (registers `perfkit compare`)
from perfkit.cli import gate as _gate  # noqa: F401  (registers `perfkit baseline save`, `perfkit gate`)
from perfkit.cli import profile as _profile  # noqa: F401  (profile, validate, init, report)
from perfkit.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
