"""churnlens.io.parallel: a step run in a forked child beside the caller, with its errors
brought back, and serial where fork is not available or not wanted."""

from __future__ import annotations

import os
import time

import pytest

from churnlens.errors import UserInputError
from churnlens.io import parallel

needs_fork = pytest.mark.skipif(not parallel.fork_available(), reason="no fork on this platform")


@needs_fork
def test_step_runs_in_another_process_at_the_same_time(tmp_path):
    marker = tmp_path / "child.txt"

    def step():
        time.sleep(0.3)
        marker.write_text(f"{os.getpid()} {time.perf_counter():.6f}")

    t0 = time.perf_counter()
    with parallel.beside(step):
        assert not marker.exists()  # the block starts before the step is done
        time.sleep(0.3)
    pid, ended = marker.read_text().split()
    assert int(pid) != os.getpid()
    assert float(ended) >= t0 + 0.3
    assert time.perf_counter() - t0 < 0.55  # overlapped, not 0.6 s in a row


@needs_fork
def test_child_error_is_raised_in_the_parent_with_its_traceback():
    def step():
        raise UserInputError("Column 'x' (value_column) is missing", argument="value_column")

    with pytest.raises(UserInputError, match="value_column") as info:
        with parallel.beside(step):
            pass
    assert any("child process" in n and "step" in n for n in info.value.__notes__)


@needs_fork
def test_unpicklable_child_error_becomes_a_runtime_error():
    class Odd(Exception):
        def __init__(self, a, b):
            super().__init__(f"{a}-{b}")

    def step():
        raise Odd(1, 2)

    with pytest.raises(RuntimeError, match="Odd: 1-2"):
        with parallel.beside(step):
            pass


@needs_fork
def test_child_killed_is_reported():
    with pytest.raises(RuntimeError, match="exit code -9"):
        with parallel.beside(lambda: os.kill(os.getpid(), 9)):
            pass


@needs_fork
def test_parent_error_stops_the_child(tmp_path):
    marker = tmp_path / "late.txt"

    def step():
        time.sleep(1.0)
        marker.write_text("too late")

    with pytest.raises(ValueError, match="parent"):
        with parallel.beside(step):
            raise ValueError("parent failed")
    time.sleep(1.2)
    assert not marker.exists()


def test_serial_when_asked(monkeypatch, tmp_path):
    monkeypatch.setenv(parallel.SERIAL_ENV, "1")
    assert not parallel.fork_available()
    seen = []
    with parallel.beside(lambda: seen.append(os.getpid())):
        assert seen == [os.getpid()]  # ran before the block, in this process


def test_serial_errors_raise_before_the_block():
    ran = []
    with pytest.raises(KeyError):
        with parallel.beside(lambda: {}["k"], parallel=False):
            ran.append(1)
    assert ran == []



class _Stop(Exception):
    pass


@pytest.fixture
def sigterm_raises():
    import signal

    def on_term(signum, frame):
        raise _Stop()

    previous = signal.signal(signal.SIGTERM, on_term)
    yield
    signal.signal(signal.SIGTERM, previous)


def _slow_step(marker):
    def step():
        time.sleep(1.0)
        marker.write_text("too late")
    return step


@needs_fork
def test_a_stop_signal_during_the_fork_is_handled_after_it(tmp_path, monkeypatch, sigterm_raises):
    """SIGTERM arriving while the child is forked is held until the fork is done (a handler raising
    inside fork()'s bookkeeping would print a traceback), then stops the run and the child."""
    import multiprocessing.process
    import signal

    start = multiprocessing.process.BaseProcess.start

    started = []

    def start_under_fire(self):
        started.append(self)
        os.kill(os.getpid(), signal.SIGTERM)  # unheld, the handler would raise right here
        start(self)

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", start_under_fire)
    marker, entered = tmp_path / "late.txt", []
    with pytest.raises(_Stop):
        with parallel.beside(_slow_step(marker)):
            entered.append(1)
    assert entered == []  # handled before the block ran
    assert started[0].pid is not None and started[0].exitcode == -signal.SIGKILL  # forked, then stopped
    time.sleep(1.2)
    assert not marker.exists()


@needs_fork
def test_a_stop_signal_while_waiting_stops_the_child(tmp_path, sigterm_raises):
    import signal
    import threading

    marker = tmp_path / "late.txt"
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
    with pytest.raises(_Stop):
        with parallel.beside(_slow_step(marker)):
            pass  # the parent waits for the child here
    time.sleep(1.2)
    assert not marker.exists()
