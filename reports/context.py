"""What the report templates and charts receive: one frozen :class:`ReportContext` -- the
language, the run's facts (who, what, when) and the run's :class:`~churnlens.results.Results`.

Sections fetch results by type (``ctx[Segments]``, ``ctx.get(ModelQuality)``) or by the public
name of :data:`NAMES` (``ctx.segments``, ``ctx.quality``), the same table :class:`churnlens.Run`
exposes; ``reports`` only formats and draws. Nothing is copied from the results into fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, TypeVar

from churnlens.actions.results import BudgetPlan, ControlAllocation, FinalPlan, Playbook, Refusals
from churnlens.attribution.results import (
    Attributions, CrossCheck, FeatureSources, GlobalDrivers, Interactions, ModelInfo, ReasonCodes,
)
from churnlens.campaign.results import CampaignEffect, MeasuredCampaign
from churnlens.config import Config
from churnlens.evaluation.results import BackTest, Fairness, InSample, ModelQuality
from churnlens.monitoring.results import DataSchema, Monitoring, MonthChanges, MonthSummary, ReasonShift, Trend
from churnlens.results import AlignedFeatures, Book, DisplayRows, Results, Selection, SourceFeatures
from churnlens.segmentation.results import (  # noqa: F401  (CustomerExample re-exported)
    ChurnerSet, Claims, CustomerExample, Examples, Migration, SegmentProfiles, SegmentRules, Segmentation, Segments,
)

T = TypeVar("T")


@dataclass(frozen=True)
class PackageVersion:
    name: str
    version: str


@dataclass(frozen=True)
class InputFile:
    role: str  # "model" | "data" | "config" | "previous" | "campaign" | "do_not_contact"
    path: str
    sha256: str
    rows: Optional[int] = None


@dataclass(frozen=True)
class RunFacts:
    """Who/what/when of a run, for the cover, the manifest and the dossier."""

    generated_at: str  # ISO 8601, passed in (reproducible outputs)
    period: str
    title: str
    institution: str
    command: str  # exact command line to reproduce
    seed: int
    model: ModelInfo
    inputs: tuple[InputFile, ...]
    n_customers: int
    packages: tuple[PackageVersion, ...]
    attributed: str  # what was attributed, in English words (for the manifest)
    n_attributed: int = 0  # customers with exact attributions (0: unknown, show ``attributed``)
    n_targeted: int = 0  # selected churners among them
    n_sampled: int = 0  # population sample for the global views (each weighted n_customers / n_sampled)



# The run's results by public name: (result type, the field the name reads, or None for the
# result itself). ``churnlens.Run`` and the report sections use the same table; a name whose
# type is absent reads as None.
NAMES: dict[str, tuple[type, Optional[str]]] = {
    "config": (Config, None),
    "sources": (FeatureSources, None),
    "rules": (Playbook, "rules"),
    "book": (Book, None),
    "selection": (Selection, None),
    "attributions": (Attributions, None),
    "reasons": (ReasonCodes, None),
    "X": (SourceFeatures, "frame"),
    "X_model": (AlignedFeatures, "frame"),
    "rows": (AlignedFeatures, "rows"),
    "value": (AlignedFeatures, "value"),
    "display_rows": (DisplayRows, "rows"),
    "cross_check": (CrossCheck, None),
    "drivers": (GlobalDrivers, None),
    "churners": (ChurnerSet, None),
    "segmentation": (Segmentation, None),
    "segments": (Segments, "items"),
    "segment_keys": (Segments, "keys"),
    "migration": (Migration, None),
    "claims": (Claims, "items"),
    "fairness": (Fairness, None),
    "refusals": (Refusals, None),
    "examples": (Examples, "items"),
    "interactions": (Interactions, "items"),
    "profiles": (SegmentProfiles, None),
    "segment_rules": (SegmentRules, None),
    "quality": (ModelQuality, None),
    "monitoring": (Monitoring, None),
    "plan": (FinalPlan, None),
    "plans": (FinalPlan, "plans"),
    "targeting": (FinalPlan, "targeting"),
    "budget": (BudgetPlan, None),
    "control_plan": (ControlAllocation, None),
    "campaign": (CampaignEffect, None),
    "backtest": (BackTest, None),
    "in_sample": (InSample, "figures"),
    "measured": (MeasuredCampaign, None),
    "month_summary": (MonthSummary, None),
    "trend": (Trend, None),
    "data_schema": (DataSchema, None),
    "changes": (MonthChanges, None),
    "reason_shift": (ReasonShift, None),
}

# names whose absence is an empty tuple rather than None (sequences a template iterates over)
_EMPTY = {"segments": (), "plans": (), "examples": (), "interactions": (), "rules": (), "claims": ()}


def read_name(results: Results, name: str, names: Optional[dict] = None) -> Any:
    """The value of public name ``name`` (see :data:`NAMES`, or the table ``names``) in
    ``results``; None (or an empty tuple for sequences) when its type is absent."""
    kind, attr = (names or NAMES)[name]
    value = results.get(kind)
    if value is None:
        return _EMPTY.get(name)
    return value if attr is None else getattr(value, attr)


@dataclass(frozen=True, eq=False)
class ReportContext:
    """Everything both documents (retention report and auditor dossier) show: the language,
    the run's facts and its results (see the module docstring).

    Attribute access by the names of :data:`NAMES` reads the results (``ctx.segments``); a few
    derived counts are properties. :meth:`replace` gives the same run with other results
    (tests: "the same run without a label column").
    """

    lang: str  # "en" | "zh"
    facts: RunFacts
    results: Results

    def __getattr__(self, name: str) -> Any:
        if name in NAMES:
            return read_name(self.results, name)
        raise AttributeError(f"ReportContext has no {name!r} (results by name: {', '.join(sorted(NAMES))})")

    def __getitem__(self, kind: type[T]) -> T:
        return self.results.need(kind)

    def get(self, kind: type[T]) -> Optional[T]:
        return self.results.get(kind)

    def has(self, *kinds: type) -> bool:
        return all(k in self.results for k in kinds)

    @property
    def omitted(self) -> tuple[tuple[str, str], ...]:
        return self.results.omitted

    @property
    def excluded_do_not_contact(self) -> int:
        t = self.targeting
        return 0 if t is None else int(t.excluded.sum())

    @property
    def control_count(self) -> int:
        t = self.targeting
        return 0 if t is None else int(t.control.sum())

    @property
    def excluded_reasons(self) -> tuple[tuple[str, str], ...]:
        """(feature, cause) of the features never listed as actionable reasons."""
        config = self.config
        return tuple((f, c) for f in self.attributions.features if (c := config.excluded_cause(f)))

    def replace(self, *, lang: Optional[str] = None, facts: Optional[RunFacts] = None,
                omitted: tuple[tuple[str, str], ...] = (), without: tuple[type, ...] = (),
                **named: Any) -> "ReportContext":
        """The same context with results replaced by public name (``quality=None`` removes
        ``ModelQuality``; ``omitted`` adds reasons, ``without`` removes result types); a name
        reading part of a result (``plans``) replaces that part."""
        results = self.results.without(*without)
        for name, value in named.items():
            kind, attr = NAMES[name]
            if attr is not None:
                value = dataclasses.replace(results.need(kind), **{attr: value})
            elif value is None:
                results = results.without(kind)
                continue
            results = results.with_(value)
        if omitted:
            results = Results(results.values, results.omitted + tuple(omitted), results.timings)
        return ReportContext(lang or self.lang, facts or self.facts, results)

