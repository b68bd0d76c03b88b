"""Declared steps over the typed results store: the flow is derived from what each step needs
and gives, mistakes are found when it is built, and the schedule never changes the results."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from churnlens.io import parallel
from churnlens.results import MissingResult, Omitted, Results
from churnlens.run.flow import FLOW
from churnlens.run.step import Flow, FlowError, compute, step


@dataclass(frozen=True)
class A:
    v: int


@dataclass(frozen=True)
class B:
    v: int


@dataclass(frozen=True)
class C:
    v: int


@dataclass(frozen=True)
class D:
    v: int


class Seed:
    pass


def test_two_steps_giving_one_type_are_refused_when_built():
    one = step("one", gives=A)(lambda env: A(1))
    two = step("two", gives=A)(lambda env: A(2))
    with pytest.raises(FlowError, match="A is given by both step 'one' and step 'two'"):
        Flow.build([one, two])
    with pytest.raises(FlowError, match="Seed is given by both the flow's seeds and step 's'"):
        Flow.build([step("s", gives=Seed)(lambda env: Seed())], seeds=(Seed,))


def test_a_step_needing_what_no_step_gives_is_refused_when_built():
    s = step("reads b", needs=(B,), gives=A)(lambda env, b: A(b.v))
    with pytest.raises(FlowError, match=r"step 'reads b' needs \(B\), which no step gives"):
        Flow.build([s])


def test_a_cycle_is_refused_when_built():
    a = step("a", needs=(B,), gives=A)(lambda env, b: A(1))
    b = step("b", needs=(A,), gives=B)(lambda env, a: B(1))
    with pytest.raises(FlowError, match="cycle"):
        Flow.build([a, b])


def test_order_is_derived_from_needs_and_input_checks_come_first():
    c = step("c", needs=(A, B), gives=C)(lambda env, a, b: C(a.v + b.v))
    b = step("b", needs=(A,), gives=B)(lambda env, a: B(a.v * 10))
    a = step("a", needs=(Seed,), gives=A)(lambda env, s: A(1))
    check = step("check", needs=(Seed,), gives=D)(lambda env, s: D(0))
    flow = Flow.build([c, b, a, check], seeds=(Seed,))
    assert [s.name for s in flow.steps] == ["a", "check", "b", "c"]
    out = compute(flow, Results.of(Seed()), env=None)
    assert out[C] == C(11) and out.need(B) == B(10)
    assert [name for name, _ in out.timings] == ["a", "check", "b", "c"]
    assert [s.name for s in flow.until(B).steps] == ["a", "b"]


def test_a_step_that_leaves_its_result_out_gives_its_reason_and_readers_get_none():
    a = step("a", gives=A)(lambda env: Omitted("performance", "no_label_column"))
    b = step("b", needs=(A,), gives=B)(lambda env, a: B(-1 if a is None else a.v))
    out = compute(Flow.build([a, b]), Results(), env=None)
    assert A not in out and out.get(A) is None and out[B] == B(-1)
    assert out.omitted == (("performance", "no_label_column"),)
    assert out.reason("performance") == "no_label_column"
    with pytest.raises(MissingResult, match="no A in the results"):
        out.need(A)


def test_a_step_giving_another_type_than_declared_is_a_fault():
    a = step("a", gives=A)(lambda env: B(1))
    with pytest.raises(FlowError, match="gave B where it declares A"):
        compute(Flow.build([a]), Results(), env=None)


def _slow(kind, *, after=(), record, beside=False, name=None):
    def fn(env, *needed):
        record.append(("start", kind.__name__, threading.current_thread().name))
        time.sleep(0.05)
        record.append(("end", kind.__name__))
        return kind(sum(n.v for n in needed) + 1)
    return step(name or kind.__name__.lower(), needs=after, gives=kind, beside=beside)(fn)


def test_side_by_side_only_for_independent_steps_and_same_results(monkeypatch):
    """B (beside) overlaps C, which does not need it; D needs both and starts after both ended."""
    monkeypatch.delenv(parallel.SERIAL_ENV, raising=False)
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)
    record: list = []
    steps = [_slow(A, record=record), _slow(B, after=(A,), record=record, beside=True),
             _slow(C, after=(A,), record=record), _slow(D, after=(B, C), record=record)]
    flow = Flow.build(steps)
    out = compute(flow, Results(), env=None)
    starts = {e[1]: i for i, e in enumerate(record) if e[0] == "start"}
    ends = {e[1]: i for i, e in enumerate(record) if e[0] == "end"}
    beside_thread = next(e[2] for e in record if e[0] == "start" and e[1] == "B")
    assert beside_thread.startswith("churnlens-beside")
    assert starts["B"] < ends["C"] and starts["C"] < ends["B"]  # they overlapped
    assert starts["D"] > max(ends["B"], ends["C"]) and starts["B"] > ends["A"]
    monkeypatch.setenv(parallel.SERIAL_ENV, "1")
    serial = compute(flow, Results(), env=None)
    assert all(out[k] == serial[k] for k in (A, B, C, D))
    assert [n for n, _ in out.timings] == [n for n, _ in serial.timings] == ["a", "b", "c", "d"]


def test_the_first_failing_step_in_the_flow_order_is_raised_after_the_beside_step(monkeypatch):
    monkeypatch.delenv(parallel.SERIAL_ENV, raising=False)
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)
    finished = []

    def slow_fail(env, a):
        time.sleep(0.1)
        finished.append("b")
        raise KeyError("beside failed")

    def fast_fail(env, a):
        raise ValueError("main failed")

    flow = Flow.build([step("a", gives=A)(lambda env: A(0)), step("b", needs=(A,), gives=B, beside=True)(slow_fail),
                       step("c", needs=(A,), gives=C)(fast_fail)])
    with pytest.raises(KeyError, match="beside failed"):  # "b" comes before "c" in the flow
        compute(flow, Results(), env=None)
    assert finished == ["b"]


def test_the_report_flow_is_built_from_its_declarations():
    names = [s.name for s in FLOW.steps]
    assert names[:2] == ["load model", "loop inputs"]  # the inputs are checked before any scoring
    for i, s in enumerate(FLOW.steps):  # every need is given earlier (or is a seed)
        given = set(FLOW.seeds).union(*(set(t.gives) for t in FLOW.steps[:i]))
        assert set(s.needs) <= given, s.name
    from churnlens.attribution.results import Attributions

    assert [s.name for s in FLOW.until(Attributions).steps] == ["load model", "read and score", "gather",
                                                                 "attributions"]


def test_results_up_to_a_step_come_from_the_real_flow_and_nothing_after_runs():
    from churnlens.attribution.results import Attributions
    from churnlens.results import Book
    from churnlens.segmentation.results import Segmentation
    from tests.flow_fixture import results_until

    r = results_until(Attributions, n=800)
    attr, book = r[Attributions], r[Book]
    assert Segmentation not in r and r.get(Segmentation) is None
    assert attr.n <= book.n and attr.additivity_max_error < 1e-9
    assert [name for name, _ in r.timings] == ["load model", "read and score", "gather", "attributions"]


def test_a_section_missing_a_result_it_needs_is_placed_as_not_shown():
    from churnlens.evaluation.results import ModelQuality
    from churnlens.reports.sections import assemble, performance
    from churnlens.reports.sections.base import Kit, Omission, Timings
    from tests.flow_fixture import build_context

    ctx = build_context(1500).replace(quality=None, omitted=(("performance", "no_label_column"),))
    assert ctx.get(ModelQuality) is None and ctx.quality is None
    placed, toc = assemble((performance.SECTION,), ctx, Kit(ctx, Timings()))
    assert placed[0].template == "sections/_omitted.html" and isinstance(placed[0].view, Omission)
    assert placed[0].view.reason.startswith("Model performance is not shown: the configuration has no label_column")
    assert [e.id for e in toc] == ["performance"]
