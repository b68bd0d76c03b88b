"""The short summary a :class:`churnlens.Run` shows in Jupyter (``_repr_html_``)."""

from __future__ import annotations

from dataclasses import dataclass

import jinja2

from churnlens.reports import formatting
from churnlens.reports.catalogue import text


@dataclass(frozen=True)
class SegmentLine:
    key: str
    size: int
    share: float  # of all churners
    mean_score: float
    value_at_risk: float


@dataclass(frozen=True)
class RunSummary:
    """Counts and checks of one run (numbers only; words come from the catalogue)."""

    n_customers: int
    n_attributed: int
    n_churners: int
    n_segments: int
    segments: tuple[SegmentLine, ...]
    additivity_max_error: float
    cross_check_max_abs_diff: float
    model: str  # model family


_ENV = jinja2.Environment(loader=jinja2.PackageLoader("churnlens.reports", "templates"), autoescape=True,
                          undefined=jinja2.StrictUndefined)


def summary_html(summary: RunSummary, *, lang: str = "en") -> str:
    """An HTML fragment: the counts, one line per segment, and the additivity checks."""
    return _ENV.get_template("notebook.html").render(
        s=summary, t=lambda key, **kw: text(lang, key, **kw), num=formatting.num,
        pct=lambda x: f"{100 * x:.1f}%", sci=lambda x: f"{x:.1e}")
