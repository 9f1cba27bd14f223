"""perfkit: where each PyTorch training step's time goes, and which setting makes it faster.

Importing ``perfkit`` does not import torch: commands that need no training (analyze,
report, compare of saved runs, --help) stay fast. Training entry points import torch
lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from perfkit.results import RunResult
    from perfkit.runtime.session import Session, SessionError


def __getattr__(name: str) -> Any:
    """``perfkit.Session`` and friends, imported (with torch) on first use only."""
    if name in ("Session", "SessionError"):
        from perfkit.runtime import session

        return getattr(session, name)
    if name == "RunResult":
        from perfkit.results import RunResult

        return RunResult
    raise AttributeError(f"module 'perfkit' has no attribute {name!r}")


__all__ = ["RunResult", "Session", "SessionError", "__version__"]
