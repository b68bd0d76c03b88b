"""Dossier: claims and their evidence -- every name, "set apart by", risk zone, driver and headline
the documents state or withheld, with the numbers behind it (``tables/claims.csv`` in words).

Reads ``ctx.claims`` (a tuple of :class:`churnlens.segmentation.results.Claim`, built by
``churnlens.segmentation.claims.build_claims``); an empty section when the run has none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from churnlens.reports import formatting, words
from churnlens.segmentation.results import Claims
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class ClaimRow:
    subject: str  # segment key or driver label
    what: str  # the claim in words
    support: str
    effect: str
    churn: str  # "in vs out (interval of the difference)" or "-"
    verdict: str
    reason: str


@dataclass(frozen=True)
class ClaimsView:
    rows: tuple[ClaimRow, ...]
    made: int
    caveat: int
    dropped: int


def _pct(x: Optional[float]) -> str:
    return formatting.DASH if x is None else formatting.pct(x)


def rows_of(claims, config, lang: str) -> tuple[ClaimRow, ...]:
    """One row per claim in ``lang`` (the section and tests read the same words)."""
    out = []
    for c in claims:
        e = c.evidence
        subject = c.segment or (config.label(c.feature, lang) if c.feature else formatting.DASH)
        churn = formatting.DASH
        if e.churn_in is not None and e.churn_out is not None:
            churn = words.text(lang, "claims.churn_in_sample" if e.in_sample else "claims.churn",
                               cin=_pct(e.churn_in), cout=_pct(e.churn_out),
                               lo=_pct(e.diff_low), hi=_pct(e.diff_high))
        out.append(ClaimRow(
            subject=subject, what=words.claim_text(c, config, lang),
            support=_pct(e.support), effect=formatting.DASH if e.effect_pp is None else words.points(e.effect_pp),
            churn=churn, verdict=words.text(lang, f"claims.verdict_{c.verdict}"),
            reason=words.text(lang, f"claims.reason_{c.reason}") if c.reason else ""))
    return tuple(out)


def build(ctx, kit: Kit) -> ClaimsView:
    claims = tuple(getattr(ctx, "claims", ()) or ())
    verdicts = [c.verdict for c in claims]
    return ClaimsView(rows_of(claims, ctx.config, kit.lang), verdicts.count("made"), verdicts.count("caveat"),
                      verdicts.count("dropped"))


SECTION = Section("claims", "claims.title", build, "d_claims.html", needs=(Claims,))
