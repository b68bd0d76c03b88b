"""Declared steps and the flow derived from them.

A step is one function with declared inputs and outputs::

    @step("segment profiles", needs=(Config, SourceFeatures, Segments, ChurnerSet, AlignedFeatures),
          gives=SegmentProfiles, beside=True)
    def segment_profiles(env, config, X, segments, churners, aligned) -> SegmentProfiles: ...

The function receives the :class:`Env` and the needed results, in the order of ``needs``, and
returns its result (a tuple, in the order of ``gives``, when it gives several; ``None`` or an
:class:`~churnlens.results.Omitted` for a result it leaves out). :meth:`Flow.build` derives the
order from the declarations and refuses, before anything runs, two steps giving the same type,
a step needing a type no step gives, and a cycle.

:func:`compute` runs a flow over a :class:`~churnlens.results.Results` store. Side by side is
derived too: a step runs as soon as every type it needs has been given (or left out), and a
step declared ``beside=True`` (single-core work that releases the GIL and calls none of
numba's parallel kernels, whose fallback threading layer is not thread-safe) may run in a
second thread while the main thread runs another ready step. Two steps therefore overlap only
when neither needs, directly or through others, what the other gives: a lane can never read
what the other lane gives. Steps are pure functions of what they need, so the results do not
depend on the schedule; the omitted-section notes and the timings are kept in the flow's order.
With ``CHURNLENS_SERIAL=1`` (or one core) the steps run one after another in the flow's order.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Sequence

from churnlens.io.parallel import serial
from churnlens.results import Omitted, Results

__all__ = ["Flow", "FlowError", "Step", "compute", "step"]


class FlowError(RuntimeError):
    """A flow whose declarations do not fit together (a programming fault, found when the flow
    is built, before any step runs)."""


@dataclass(frozen=True)
class Step:
    name: str
    fn: Callable[..., Any]
    needs: tuple[type, ...]
    gives: tuple[type, ...]
    beside: bool = False  # may run in the second thread (see the module docstring)

    def __call__(self, env: Any, *args: Any) -> Any:
        return self.fn(env, *args)

    def __repr__(self) -> str:
        return f"<step {self.name!r}: {_names(self.needs)} -> {_names(self.gives)}>"


def _names(types: Iterable[type]) -> str:
    return "(" + ", ".join(t.__name__ for t in types) + ")"


def step(name: str, *, needs: Sequence[type] = (), gives: type | Sequence[type], beside: bool = False
         ) -> Callable[[Callable[..., Any]], Step]:
    """Declare a function as a step (see the module docstring)."""
    given = tuple(gives) if isinstance(gives, (tuple, list)) else (gives,)

    def wrap(fn: Callable[..., Any]) -> Step:
        return Step(name, fn, tuple(needs), given, beside)

    return wrap


@dataclass(frozen=True)
class Flow:
    """Steps in a derived order over results seeded with ``seeds`` (the request, the config)."""

    steps: tuple[Step, ...]
    seeds: tuple[type, ...]

    @classmethod
    def build(cls, steps: Sequence[Step], *, seeds: Sequence[type] = ()) -> "Flow":
        """Order ``steps`` so each runs after the steps giving what it needs; steps that need
        only the seeds (reading and checking the inputs) come first, so a wrong input stops the
        run before any expensive step; other ties keep the listed order. :class:`FlowError` on a
        type given twice, a type needed but never given, or a cycle."""
        giver: dict[type, Step] = {t: None for t in seeds}  # type: ignore[misc]
        for s in steps:
            for t in s.gives:
                if t in giver:
                    by = "the flow's seeds" if giver[t] is None else f"step {giver[t].name!r}"
                    raise FlowError(f"{t.__name__} is given by both {by} and step {s.name!r}: "
                                    "a result is given once; a refinement is a new type")
                giver[t] = s
        for s in steps:
            missing = [t for t in s.needs if t not in giver]
            if missing:
                raise FlowError(f"step {s.name!r} needs {_names(missing)}, which no step gives")
        order: list[Step] = []
        done: set[type] = set(seeds)
        pending = sorted(steps, key=lambda s: not set(s.needs) <= set(seeds))  # stable
        while pending:
            ready = next((s for s in pending if all(t in done for t in s.needs)), None)
            if ready is None:
                raise FlowError("steps needing each other's results (a cycle): "
                                + ", ".join(repr(s.name) for s in pending))
            order.append(ready)
            done.update(ready.gives)
            pending.remove(ready)
        return cls(tuple(order), tuple(seeds))

    def until(self, *kinds: type) -> "Flow":
        """Only the steps needed to give ``kinds`` (the results up to there: tests, ``explain``)."""
        giver = {t: s for s in self.steps for t in s.gives}
        wanted: set[str] = set()
        todo = [giver[k] for k in kinds if k in giver]
        if any(k not in giver and k not in self.seeds for k in kinds):
            raise FlowError(f"no step gives {_names(k for k in kinds if k not in giver)}")
        while todo:
            s = todo.pop()
            if s.name in wanted:
                continue
            wanted.add(s.name)
            todo.extend(giver[t] for t in s.needs if t in giver)
        return Flow(tuple(s for s in self.steps if s.name in wanted), self.seeds)

    def giver(self, kind: type) -> Optional[Step]:
        return next((s for s in self.steps if kind in s.gives), None)


def _given(s: Step, out: Any) -> tuple[list[Any], list[tuple[str, str]]]:
    """The values a step returned, and the sections it left out."""
    outs = out if len(s.gives) > 1 else (out,)
    if not isinstance(outs, tuple) or len(outs) != len(s.gives):
        raise FlowError(f"step {s.name!r} returned {type(out).__name__}, expected {_names(s.gives)}")
    values, omitted = [], []
    for kind, v in zip(s.gives, outs):
        if isinstance(v, Omitted):
            omitted.append((v.section, v.code))
        elif v is not None:
            if type(v) is not kind:
                raise FlowError(f"step {s.name!r} gave {type(v).__name__} where it declares {kind.__name__}")
            values.append(v)
    return values, omitted


def _run_one(s: Step, env: Any, results: Results) -> tuple[list[Any], list[tuple[str, str]], float]:
    t0 = time.perf_counter()
    values, omitted = _given(s, s(env, *(results.get(t) for t in s.needs)))
    return values, omitted, round(time.perf_counter() - t0, 3)


def compute(flow: Flow, results: Results, env: Any) -> Results:
    """Run every step of ``flow`` over ``results`` (which hold the flow's seeds); see the module
    docstring for what runs side by side. The first failing step's error is raised (in the
    flow's order) once the step running beside it has finished."""
    index = {s.name: i for i, s in enumerate(flow.steps)}
    outcome: dict[str, tuple[list[Any], list[tuple[str, str]], float]] = {}

    def finish(store: Results) -> Results:
        omitted, timings = [], []
        for s in flow.steps:  # notes and timings in the flow's order, whatever the schedule
            _, om, sec = outcome[s.name]
            omitted.extend(om)
            if not om:  # steps that leave their section out are not timed
                timings.append((s.name, sec))
        return Results(store.values, store.omitted + tuple(omitted), store.timings + tuple(timings))

    if serial() or not any(s.beside for s in flow.steps):
        for s in flow.steps:
            values, om, sec = _run_one(s, env, results)
            outcome[s.name] = (values, om, sec)
            results = results.with_(*values)
        return finish(results)

    done: set[type] = set(results.types()) | set(flow.seeds)
    pending = list(flow.steps)
    errors: dict[str, BaseException] = {}
    running: Optional[tuple[Step, Future]] = None

    def ready() -> list[Step]:
        return [s for s in pending if all(t in done for t in s.needs)]

    def settle(s: Step, values, om, sec) -> None:
        nonlocal results
        outcome[s.name] = (values, om, sec)
        results = results.with_(*values)
        done.update(s.gives)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="churnlens-beside") as pool:
        while (pending or running) and not errors:
            can = ready()
            if running is None:
                nxt = next((s for s in can if s.beside and any(o is not s for o in can)), None)
                if nxt is not None:  # the second thread takes a beside step only when the main has work too
                    pending.remove(nxt)
                    running = (nxt, pool.submit(_run_one, nxt, env, results))
                    can = ready()
            main = next((s for s in can if not s.beside), None) or (can[0] if can else None)
            if main is not None:
                pending.remove(main)
                try:
                    settle(main, *_run_one(main, env, results))
                except BaseException as err:  # noqa: BLE001 -- re-raised below, after the thread
                    errors[main.name] = err
            if running is not None and (main is None or running[1].done()):
                wait([running[1]], return_when=FIRST_COMPLETED)
                s, fut = running
                running = None
                try:
                    settle(s, *fut.result())
                except BaseException as err:  # noqa: BLE001
                    errors[s.name] = err
            elif main is None and running is None and pending:
                raise FlowError("steps left that can never run: " + ", ".join(s.name for s in pending))
        if running is not None:  # an error in the main thread: let the step beside finish first
            try:
                settle(running[0], *running[1].result())
            except BaseException as err:  # noqa: BLE001
                errors[running[0].name] = err
    if errors:
        raise errors[min(errors, key=index.__getitem__)]
    return finish(results)
