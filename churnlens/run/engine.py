"""Where chunk-wise work runs: in this process, or over partitions on a Dask cluster.

Every per-chunk computation of churnlens (scoring, attributions, reason codes, partial
statistics) is row-wise, so splitting the table differently or running chunks on other
machines gives the same numbers. An engine only maps a function over chunks and returns the
results in chunk order; the caller merges them.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from churnlens.errors import UserInputError

SCHEDULER_TIMEOUT = 30.0  # seconds; CHURNLENS_SCHEDULER_TIMEOUT overrides
TIMEOUT_VARIABLE = "CHURNLENS_SCHEDULER_TIMEOUT"


def scheduler_timeout(timeout: Optional[float] = None) -> float:
    """Seconds to wait for a Dask scheduler and its first worker: ``timeout``, else
    ``CHURNLENS_SCHEDULER_TIMEOUT``, else 30."""
    if timeout is None:
        raw = os.environ.get(TIMEOUT_VARIABLE, "").strip()
        try:
            timeout = float(raw) if raw else SCHEDULER_TIMEOUT
        except ValueError:
            raise UserInputError(f"{TIMEOUT_VARIABLE}: {raw!r} is not a number of seconds.",
                                 argument="scheduler") from None
    if not timeout > 0:
        raise UserInputError(f"scheduler timeout must be a positive number of seconds; found {timeout}.",
                             argument="scheduler")
    return float(timeout)


class LocalEngine:
    """Run chunks one after another in this process."""

    name = "local"

    def __enter__(self) -> "LocalEngine":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def map(self, fn: Callable[..., Any], chunks: Iterable[Any], *, shared: Sequence[Any] = ()) -> Iterator[Any]:
        """Yield ``fn(chunk, *shared)`` for each chunk, in order."""
        for chunk in chunks:
            yield fn(chunk, *shared)


class DaskEngine:
    """Run chunks as tasks on Dask distributed.

    ``shared`` objects (the model) are scattered to the workers once and reused by every
    task. At most ``max_in_flight`` chunks are held at once, so memory on this machine stays
    bounded while workers compute.

    Parameters
    ----------
    scheduler : str, optional
        Address of an existing scheduler (``tcp://host:8786``). Without it a LocalCluster of
        ``n_workers`` processes is started for the run.
    timeout : float, optional
        Seconds to wait for the scheduler to answer and then for at least one worker
        (default ``CHURNLENS_SCHEDULER_TIMEOUT`` or 30); past it a ``UserInputError`` (exit 2)
        names the address and what to check.
    """

    name = "dask"

    def __init__(self, scheduler: Optional[str] = None, *, n_workers: int = 2, max_in_flight: int = 8,
                 timeout: Optional[float] = None) -> None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise UserInputError("engine: 'dask' needs the 'distributed' package: pip install 'churnlens[dask]'.",
                                 argument="engine") from None
        self.scheduler = scheduler
        self.timeout = scheduler_timeout(timeout) if scheduler else None
        self.n_workers = n_workers
        self.max_in_flight = max_in_flight
        self._client = None
        self._cluster = None

    def __enter__(self) -> "DaskEngine":
        from distributed import Client, LocalCluster

        if self.scheduler:
            wait = self.timeout
            try:
                self._client = Client(self.scheduler, timeout=f"{wait}s")
            except (OSError, TimeoutError) as err:
                raise UserInputError(f"scheduler: could not reach the Dask scheduler at {self.scheduler} within "
                                     f"{wait:g} s: {err}. Check the address (tcp://host:8786), that the scheduler "
                                     f"is running and reachable from this machine (firewall), or give it longer "
                                     f"with {TIMEOUT_VARIABLE} (seconds).", argument="scheduler") from None
            try:
                self._client.wait_for_workers(1, timeout=wait)
            except (OSError, TimeoutError):
                self._client.close()
                self._client = None
                raise UserInputError(f"scheduler: the Dask scheduler at {self.scheduler} has no workers (waited "
                                     f"{wait:g} s). Start workers that connect to it (dask worker "
                                     f"{self.scheduler}), check that they can reach it and have the same Python "
                                     f"packages as this machine, or give them longer with {TIMEOUT_VARIABLE} "
                                     "(seconds).", argument="scheduler") from None
        else:
            self._cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self._client = Client(self._cluster)
        return self

    def __exit__(self, *exc) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None

    def map(self, fn: Callable[..., Any], chunks: Iterable[Any], *, shared: Sequence[Any] = ()) -> Iterator[Any]:
        """Yield ``fn(chunk, *shared)`` for each chunk, in chunk order, computed on the workers."""
        from collections import deque

        if self._client is None:
            raise RuntimeError("DaskEngine used outside its `with` block")
        client = self._client
        shared_futures = [client.scatter(obj, broadcast=True, hash=False) for obj in shared]
        pending: deque = deque()
        for chunk in chunks:
            pending.append(client.submit(fn, chunk, *shared_futures, pure=False))
            if len(pending) >= self.max_in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def make_engine(name: str, *, scheduler: Optional[str] = None):
    """The engine for ``--engine``: "local" (default) or "dask"."""
    if name == "local":
        if scheduler:
            raise UserInputError("scheduler: a scheduler address is only used with engine 'dask'.",
                                 argument="scheduler")
        return LocalEngine()
    if name == "dask":
        return DaskEngine(scheduler)
    raise UserInputError(f"engine: {name!r} is unknown; use 'local' or 'dask'.", argument="engine")
