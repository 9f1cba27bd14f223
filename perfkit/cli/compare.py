"""`perfkit compare`: placeholder until the compare work lands."""

from __future__ import annotations
