"""The run's results: a frozen store of typed results, and the few result types that belong to
the run rather than to one stage (the scanned book, the attributed rows, the population sample).

Every step of the report flow (:mod:`churnlens.run.step`) declares the result types it needs
and gives; the flow keeps what the steps give in one :class:`Results`, keyed by type. Nothing
is rewritten in place: a later refinement is a new type (the budgeted plan is a ``FinalPlan``,
not a changed ``ActionPlan``). A step may leave its result out with a reason
(:class:`Omitted`): the type is then absent and the reason is kept for the section that would
have shown it.

Reports read the same store (:class:`churnlens.reports.context.ReportContext`), so a new
number is a result type, a step and a section: nothing in between copies fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Optional, TypeVar

import numpy as np
import pandas as pd

from churnlens.frozen import array_eq

T = TypeVar("T")

__all__ = ["AlignedFeatures", "Book", "Checked", "InputChecks", "DisplayRows", "MissingResult", "Omitted", "PopulationSample", "Results",
           "Selection", "SourceFeatures"]


class MissingResult(LookupError):
    """A result type that no step gave (or that its step left out) was needed."""


@dataclass(frozen=True)
class Omitted:
    """What a step returns instead of its result when it has nothing to give: the section it
    would have filled and the reason code (catalogue key ``omitted.<code>``)."""

    section: str
    code: str


@dataclass(frozen=True, eq=False)
class Results:
    """A frozen store ``{result type: value}``, plus the reasons of results left out.

    ``results[T]`` / :meth:`need` raise :class:`MissingResult` when ``T`` is absent;
    :meth:`get` returns ``default``. :meth:`with_` returns a new store with more results.
    """

    values: Mapping[type, Any] = field(default_factory=lambda: MappingProxyType({}))
    omitted: tuple[tuple[str, str], ...] = ()  # (section id, reason code), in the flow's order
    timings: tuple[tuple[str, float], ...] = ()  # (step name, seconds); never written to a file

    @classmethod
    def of(cls, *values: Any) -> "Results":
        return cls().with_(*values)

    def __contains__(self, kind: type) -> bool:
        return kind in self.values

    def __getitem__(self, kind: type[T]) -> T:
        return self.need(kind)

    def need(self, kind: type[T]) -> T:
        try:
            return self.values[kind]
        except KeyError:
            raise MissingResult(f"no {kind.__name__} in the results (given: "
                                f"{', '.join(sorted(t.__name__ for t in self.values)) or 'none'})") from None

    def get(self, kind: type[T], default: Optional[T] = None) -> Optional[T]:
        return self.values.get(kind, default)

    def types(self) -> tuple[type, ...]:
        return tuple(self.values)

    def with_(self, *values: Any, omitted: tuple[tuple[str, str], ...] = (),
              timings: tuple[tuple[str, float], ...] = ()) -> "Results":
        """A new store with ``values`` added, keyed by their exact type (a value of a type
        already present replaces it: the flow itself never does that, tests may)."""
        merged = dict(self.values)
        for v in values:
            merged[type(v)] = v
        return Results(MappingProxyType(merged), self.omitted + tuple(omitted), self.timings + tuple(timings))

    def without(self, *kinds: type, omitted: tuple[tuple[str, str], ...] = ()) -> "Results":
        """A new store without ``kinds`` (tests: "the same run without a label column")."""
        kept = {k: v for k, v in self.values.items() if k not in kinds}
        return Results(MappingProxyType(kept), self.omitted + tuple(omitted), self.timings)

    def reason(self, section: str) -> Optional[str]:
        """The reason code a step gave for leaving ``section`` out, or None."""
        return next((code for sid, code in self.omitted if sid == section), None)


# --- results of the run itself ------------------------------------------------------------------

@array_eq
@dataclass(frozen=True, eq=False)
class Book:
    """What the scan keeps of every customer: a few numbers each, never the feature matrix."""

    ids: np.ndarray  # (n,)
    score: np.ndarray  # (n,) predicted churn probability
    value: Optional[np.ndarray]  # (n,) money at risk
    label: Optional[np.ndarray]  # (n,) observed churn
    kept: pd.DataFrame  # aligned features of the rows kept during the scan (index = book row)
    sample: np.ndarray  # (n,) bool: the population sample (see churnlens.sampling.population_sample)
    warnings: tuple[str, ...]

    @property
    def n(self) -> int:
        return int(self.ids.shape[0])


@array_eq
@dataclass(frozen=True, eq=False)
class Selection:
    """The churners selected over the whole book and the rows of the global views."""

    churners: Any  # ChurnerSet over the whole book (a segmentation result: not imported at this layer)
    in_sample: np.ndarray  # (n,) bool: the population sample (everyone with attribution.mode all)

    @property
    def n_sample(self) -> int:
        return int(self.in_sample.sum())


@array_eq
@dataclass(frozen=True, eq=False)
class AlignedFeatures:
    """The attributed customers (selected churners plus the population sample, or everyone with
    ``attribution.mode: all``) in book order: their book rows and the model's own aligned columns."""

    rows: np.ndarray  # (m,) book positions
    frame: pd.DataFrame  # (m, c) the model's columns
    value: Optional[np.ndarray]  # (m,) money at risk, None without a value column
    label: Optional[np.ndarray]  # (m,) observed churn, None without a label column
    in_population: np.ndarray  # (m,) bool: in the population sample


@array_eq
@dataclass(frozen=True, eq=False)
class SourceFeatures:
    """The attributed customers' source features (one-hot columns decoded), rows as in
    :class:`AlignedFeatures`."""

    frame: pd.DataFrame  # (m, f)


@array_eq
@dataclass(frozen=True, eq=False)
class PopulationSample:
    """The population sample among the attributed rows: the global views' customers."""

    pos: np.ndarray  # (s,) positions among the attributed rows
    attributions: Any  # Attributions of those rows (the attributions themselves with mode all)
    X: pd.DataFrame  # (s, f) their source features


@array_eq
@dataclass(frozen=True, eq=False)
class DisplayRows:
    """A deterministic sample of at most 5,000 attributed rows of the population for point charts."""

    rows: np.ndarray


@dataclass(frozen=True, eq=False)
class Checked:
    """What the checks read, handed to the run so nothing is read twice.

    Attributes
    ----------
    rules : tuple of PlaybookRule
        Config rules, then the playbook file's.
    do_not_contact : frozenset of str, optional
        Ids (as text) on the do-not-contact list.
    salt : str
        ``CHURNLENS_ID_SALT`` when ``report.hash_ids`` is set, else "".
    campaign : DataFrame, optional
        From :func:`churnlens.campaign.effect.read_campaign`.
    previous : PreviousSegments, optional
        Last month's segments (``previous``).
    no_personalisation : frozenset of str, optional
        Ids (as text) that refused personalised marketing (``report.no_personalisation``).
    """

    rules: tuple  # PlaybookRule
    do_not_contact: Optional[frozenset]
    salt: str
    campaign: Optional[pd.DataFrame]
    previous: object
    #: ``previous`` checked against its manifest's hashes (a FolderCheck; None without ``previous``)
    previous_check: Any = None

    no_personalisation: Optional[frozenset] = None


@dataclass(frozen=True, eq=False)
class InputChecks:
    """What the run found about its side inputs: the do-not-contact ids that match no customer
    (an ``IdMatch``; None without a list) and last month's folder against its manifest (a
    ``FolderCheck``; None without ``previous``)."""

    do_not_contact: Any
    previous: Any
