"""Value formatting shared by the templates (registered as Jinja filters) and chart captions.

Locale-aware where banks expect it: Chinese amounts use 万 / 亿, English ones k / M / bn.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Optional

from churnlens.io.tables import mask_id

DASH = "–"


def _missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x: Optional[float], digits: int = 0) -> str:
    """Thousands-grouped number: ``12,345`` / ``0.12``."""
    if _missing(x):
        return DASH
    return f"{float(x):,.{digits}f}" if digits else f"{int(round(float(x))):,}"


def money(x: Optional[float], lang: str = "en", *, unit: str = "") -> str:
    """An amount, shortened, with the value column's unit: ``12.3 M EUR`` (en), ``1,234.5 万 EUR`` (zh)."""
    if _missing(x):
        return DASH
    text = _money(float(x), lang)
    # one amount never breaks across lines ("4,381.9 万 / CNY" in a narrow card): no-break spaces
    return (f"{text} {unit}" if unit else text).replace(" ", "\u00a0")


def _money(v: float, lang: str) -> str:
    a = abs(v)
    if lang == "zh":
        if a >= 1e8:
            return f"{v / 1e8:,.2f} 亿"
        if a >= 1e4:
            return f"{v / 1e4:,.1f} 万"
        return f"{v:,.0f}"
    if a >= 1e9:
        return f"{v / 1e9:,.2f} bn"
    if a >= 1e6:
        return f"{v / 1e6:,.1f} M"
    if a >= 1e4:
        return f"{v / 1e3:,.0f} k"
    return f"{v:,.0f}"


# (from this magnitude on, divide by, suffix): the scales of :func:`money`
_SCALES = {"zh": ((1e8, 1e8, "亿"), (1e4, 1e4, "万")), "en": ((1e9, 1e9, "bn"), (1e6, 1e6, "M"), (1e4, 1e3, "k"))}


def money_ticks(values, lang: str = "en") -> list[str]:
    """Labels of a money axis's ticks: one scale for all of them and the fewest decimals that
    show every tick exactly, the same for all (``0, 20 M, 40 M``; ``0, 1,500 万, 3,000 万``;
    ``0, 0.5 亿, 1.0 亿``): no ``1,500.0 万``."""
    vals = [float(v) for v in values]
    top = max((abs(v) for v in vals if math.isfinite(v)), default=0.0)
    div, suffix = next(((d, s) for t, d, s in _SCALES.get(lang, _SCALES["en"]) if top >= t), (1.0, ""))
    scaled = [v / div for v in vals]
    digits = next((d for d in range(4) if all(abs(round(x, d) - x) <= 1e-9 * max(1.0, abs(x)) for x in scaled
                                               if math.isfinite(x))), 3)
    out = []
    for x in scaled:
        if not math.isfinite(x):
            out.append("")
        elif round(x, digits) == 0:
            out.append("0")
        else:
            out.append(f"{x:,.{digits}f} {suffix}".strip())
    return out


def pct(x: Optional[float], digits: int = 1) -> str:
    """A share as a percentage: ``0.123 -> 12.3%``."""
    if _missing(x):
        return DASH
    return f"{100.0 * float(x):.{digits}f}%"


def pp(x: Optional[float], digits: int = 1) -> str:
    """A difference of two shares in percentage points: ``0.031 -> +3.1 pp`` (never "%")."""
    if _missing(x):
        return DASH
    return f"{100.0 * float(x):+.{digits}f} pp"


def pvalue(x: Optional[float]) -> str:
    """A p-value: three decimals, and ``< 0.001`` below that (never ``0.000``)."""
    if _missing(x):
        return DASH
    return "< 0.001" if float(x) < 0.001 else f"{float(x):.3f}"


def signed(x: Optional[float], digits: int = 3) -> str:
    if _missing(x):
        return DASH
    return f"{float(x):+.{digits}f}"


def fixed(x: Optional[float], digits: int = 3) -> str:
    if _missing(x):
        return DASH
    return f"{float(x):.{digits}f}"


def sci(x: Optional[float]) -> str:
    """Small magnitudes (errors, tolerances): ``3.1e-07``."""
    if _missing(x):
        return DASH
    return f"{float(x):.1e}"


def date(iso: str, lang: str = "en") -> str:
    """An ISO 8601 timestamp for people: ``25 Nov 2026, 02:08 UTC`` / ``2026年11月25日 02:08 UTC``."""
    try:
        d = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    tz = d.strftime("%Z") if d.tzinfo is not None else ""
    tz = "UTC" if tz in ("UTC", "UTC+00:00") else tz
    if lang == "zh":
        return f"{d.year}年{d.month}月{d.day}日 {d:%H:%M} {tz}".strip()
    return f"{d.day} {d:%b %Y, %H:%M} {tz}".strip()


def masked(customer: object, enabled: bool = True) -> str:
    """A customer id as printed: masked (first two and last two characters kept) unless disabled.

    Idempotent, so an id the pipeline already masked prints unchanged.
    """
    return mask_id(str(customer)) if enabled else str(customer)


def css_string(s: str):
    """``s`` as a quoted CSS string (for ``content:`` in page margins); no way out of it.

    Returned as ``Markup``: every character that could end the string, the rule or the
    ``<style>`` element is hex-escaped, so HTML-escaping it again would only corrupt it.
    """
    from markupsafe import Markup

    out = []
    for ch in str(s):
        if ch in ('"', "\\", "<", ">", "&") or ord(ch) < 0x20:
            out.append(f"\\{ord(ch):x} ")
        else:
            out.append(ch)
    return Markup('"' + "".join(out) + '"')
