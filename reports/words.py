"""Results in words: the only place that turns numbers and codes of the stages into sentences,
names and labels, from the language catalogues (``reports/i18n/<lang>.yaml``)."""

from __future__ import annotations

import re
from typing import Optional

import numpy as np

from churnlens.attribution.reasons import format_value
from churnlens.reports import formatting
from churnlens.reports.catalogue import catalogue, text


def round3(x: float) -> float:
    """Three significant digits (a threshold between two observed values is no more precise)."""
    if x == 0 or not np.isfinite(x):
        return x
    r = float(f"{x:.3g}")
    return float(round(r)) if abs(r) >= 100 else r


def risk_text(config, driver, lang: str) -> str:
    """The driver's risk range in words, thresholds in the feature's unit from the dictionary."""
    rr = driver.risk_range
    label = config.label(driver.feature, lang)
    if rr is None:
        key = {"up": "drivers.direction_up", "down": "drivers.direction_down"}.get(driver.direction, "drivers.direction_mixed")
        return text(lang, key, feature=label)
    spec = config.features.get(driver.feature)
    unit = spec.unit if spec is not None else None

    def g(x: Optional[float]) -> str:
        return formatting.DASH if x is None else format_value(round3(float(x)), unit=unit, lang=lang)

    if rr.op == "in":
        return text(lang, "drivers.range_in", feature=label, values=", ".join(rr.categories))
    if rr.op == "between":
        return text(lang, "drivers.range_between", feature=label, low=g(rr.low), high=g(rr.high))
    if rr.op == "<":
        return text(lang, "drivers.range_below", feature=label, value=g(rr.high if rr.high is not None else rr.low))
    return text(lang, "drivers.range_above", feature=label, value=g(rr.low if rr.low is not None else rr.high))


def localise(s: str, lang: str) -> str:
    """``s`` with the catalogue's technical phrases (``phrase.*``) translated into ``lang``.

    Method and reference descriptions come from the computing libraries in English; the
    catalogue pairs each fixed fragment with its translation, so Chinese documents show none
    of the English sentences while library names and versions stay as they are.
    """
    if lang == "en" or not s:
        return s
    en, out = catalogue("en"), catalogue(lang)
    for k in sorted((k for k in en if k.startswith("phrase.")), key=lambda k: -len(en[k])):
        s = s.replace(en[k], out[k])
    return s


_REPR_PCA = re.compile(r"The (\d+) shares are reduced to (\d+) principal components \(exact, ([\d.]+%) of their variance kept\)")
_REPR_DIRECT = re.compile(r"All (\d+) shares are used directly")
_REPR_ZERO = re.compile(r"([\d,]+) churner\(s\) had no risk-raising attribution")


def representation(seg, lang: str) -> str:
    """The clustering profile in words, in ``lang``, rebuilt from the catalogue and the numbers
    of the segmentation's English description (the segmentation result has no Chinese field)."""
    own = getattr(seg, f"representation_{lang}", "") if lang != "en" else ""
    if lang == "en" or own:
        return own or seg.representation
    r = seg.representation
    if r.startswith("No churners"):
        return text(lang, "appendix.repr_none")
    parts = [text(lang, "appendix.repr_base")]
    m = _REPR_PCA.search(r)
    d = _REPR_DIRECT.search(r)
    if m:
        parts.append(text(lang, "appendix.repr_pca", f=m.group(1), d=m.group(2), explained=m.group(3)))
    elif d:
        parts.append(text(lang, "appendix.repr_direct", f=d.group(1)))
    else:
        return localise(r, lang)
    z = _REPR_ZERO.search(r)
    if z:
        parts.append(text(lang, "appendix.repr_zero", n=z.group(1)))
    return "".join(parts)


def attributed_text(facts, lang: str) -> str:
    """Which customers were attributed and how the sample is weighted, in ``lang``."""
    if not facts.n_attributed:
        return facts.attributed
    if facts.n_attributed == facts.n_customers:
        return text(lang, "dossier.attributed_all", n=formatting.num(facts.n_customers))
    return text(lang, "dossier.attributed_sample", k=formatting.num(facts.n_attributed),
                n=formatting.num(facts.n_customers), churners=formatting.num(facts.n_targeted),
                sample=formatting.num(facts.n_sampled),
                weight=f"{facts.n_customers / max(facts.n_sampled, 1):,.1f}")


def stage_name(name: str, lang: str) -> str:
    """A pipeline stage's name in ``lang`` (``stage.<name>`` in the catalogue, else as given)."""
    key = "stage." + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return catalogue(lang).get(key, name)


def segment_name(seg, lang: str) -> str:
    return seg.name_zh if lang == "zh" else seg.name_en


def churner_rule(churners, lang: str) -> str:
    return churners.rule_zh if lang == "zh" else churners.rule_en


def segmentation_note(seg, lang: str) -> str:
    return (getattr(seg, "note_zh", "") or seg.note) if lang == "zh" else seg.note


def action_text(action, lang: str) -> str:
    return action.action_zh if lang == "zh" else action.action_en


def input_role(role: str, lang: str) -> str:
    key = f"role.{role}"
    return text(lang, key) if key in catalogue(lang) else role
