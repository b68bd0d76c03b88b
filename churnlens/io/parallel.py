"""Use the second core: a step beside the caller, in a forked child or in a thread.

- :func:`beside`: one file-writing step in a forked child while the caller runs another.
- :func:`ahead`: the next item of a reader produced by a thread while the caller uses this one.
- :func:`together`: two computing steps at once, the second in a thread.

All three are serial on one core or when ``CHURNLENS_SERIAL=1`` is set.

The report folder's writers (WeasyPrint, XlsxWriter, matplotlib, CSV) are pure Python and hold
the GIL, so threads do not overlap them; a forked child does, with no pickling of the run's
data (the child sees the parent's memory). Each writer still writes its own files, so the
bytes are the same as in a serial run; only the order in which files appear changes.

Serial where fork is missing or unsafe (Windows; macOS, whose system frameworks are not
fork-safe), on one core, or when ``CHURNLENS_SERIAL=1`` is set (debugging, profiling).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import traceback
import warnings
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

__all__ = ["ahead", "beside", "fork_available", "serial", "together"]

SERIAL_ENV = "CHURNLENS_SERIAL"
T = TypeVar("T")
U = TypeVar("U")
_END = object()
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def serial() -> bool:
    """One core, or ``CHURNLENS_SERIAL=1`` (debugging, profiling): nothing runs beside."""
    return os.environ.get(SERIAL_ENV, "") in ("1", "true", "yes") or (os.cpu_count() or 1) < 2


def fork_available() -> bool:
    """True when :func:`beside` runs its step in a child process."""
    return (not serial() and sys.platform.startswith("linux")
            and "fork" in multiprocessing.get_all_start_methods())


@contextmanager
def _stop_signals_held() -> Iterator[dict]:
    """Hold Ctrl-C / SIGTERM while the child is forked; handle the first one right after.

    A handler raising inside fork()'s bookkeeping (logging's at-fork hooks) prints a
    traceback instead of stopping the run. Masking does not help: another thread of the
    process (numba, OpenMP) takes a process-directed signal and the handler still runs in
    the main thread, so the Python handlers are swapped for a recorder instead. Yields the
    handlers to restore (the child restores them too)."""
    if threading.current_thread() is not threading.main_thread():
        yield {}
        return
    previous = {s: h for s in _STOP_SIGNALS if (h := signal.getsignal(s)) is not None}
    held: list[int] = []
    for s in previous:
        signal.signal(s, lambda signum, frame: held.append(signum))
    try:
        yield previous
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        if held:
            signal.raise_signal(held[0])  # to this thread: its handler runs at the next bytecode


def _child(fn: Callable[[], object], conn, handlers: dict) -> None:
    for s, h in handlers.items():
        signal.signal(s, h)
    try:
        fn()
        conn.send_bytes(b"")
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        tb = traceback.format_exc()
        try:
            payload = pickle.dumps((exc, tb))
            pickle.loads(payload)  # an exception whose __init__ needs more than its args cannot come back
        except Exception:  # noqa: BLE001
            payload = pickle.dumps((RuntimeError(f"{type(exc).__name__}: {exc}"), tb))
        conn.send_bytes(payload)
    finally:
        conn.close()


@contextmanager
def beside(fn: Callable[[], object], *, parallel: bool = True) -> Iterator[None]:
    """Run ``fn()`` in a forked child while the ``with`` block runs.

    Leaving the block waits for the child and raises its exception, if any (the child's
    traceback is attached as a note). If the block itself raises, the child is stopped
    first. Serial (``fn()`` on entry) when ``parallel`` is False or :func:`fork_available`
    is not.
    """
    if not (parallel and fork_available()):
        fn()
        yield
        return
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    for stream in (sys.stdout, sys.stderr):  # buffered text would otherwise be printed twice
        stream.flush()
    child = None
    try:
        try:
            with _stop_signals_held() as handlers, warnings.catch_warnings():
                child = ctx.Process(target=_child, args=(fn, send, handlers), daemon=True)
                # Python >= 3.12 warns about fork() while threads run (numba, OpenMP, the progress
                # bar): the child runs only pure-Python writers and touches none of their locks
                warnings.filterwarnings("ignore", message=r".*fork\(\) may lead to deadlocks",
                                        category=DeprecationWarning)
                # the run's objects are moved out of the collector's reach first: a collection in
                # the child would otherwise write to every page holding one (copy-on-write)
                gc.freeze()
                try:
                    child.start()
                finally:
                    gc.unfreeze()
        finally:
            send.close()
        yield
        try:
            payload = recv.recv_bytes()
        except EOFError:  # killed (out of memory, signal) before it could answer
            payload = None
        child.join()
    except BaseException:  # the block failed, or Ctrl-C / SIGTERM while waiting: stop the child
        if child is not None and child.pid is not None:
            child.kill()
            child.join()
        raise
    finally:
        recv.close()
    if payload is None:
        raise RuntimeError(f"a report-writing process ended with exit code {child.exitcode} before finishing")
    if payload:
        exc, tb = pickle.loads(payload)
        exc.add_note(f"in the report-writing child process:\n{tb}")
        raise exc


def ahead(items: Iterable[T]) -> Iterator[T]:
    """``items`` in order, the next one produced by a thread while the caller uses this one.

    For a reader (Parquet decoding, hashing ids) in front of a step that releases the GIL
    (LightGBM or numba scoring): the two overlap on two cores. The producer runs in one
    thread only, one item ahead; its exception is raised here, at the item it failed on.
    Closing the iterator early waits for the item being produced, then stops. Serial on one
    core or when ``CHURNLENS_SERIAL=1`` is set.
    """
    it = iter(items)
    if serial():
        yield from it
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="churnlens-ahead") as pool:
        future = pool.submit(next, it, _END)
        while (item := future.result()) is not _END:
            future = pool.submit(next, it, _END)
            yield item


def together(first: Callable[[], T], second: Callable[[], U]) -> tuple[T, U]:
    """``(first(), second())``, with ``second`` run by a thread while ``first`` runs here.

    For steps whose work releases the GIL (HDBSCAN, scikit-learn's trees, numpy sorts), so
    the two overlap on two cores. Errors are raised as a serial run would: ``first``'s if
    it failed (after ``second`` has finished), else ``second``'s. Serial on one core or
    when ``CHURNLENS_SERIAL=1`` is set.
    """
    if serial():
        return first(), second()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="churnlens-together") as pool:
        other = pool.submit(second)
        result = first()  # an error here leaves the block, which waits for ``second``
        return result, other.result()
