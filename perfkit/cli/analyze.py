"""`perfkit analyze`: placeholder until the trace-analysis work lands."""

from __future__ import annotations
