"""Fixtures for the trace tests (helpers live in ``trace_helpers``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from trace_helpers import SHARED_TRACES


@pytest.fixture
def shared_trace() -> Callable[[str], Path]:
    """``shared_trace("cpu_only")`` → the real trace's path; skips when it is absent."""

    def get(stem: str) -> Path:
        path = SHARED_TRACES / f"{stem}.pt.trace.json.gz"
        if not path.is_file():
            pytest.skip(f"real trace {path} not available")
        return path

    return get
