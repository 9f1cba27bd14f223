"""perfkit: where each PyTorch training step's time goes, and which setting makes it faster.

Importing ``perfkit`` does not import torch: commands that need no training (analyze,
report, compare of saved runs, --help) stay fast. Training entry points import torch
lazily.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
