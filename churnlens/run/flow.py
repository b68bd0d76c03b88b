"""The report flow: every declared step of :mod:`churnlens.run.stages` and :mod:`churnlens.run.loop`,
in the order derived from what each needs and gives (:meth:`churnlens.run.step.Flow.build`).

A new step is a function declared with ``@step`` in one of those modules: nothing here changes.
"""

from __future__ import annotations

from types import ModuleType

from churnlens.config import Config
from churnlens.run import loop, stages
from churnlens.run.request import ReportRequest
from churnlens.run.step import Flow, Step

STEP_MODULES: tuple[ModuleType, ...] = (stages, loop)


def steps_of(*modules: ModuleType) -> tuple[Step, ...]:
    """The steps declared in ``modules``, in the order they are defined."""
    return tuple(v for m in modules for v in vars(m).values() if isinstance(v, Step))


FLOW: Flow = Flow.build(steps_of(*STEP_MODULES), seeds=(ReportRequest, Config))
