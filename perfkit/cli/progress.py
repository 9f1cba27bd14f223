"""A transient progress bar on stderr, shared by the commands that train.

Silent when stderr is not a terminal. It never starts rich's refresh thread (which would
compete for the GIL during measured steps): the bar is redrawn only when :meth:`update`
is called, and perfkit calls it between steps and between runs, outside every measured
window.
"""

from __future__ import annotations

import sys
from typing import Any


class ProgressBar:
    def __init__(self, enabled: bool, title: str = "training") -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.title = title
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=Console(stderr=True), transient=True, auto_refresh=False,
            )
            self._progress.__enter__()
        return self

    def update(self, done: int, total: int, description: str | None = None) -> None:
        if self._progress is None:
            return
        text = description or self.title
        if self._task is None:
            self._task = self._progress.add_task(text, total=total)
        self._progress.update(self._task, completed=done, total=total, description=text, refresh=True)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
