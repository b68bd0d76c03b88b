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

TRAITS_LISTED = 2  # made trait claims listed per segment (every one is in tables/claims.csv)


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
    traits_left: int = 0  # trait claims in tables/claims.csv only


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


def listed(claims) -> tuple[tuple, int]:
    """The claims the dossier lists, and how many trait claims it leaves to ``tables/claims.csv``:
    every claim but traits; of the traits, each segment's ``TRAITS_LISTED`` strongest made ones
    and every protected attribute withheld."""
    out, per_segment, left = [], {}, 0
    for c in claims:
        if c.kind != "trait":
            out.append(c)
        elif c.verdict == "made" and per_segment.get(c.segment, 0) < TRAITS_LISTED:
            per_segment[c.segment] = per_segment.get(c.segment, 0) + 1
            out.append(c)
        elif c.reason == "protected":
            out.append(c)
        else:
            left += 1
    return tuple(out), left


def build(ctx, kit: Kit) -> ClaimsView:
    claims = tuple(getattr(ctx, "claims", ()) or ())
    verdicts = [c.verdict for c in claims]
    shown, left = listed(_strongest_first(claims))
    return ClaimsView(rows_of(shown, ctx.config, kit.lang), verdicts.count("made"), verdicts.count("caveat"),
                      verdicts.count("dropped"), left)


def _strongest_first(claims) -> tuple:
    """Trait claims of each segment by |effect| (shares) or |d| (medians), largest first; the
    other claims in their order."""
    def size(c):
        if c.kind != "trait":
            return 0.0
        d = dict(c.params).get("d")
        return -abs(d) * 16.7 if d is not None else -abs(c.evidence.effect_pp or 0.0)
    traits = sorted((c for c in claims if c.kind == "trait"), key=lambda c: (c.segment, size(c)))
    return tuple(c for c in claims if c.kind != "trait") + tuple(traits)


SECTION = Section("claims", "claims.title", build, "d_claims.html", needs=(Claims,))
