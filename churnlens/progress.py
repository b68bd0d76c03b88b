"""Progress reporting: a rich bar on an interactive terminal, silence in CI and logs.

Stages accept ``progress: Progress | None`` and call ``progress.task(name, total)`` to get
a callable that advances by a number of units; the library never prints by itself.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable, Iterator


def _interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


class Progress:
    """Per-stage progress bars; quiet unless stderr is a terminal (and ``CI`` is unset)."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.enabled = (not quiet) and _interactive()
        self._rich = None

    def __enter__(self) -> "Progress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

            # stderr, so stdout stays clean for what commands print (validate, evaluate)
            self._rich = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                transient=False, console=Console(file=sys.stderr),
            )
            self._rich.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._rich is not None:
            self._rich.__exit__(*exc)
            self._rich = None

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """Yield ``advance(n)``; a no-op when progress is disabled."""
        if self._rich is None:
            yield lambda n=1: None
            return
        task_id = self._rich.add_task(description, total=max(int(total), 1))
        try:
            yield lambda n=1: self._rich.update(task_id, advance=n)
        finally:
            self._rich.update(task_id, completed=max(int(total), 1))
