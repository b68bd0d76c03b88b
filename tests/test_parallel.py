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
def test_the_run_s_objects_are_frozen_for_the_child_only(tmp_path):
    """The child's garbage collector must not visit the parent's objects (each visit writes to
    the object's page, which copy-on-write then duplicates: 720 MB with --attribute all)."""
    import gc

    marker = tmp_path / "frozen.txt"
    objects = [[i] for i in range(10_000)]  # noqa: F841 - tracked objects the child inherits
    with parallel.beside(lambda: marker.write_text(str(gc.get_freeze_count()))):
        pass
    assert int(marker.read_text()) >= 10_000
    assert gc.get_freeze_count() == 0  # the parent collects its own objects as before


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


# --- ahead: the next item produced by a thread while the caller uses this one ----------------------

def test_ahead_keeps_order_and_produces_the_next_item_while_this_one_is_used():
    import threading

    produced = []

    def items():
        for i in range(4):
            produced.append((i, threading.current_thread().name))
            yield i

    seen = []
    for item in parallel.ahead(items()):
        time.sleep(0.05)  # the caller's work on this item: the next one is produced meanwhile
        seen.append((item, len(produced)))
    assert [i for i, _ in seen] == [0, 1, 2, 3]
    assert [n for _, n in seen[:3]] == [2, 3, 4]  # one item ahead, never more
    assert all(name.startswith("churnlens-ahead") for _, name in produced)


def test_ahead_raises_the_producer_error_at_the_item_it_failed_on():
    def items():
        yield 1
        raise UserInputError("Column 'x' (value_column) is missing in rows 2-3", argument="value_column")

    seen = []
    with pytest.raises(UserInputError, match="rows 2-3"):
        for item in parallel.ahead(items()):
            seen.append(item)
    assert seen == [1]


def test_ahead_stops_the_producer_when_the_caller_stops():
    produced = []

    def items():
        for i in range(100):
            produced.append(i)
            yield i

    with pytest.raises(ValueError, match="caller"):
        for item in parallel.ahead(items()):
            if item == 2:
                raise ValueError("caller failed")
    assert produced == [0, 1, 2, 3]  # the item in production is finished, nothing after it


def test_ahead_is_serial_when_asked(monkeypatch):
    import threading

    monkeypatch.setenv(parallel.SERIAL_ENV, "1")
    names = []

    def items():
        for i in range(3):
            names.append(threading.current_thread().name)
            yield i

    assert list(parallel.ahead(items())) == [0, 1, 2]
    assert set(names) == {threading.current_thread().name}


# --- together: two steps at once, errors as a serial run would raise them ------------------------

def test_together_overlaps_and_returns_both_results():
    t0 = time.perf_counter()
    a, b = parallel.together(lambda: time.sleep(0.3) or "first", lambda: time.sleep(0.3) or "second")
    assert (a, b) == ("first", "second")
    assert time.perf_counter() - t0 < 0.55  # side by side, not 0.6 s in a row


def test_together_raises_the_first_error_after_the_second_step_finished():
    done = []

    def first():
        raise UserInputError("labels are not 0/1", argument="label_column")

    def second():
        time.sleep(0.2)
        done.append(True)
        raise ValueError("second failed too")

    with pytest.raises(UserInputError, match="0/1"):
        parallel.together(first, second)
    assert done == [True]


def test_together_raises_the_second_error_when_the_first_step_succeeds():
    with pytest.raises(ValueError, match="second"):
        parallel.together(lambda: 1, lambda: (_ for _ in ()).throw(ValueError("second failed")))


def test_together_is_serial_when_asked(monkeypatch):
    monkeypatch.setenv(parallel.SERIAL_ENV, "1")
    order = []
    assert parallel.together(lambda: order.append("a") or 1, lambda: order.append("b") or 2) == (1, 2)
    assert order == ["a", "b"]
