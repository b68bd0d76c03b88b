"""Progress bars: on an interactive terminal only; silent in CI, in logs and with --quiet."""

from __future__ import annotations

import io
import sys

from churnlens.progress import Progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(monkeypatch, *, tty: bool, ci: bool, quiet: bool) -> str:
    stream = _Tty() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    if ci:
        monkeypatch.setenv("CI", "true")
    else:
        monkeypatch.delenv("CI", raising=False)
    with Progress(quiet=quiet) as progress:
        with progress.task("Attributions", 10) as advance:
            for _ in range(10):
                advance(1)
    return stream.getvalue()


def test_terminal_shows_a_bar(monkeypatch):
    assert "Attributions" in _run(monkeypatch, tty=True, ci=False, quiet=False)


def test_ci_logs_and_quiet_stay_silent(monkeypatch):
    assert _run(monkeypatch, tty=True, ci=True, quiet=False) == ""
    assert _run(monkeypatch, tty=False, ci=False, quiet=False) == ""
    assert _run(monkeypatch, tty=True, ci=False, quiet=True) == ""
