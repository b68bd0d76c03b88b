"""Results in words: the only place that turns numbers and codes of the stages into sentences,
names and labels, from the language catalogues (``reports/i18n/<lang>.yaml``)."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.notes import Note
from churnlens.reports import formatting
from churnlens.reports.catalogue import catalogue, text
from churnlens.segmentation.results import MIXED
from churnlens import constants as c
from churnlens.segmentation.results import NamePart

# Language of the words in machine-readable outputs (CSV, JSON): the same whatever --lang.
MACHINE_LANG = "en"


def feature_value(value: object, *, unit: Optional[str] = None, lang: str = "en", spec=None) -> str:
    """A customer's value of a feature: the dictionary's words for it (``spec``, a
    ``FeatureSpec`` with ``values:``) when it has them, else integers with thousands
    separators, other numbers to 2 decimals (3 significant digits below 1), fractions with
    ``unit: percent`` as percentages, categories as text; the unit worded by the catalogue
    (``unit.<name>``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return text(lang, "reason.missing")
    own = spec.value_label(value, lang) if spec is not None else None
    if own is not None:
        return own
    if isinstance(value, str) and lang != "en" and value.strip().lower() in ("yes", "no"):
        return yes_no(value.strip().lower() == "yes", lang)  # a yes/no level without dictionary words: 是/否
    if isinstance(value, (bool, np.bool_)):
        shown = str(bool(value)).lower()
    elif isinstance(value, (int, float, np.integer, np.floating)):
        v = float(value)
        if unit == "percent":
            return f"{v * 100:.0f}%"
        if v.is_integer() and abs(v) < 1e15:
            shown = f"{int(v):,}"
        elif abs(v) >= 1000:
            shown = f"{v:,.0f}"
        elif abs(v) >= 1:
            shown = f"{v:,.2f}".rstrip("0").rstrip(".")
        else:
            shown = f"{v:.3g}"
    else:
        shown = str(value)
    if not unit or unit == "percent":
        return shown
    if not isinstance(unit, str):  # a unit in both languages (config Text): "45 years" / "45岁"
        return text(lang, "unit.own", v=shown, unit=unit.get(lang))
    key = f"unit.{unit}"
    if key in catalogue(lang) and shown == "1" and f"{key}_one" in catalogue(lang):
        key = f"{key}_one"  # "1 year", not "1 years"
    return text(lang, key, v=shown) if key in catalogue(lang) else text(lang, "unit.other", v=shown, unit=unit)


def reason_text(feature: str, value: object, config, lang: str, pp: Optional[float] = None) -> str:
    """One reason code in words: "label: value", with its size "(+12 pp)" when ``pp`` is given."""
    spec = config.features.get(feature)
    line = text(lang, "reason.line", label=config.label(feature, lang),
                value=feature_value(value, unit=spec.unit if spec is not None else None, lang=lang, spec=spec))
    return line if pp is None else text(lang, "reason.sized", line=line, pp=points(pp))


def points(pp: float) -> str:
    """A size in probability points with its sign: whole points from 1, tenths below."""
    return f"{pp:+.0f}" if abs(pp) >= 0.95 else f"{pp:+.1f}"


_FAMILIES = {"reason": ("features", "values", "pp"), "driver": ("driver_features", "driver_values", "driver_pp"),
             "protective": ("protective_features", "protective_values", "protective_pp")}


def reason_texts(codes, config, lang: str, *, family: str = "reason", rows: Optional[np.ndarray] = None) -> np.ndarray:
    """Reason codes in words, shape (n, k): "label: value (+12 pp)" ("" in empty slots).

    ``family``: "reason" (actionable reasons), "driver" (top drivers overall) or
    "protective" (risk-lowering factors). The size is shown when the codes carry it. Each
    distinct value of a feature is worded once (a million customers share few). ``rows``
    (bool, shape (n,)): word only these customers (e.g. the listed ones), "" for the others.
    """
    f_name, v_name, p_name = _FAMILIES[family]
    features, values, pp = getattr(codes, f_name), getattr(codes, v_name), getattr(codes, p_name, None)
    if rows is not None:
        full = np.full(features.shape, "", dtype=object)
        full[rows] = _worded(config, lang, features[rows], values[rows], None if pp is None else pp[rows])
        return full
    return _worded(config, lang, features, values, pp)


def _worded(config, lang: str, features: np.ndarray, values: np.ndarray, pp: Optional[np.ndarray]) -> np.ndarray:
    out = np.full(features.shape, "", dtype=object)
    for name in pd.unique(features.ravel()):
        if not name:
            continue
        hit = features == name
        spec = config.features.get(name)
        unit = spec.unit if spec is not None else None
        label = config.label(name, lang)
        ids, uniq = pd.factorize(pd.Series(values[hit], dtype=object), use_na_sentinel=True)
        worded = np.array([text(lang, "reason.line", label=label, value=feature_value(u, unit=unit, lang=lang, spec=spec))
                           for u in uniq] + [text(lang, "reason.line", label=label, value=text(lang, "reason.missing"))],
                          dtype=object)
        if pp is None:
            out[hit] = worded[ids]  # id -1 (missing) picks the last entry
            continue
        # word each distinct (value, size as shown) pair once; the size is rounded once, as
        # ``points`` shows it (whole points from 0.95, tenths below), so a list row and
        # ``reason_text`` of the same customer agree ("+27", never "+26" from 26.5 of tenths)
        sizes, t_ids = np.unique(_shown_sizes(np.asarray(pp[hit], dtype=np.float64)), return_inverse=True)
        pair = (ids % len(worded)) * len(sizes) + t_ids.reshape(-1)
        codes_, uniq_pairs = pd.factorize(pair)
        sized = np.array([text(lang, "reason.sized", line=worded[q // len(sizes)], pp=points(sizes[q % len(sizes)]))
                          for q in uniq_pairs], dtype=object)
        out[hit] = sized[codes_]
    return out


def _shown_sizes(p: np.ndarray) -> np.ndarray:
    """Sizes in probability points as ``points`` shows them (whole from 0.95, tenths below),
    vectorised; shape of ``p``. At a half in the last shown digit numpy's rounding and the
    correctly rounded format can differ, so those few are rounded as ``points`` rounds them."""
    whole = np.abs(p) >= 0.95
    shown = np.where(whole, np.rint(p), np.round(p * 10) / 10)
    scaled = np.where(whole, p, p * 10)
    for i in np.flatnonzero(np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < 1e-6):
        shown[i] = float(points(float(p[i])))
    return shown


def round3(x: float) -> float:
    """Three significant digits (a threshold between two observed values is no more precise)."""
    if x == 0 or not np.isfinite(x):
        return x
    r = float(f"{x:.3g}")
    return float(round(r)) if abs(r) >= 100 else r


def _is_number(key) -> bool:
    try:
        float(key)
    except (TypeError, ValueError):
        return False
    return True


def _end_level(spec, x: float, lowest: bool) -> bool:
    """``x`` is the lowest (highest) of the values the dictionary words (a 0/1 flag): an open
    zone ending there is that one value ("at inactive", never "at inactive or less")."""
    keys = [k for k in (spec.values if spec is not None and spec.values else {}) if _is_number(k)]
    return bool(keys) and float(x) == (min if lowest else max)(float(k) for k in keys)


def _flag_side(spec, op: str, x: float, lang: str) -> Optional[str]:
    """A one-sided range of a 0/1 flag the dictionary words ("< 1", "> 0") as that level's word
    ("inactive"), else None."""
    keys = sorted(float(k) for k in (spec.values if spec is not None and spec.values else {}) if _is_number(k))
    if keys != [0.0, 1.0]:
        return None
    if op in ("<", "<=") and 0.0 <= x <= 1.0 and not (op == "<=" and x == 1.0):
        return spec.value_label(0, lang)
    if op in (">", ">=") and 0.0 <= x <= 1.0 and not (op == ">=" and x == 0.0):
        return spec.value_label(1, lang)
    return None


def _bare_flag(config, feature: str, flags: frozenset, lang: str) -> bool:
    """``feature`` holds only 0 and 1 (``flags``, from the data) and the dictionary has no words
    for its values: its sides read "with" / "without" it, never "lower X" or "at 0"."""
    return feature in flags and _flag_side(config.features.get(feature), "<", 0.5, lang) is None


def _flag_zone_side(z) -> Optional[str]:
    """"off" for a zone of a 0/1 flag holding only 0, "on" for only 1, else None."""
    if z.categories:
        return None
    lo, hi = (z.value, z.value) if z.value is not None else (0.0 if z.low is None else z.low, 1.0 if z.high is None else z.high)
    if lo == hi and float(lo) in (0.0, 1.0):
        return "on" if float(lo) == 1.0 else "off"
    return None


def zones_text(config, driver, lang: str, output_space: str = "log_odds", *, sized: bool = True,
               flags: frozenset = frozenset()) -> str:
    """Where the driver's risk rises, zone by zone (strongest first) with each zone's mean
    attribution, values in the dictionary's words and unit: "risk is highest with Number of
    products held at 3 or more (+3.9 log-odds), and raised at 1 or less (+0.4 log-odds)"."""
    spec = config.features.get(driver.feature)
    unit = spec.unit if spec is not None else None

    def g(x: float) -> str:
        return feature_value(round3(float(x)), unit=unit, lang=lang, spec=spec)

    def end_level(x: float, lowest: bool) -> bool:
        return _end_level(spec, x, lowest)

    bare = _bare_flag(config, driver.feature, flags, lang)
    parts = []
    for z in driver.zones:
        if bare and (side := _flag_zone_side(z)) is not None:  # a 0/1 flag without value words: "without it"
            zone = text(lang, f"drivers.zone_flag_{side}")
        elif z.categories:
            zone = text(lang, "drivers.zone_level", level=text(lang, "meta.sep_list").join(
                feature_value(c, lang=lang, spec=spec) for c in z.categories))
        elif z.value is not None:  # one observed value, at an open end too: "at 1", never "at 1 or less"
            zone = text(lang, "drivers.zone_single", low=g(z.value))
        elif z.low is None and z.high is not None:
            zone = text(lang, "drivers.zone_single" if end_level(z.high, True) else "drivers.zone_below",
                        high=g(z.high), low=g(z.high))
        elif z.high is None and z.low is not None:
            zone = text(lang, "drivers.zone_single" if end_level(z.low, False) else "drivers.zone_above",
                        low=g(z.low))
        elif z.low is not None and z.low == z.high:
            zone = text(lang, "drivers.zone_single", low=g(z.low))
        else:
            zone = text(lang, "drivers.zone_between", low=g(z.low), high=g(z.high))
        if not sized:  # plain words (the executive summary: no log-odds for a business reader)
            parts.append(zone)
            continue
        size = f"{z.mean_attribution:+.2g}" if output_space == "log_odds" else points(100 * z.mean_attribution)
        one = "_one" if size.lstrip("+-") == "1" and output_space != "log_odds" else ""  # "1 probability point"
        parts.append(text(lang, f"drivers.zone_size_{output_space}{one}", zone=zone, size=size))
    return text(lang, "drivers.zones", feature=config.label(driver.feature, lang),
                zones=text(lang, "drivers.zone_then").join(parts))


def risk_text(config, driver, lang: str, output_space: str = "log_odds", *, sized: bool = True,
              flags: frozenset = frozenset()) -> str:
    """Where the driver raises risk, in words, thresholds in the feature's unit from the
    dictionary: its reported risk zones (the numbers of the chart's shading and of
    ``tables/drivers.csv``); when zones were found but none held its evidence, that no range
    raises risk materially and measurably; otherwise its direction only (a one-sided range only
    for a driver whose zones were never examined, e.g. beyond the top ten). ``flags``: the
    features holding only 0 and 1 in the data; one without value words in the dictionary reads
    "risk is higher without Holds a credit card", never "lower Holds a credit card raises risk"."""
    if driver.zones:  # the reported zones: the same numbers as the chart and tables/drivers.csv
        return zones_text(config, driver, lang, output_space, sized=sized, flags=flags)
    label = config.label(driver.feature, lang)
    if getattr(driver, "dropped_zones", ()):  # examined, and no zone's evidence held: no direction claimed either
        return text(lang, "drivers.no_zone", feature=label)
    rr = driver.risk_range
    spec = config.features.get(driver.feature)
    if rr is None:
        flag = {"up": (">", 0.5), "down": ("<", 0.5)}.get(driver.direction)
        word = None if flag is None else _flag_side(spec, flag[0], flag[1], lang)
        if word is not None:  # a 0/1 flag: "risk rises when Active member is inactive"
            return text(lang, "drivers.range_in", feature=label, values=word)
        if flag is not None and _bare_flag(config, driver.feature, flags, lang):
            return text(lang, "drivers.flag_on" if flag[0] == ">" else "drivers.flag_off", feature=label)
        key = {"up": "drivers.direction_up", "down": "drivers.direction_down"}.get(driver.direction, "drivers.direction_mixed")
        return text(lang, key, feature=label)
    unit = spec.unit if spec is not None else None

    def g(x: Optional[float]) -> str:
        return formatting.DASH if x is None else feature_value(round3(float(x)), unit=unit, lang=lang)

    if rr.op == "in":
        return text(lang, "drivers.range_in", feature=label, values=text(lang, "meta.sep_list").join(
            feature_value(c, lang=lang, spec=spec) for c in rr.categories))  # the dictionary's words, 是/否
    if rr.op in ("<", ">"):  # a 0/1 flag in the dictionary's words: "is inactive", never "< 1"
        x = rr.high if rr.op == "<" else rr.low
        x = x if x is not None else (rr.low if rr.op == "<" else rr.high)
        word = None if x is None else _flag_side(spec, rr.op, float(x), lang)
        if word is not None:
            return text(lang, "drivers.range_in", feature=label, values=word)
        if x is not None and 0.0 <= float(x) <= 1.0 and _bare_flag(config, driver.feature, flags, lang):
            return text(lang, "drivers.flag_on" if rr.op == ">" else "drivers.flag_off", feature=label)
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


def note_text(note, lang: str) -> str:
    """A stage's :class:`~churnlens.notes.Note` in words (``note.<code>`` of the catalogue);
    parameters that are notes, or tuples of notes, are worded first."""
    params = {}
    for name, value in note.params:
        if isinstance(value, Note):
            params[name] = note_text(value, lang)
        elif isinstance(value, tuple) and value and all(isinstance(v, Note) for v in value):
            params[name] = text(lang, "note.list_sep").join(note_text(v, lang) for v in value)
        elif isinstance(value, tuple) and all(isinstance(v, str) for v in value):  # names (models, keys)
            params[name] = text(lang, "note.list_sep").join(value)
        elif value is None:
            params[name] = _Undefined(lang)
        else:
            params[name] = value
    return text(lang, f"note.{note.code}", **params)


class _Undefined:
    """An undefined number in a note (e.g. AUC with one class): printed "n/a" whatever the format."""

    def __init__(self, lang: str):
        self._lang = lang

    def __format__(self, spec: str) -> str:
        return text(self._lang, "note.na")


class _Worded:
    """A number already worded (an amount with its scale): printed as is whatever the format."""

    def __init__(self, text: str):
        self._text = text

    def __format__(self, spec: str) -> str:
        return self._text


def comparison_verdict(comparison, lang: str, *, unit: str = "") -> str:
    """The model comparison's verdict in words; an expected net value is an amount ("5.5 M EUR",
    "549.1 万"), not "5,491,172.706"."""
    note = comparison.verdict
    if comparison.rank_by == "expected_net_value":
        value = note.get("value")
        note = Note.of(note.code, **{**dict(note.params),
                                     "value": _Worded(formatting.money(value, lang, unit=unit))})
    return note_text(note, lang)


def notes_text(notes, lang: str) -> str:
    """Several notes as one paragraph ("" for none)."""
    return text(lang, "note.sep").join(note_text(n, lang) for n in notes)


def representation(seg, lang: str) -> str:
    """The clustering profile (``Segmentation.representation``) in words, in ``lang``."""
    r = seg.representation
    if r.code == "profile.none":
        return text(lang, "appendix.repr_none")
    if r.code == "profile.material":
        out = text(lang, "material.repr", materiality=formatting.pct(r.get("materiality"), 0), floor=f"{r.get('floor'):g}",
                   space=text(lang, f"chart.space_{r.get('space')}"), f=r.get("f"))
        if r.get("explained") < 1.0:
            out += text(lang, "material.repr_pca", d=r.get("d"), explained=formatting.pct(r.get("explained")))
        return out
    parts = [text(lang, "appendix.repr_base")]
    if r.code == "profile.pca":
        parts.append(text(lang, "appendix.repr_pca", f=r.get("f"), d=r.get("d"),
                          explained=formatting.pct(r.get("explained"))))
    else:
        parts.append(text(lang, "appendix.repr_direct", f=r.get("f")))
    if r.get("n_zero"):
        parts.append(text(lang, "appendix.repr_zero", n=formatting.num(r.get("n_zero"))))
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


def _lower_first(s: str, lang: str) -> str:
    """'Mobile logins' -> 'mobile logins' where the language lower-cases inside names; acronyms
    ('AUM ...') kept."""
    if text(lang, "segment.name_lower_first") == "yes" and len(s) > 1 and s[0].isupper() and not s[1].isupper():
        return s[0].lower() + s[1:]
    return s


def _yes_no(word: str, lang: str) -> bool:
    return word.strip().lower() in set(text(lang, "segment.yes_no_words").split("|"))


def ranges_text(ranges, lang: str, *, unit: Optional[str] = None, spec=None) -> str:
    """Value ranges as a name or claim words them: "1 or 3+", "50–65", "2,000 or less"."""
    def g(x: float) -> str:
        return feature_value(round3(float(x)), unit=unit, lang=lang, spec=spec)

    out = []
    for lo, hi in ranges:
        if lo is not None and hi is not None and lo == hi:
            out.append(g(lo))
        elif lo is None and hi is not None:
            out.append(text(lang, "segment.range_below", high=g(hi)))
        elif hi is None and lo is not None:
            out.append(text(lang, "segment.range_above", low=g(lo)))
        elif lo is not None:
            out.append(text(lang, "segment.range_between", low=g(lo), high=g(hi)))
    return text(lang, "segment.range_or").join(out)


def _name_phrase(part, config, lang: str) -> tuple[str, bool]:
    """(phrase, directional) for one name part.

    * a 0/1 feature: the dictionary's own ``high`` (value 1) / ``low`` (value 0) wording, else
      its word for the value when that word says something ("Inactive"), else the feature's
      label for 1 ("Deposit maturing soon") and "label: no" for 0 -- never a bare "Yes";
    * categorical levels: "Country: Germany", "Country: France or Spain";
    * value ranges: "Age: 50–65", "Number of products held: 1 or 3+"; a single open range
      (``direction`` low / high) as a direction below (its bound is in the claims);
    * a direction: the dictionary's own ``low`` / ``high`` wording, else "Low"/"High" + label;
    * the label alone otherwise."""
    label = config.label(part.feature, lang)
    spec = config.features.get(part.feature)
    unit = spec.unit if spec is not None else None
    level = getattr(part, "level", "")
    levels = getattr(part, "levels", ())
    ranges = getattr(part, "ranges", ())
    if level in ("0", "1"):
        own = getattr(spec, "high" if level == "1" else "low", None) if spec is not None else None
        if own is not None:
            return own.get(lang), True
        word = spec.value_label(level, lang) if spec is not None else None
        if word is not None and not _yes_no(word, lang):
            return text(lang, "segment.name_value", value=word), True  # "Inactive", "不活跃"
        if level == "1":
            return label, True
        return text(lang, "segment.name_binary_off", label=label), False
    if level or levels:
        values = text(lang, "segment.range_or").join(
            feature_value(v, lang=lang, spec=spec) for v in ((level,) if level else levels))
        return text(lang, "segment.name_level", label=label, value=values), False
    if ranges and not (len(ranges) == 1 and part.direction in ("low", "high")):
        return text(lang, "segment.name_values", label=label,
                    values=ranges_text(ranges, lang, unit=unit, spec=spec)), False
    if part.direction in ("low", "high"):  # one open range (its bound is in the claims), or an older name
        own = getattr(spec, part.direction, None) if spec is not None else None
        if own is not None:
            return own.get(lang), True
        return text(lang, f"segment.name_{part.direction}", label=_lower_first(label, lang)), True
    return label, False


def segment_name(seg, config, lang: str) -> str:
    """A segment's name from its parts (distinguishing drivers and what the members have), in
    ``lang``; a segment none of whose phrases holds for most of its churners is "Mixed: <drivers>"."""

    if seg.segment_id == MIXED:
        return text(lang, "segment.mixed_name")
    if not seg.name:
        return text(lang, "segment.fallback_name", key=seg.key)
    if getattr(seg, "name_mixed", False):
        drivers = text(lang, "segment.name_mixed_join").join(
            _lower_first(config.label(p.feature, lang), lang) for p in seg.name)
        name = text(lang, "segment.name_mixed", drivers=drivers)
        return text(lang, "segment.name_with_key", name=name, key=seg.key) if seg.name_with_key else name
    phrases = [_name_phrase(p, config, lang) for p in seg.name]
    rest = [_lower_first(ph, lang) if directional else ph for ph, directional in phrases[1:]]
    first = phrases[0][0]
    if text(lang, "segment.name_lower_first") == "yes" and first[:1].islower():
        first = first[0].upper() + first[1:]  # a name starts with a capital: "Inactive & ..."
    name = text(lang, "segment.name_join").join([first, *rest])
    return text(lang, "segment.name_with_key", name=name, key=seg.key) if seg.name_with_key else name


def segment_names(segments, config, lang: str) -> dict[str, str]:
    """Every segment's name by key."""
    return {s.key: segment_name(s, config, lang) for s in segments}


def churner_rule(churners, lang: str) -> str:
    return note_text(churners.rule, lang)


def segmentation_note(seg, lang: str) -> str:
    return notes_text(seg.notes, lang)


def action_text(action, lang: str) -> str:
    return action.action.get(lang)


def input_role(role: str, lang: str) -> str:
    key = f"role.{role}"
    return text(lang, key) if key in catalogue(lang) else role


# --- retention_list.xlsx --------------------------------------------------------------------------

def workbook_text(key: str, lang: str, **params: object) -> str:
    """Fixed words of the retention workbook (``workbook.<key>``): sheet titles, summary labels, flags."""
    return text(lang, f"workbook.{key}", **params)


def list_header(column: str, lang: str) -> str:
    """Business header of a retention-list column: ``customer_id`` -> "Customer ID" / "客户编号",
    ``reason_2`` -> "Reason 2" / "原因 2" (numbered reason, driver and protective columns)."""
    stem, _, n = column.rpartition("_")
    if n.isdigit() and stem in ("reason", "driver", "protective"):
        return text(lang, f"workbook.{stem}", n=n)
    return text(lang, f"workbook.{column}")


def channel_name(channel: str, lang: str) -> str:
    """A playbook channel (``relationship_manager``) in words; empty stays empty."""
    return text(lang, f"channel.{channel}") if channel else ""


def yes_no(flag: bool, lang: str) -> str:
    return text(lang, "workbook.flag_yes" if flag else "workbook.flag_no")


# --- material-driver segmentation: the method step by step, and segments as rules ------------

def segmentation_method(seg, segcfg, lang: str, *, rules_depth: Optional[int] = None) -> tuple[str, ...]:
    """The material-driver method as the numbered steps an auditor re-derives a segment with,
    with this run's parameters (``seg``: the Segmentation, ``segcfg``: SegmentationConfig);
    () for another representation."""

    r = seg.representation
    if r.code != "profile.material":
        return ()
    def pct(x: float) -> str:
        return formatting.pct(x, 0)

    mat, floor = pct(r.get("materiality")), f"{r.get('floor'):g}"
    space = text(lang, f"chart.space_{r.get('space')}")
    steps = [
        text(lang, "material.step_reference"),
        text(lang, "material.step_material", materiality=mat, floor=floor, space=space),
        text(lang, "material.step_discover", mcs_fit=formatting.num(seg.fit_min_cluster_size), ms=seg.min_samples,
             fitted=formatting.num(seg.n_fitted), sample=formatting.num(segcfg.sample), seed=seg.seed,
             coherence=c.COHERENCE_MIN, same=c.SAME_REASONS, major=pct(c.MAJOR_DRIVER)),
        text(lang, "material.step_drivers", share=pct(c.DRIVER_MIN)),
        text(lang, "material.step_combination", cos=c.COMBINATION_COS, part=pct(c.COMBINATION_PART)),
        text(lang, "material.step_cooccur", share=pct(c.COOCCURRENCE)),
        text(lang, "material.step_assign", materiality=mat, floor=floor),
        text(lang, "material.step_assign_joint", floor=floor, mcs=formatting.num(seg.min_cluster_size)),
    ]
    if seg.noise == "assign":
        steps.append(text(lang, "material.step_noise_assign", strength=pct(segcfg.assign_min_strength)))
    steps.append(text(lang, "material.step_stability", runs=segcfg.stability_runs, fraction=pct(segcfg.stability_fraction),
                      threshold=c.UNSTABLE_JACCARD))
    if rules_depth is not None:
        steps.append(text(lang, "material.step_rules", depth=rules_depth, seed=seg.seed))
    return tuple(steps)


def integer_features(X) -> frozenset:
    """The features whose observed values are all whole numbers (counts, years, flags): their
    thresholds read as whole numbers ("3 or more products", not "> 2.5")."""
    out = []
    for c in X.columns:
        col = X[c]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_integer_dtype(col):
            out.append(c)
        elif pd.api.types.is_float_dtype(col):
            v = col.to_numpy(dtype=np.float64)
            v = v[np.isfinite(v)]
            if v.size and np.all(v == np.round(v)):
                out.append(c)
    return frozenset(out)


def _binary_word(cond, spec, lang: str) -> Optional[str]:
    """A split of a 0/1 feature between 0 and 1 in the dictionary's words for 0 or 1 ("inactive")."""
    if spec is None or not spec.values or cond.op not in ("<=", ">") or not 0.0 < float(cond.threshold) < 1.0:
        return None
    return spec.value_label(0 if cond.op == "<=" else 1, lang)


def condition_text(cond, config, lang: str, sources=None, integers: frozenset = frozenset()) -> str:
    """One rule condition in business words: the dictionary's label, values in its words and unit.

    With ``sources`` (the run's FeatureSources), a split of a 0/1 column that encodes one level
    of a source feature (``Geo_Germany > 0.5``) reads as that feature's level ("Country: Germany",
    at or below the split: "Country not Germany")."""
    spec = config.features.get(cond.feature)
    label = config.label(cond.feature, lang)
    level = _encoded_level(cond, sources)
    if level is not None:
        source, value = level
        values = feature_value(value, lang=lang, spec=config.features.get(source))
        core = text(lang, "rule.in" if cond.op == ">" else "rule.not_in", label=config.label(source, lang),
                    values=values)
    elif (word := _binary_word(cond, spec, lang)) is not None:
        core = text(lang, "rule.in", label=label, values=word)  # "Active member: inactive"
    elif cond.op in ("<=", ">") and cond.feature in integers:
        # a whole-number feature: "<= 2.5" is "2 or fewer", "> 2.5" is "3 or more"
        t = float(cond.threshold)
        whole = math.floor(t) if cond.op == "<=" else math.floor(t) + 1
        value = feature_value(whole, unit=spec.unit if spec is not None else None, lang=lang, spec=None)
        core = text(lang, "rule.int_le" if cond.op == "<=" else "rule.int_ge", label=label, value=value)
    elif cond.op in ("<=", ">"):
        value = feature_value(round3(float(cond.threshold)), unit=spec.unit if spec is not None else None,
                              lang=lang, spec=None)
        core = text(lang, "rule.le" if cond.op == "<=" else "rule.gt", label=label, value=value)
    else:
        values = text(lang, "rule.or").join(feature_value(v, lang=lang, spec=spec) for v in cond.levels)
        core = text(lang, "rule.in" if cond.op == "in" else "rule.not_in", label=label, values=values)
    return text(lang, "rule.or_missing", condition=core) if cond.missing else core


def _encoded_level(cond, sources) -> Optional[tuple[str, str]]:
    """(source feature, level) when ``cond`` splits a column encoding one level between 0 and 1."""
    if sources is None or cond.op not in ("<=", ">") or cond.feature not in sources.columns:
        return None
    i = sources.columns.index(cond.feature)
    level = sources.levels[i]
    if not level or not 0.0 < float(cond.threshold) < 1.0:
        return None
    return sources.sources[sources.source_of[i]], level


def rule_text(rule, config, lang: str, sources=None, integers: frozenset = frozenset()) -> str:
    """A segment rule's conditions in business words, joined by "and" ("every churner" for none)."""
    if not rule.conditions:
        return text(lang, "material.every_churner")
    return text(lang, "rule.and").join(condition_text(c, config, lang, sources, integers) for c in rule.conditions)


def rule_definitions(rules, config, lang: str, sources=None, integers: frozenset = frozenset()) -> dict[str, str]:
    """Every rule's business words by rule id (``integers``: :func:`integer_features` of the run's X)."""
    return {} if rules is None else {r.rule_id: rule_text(r, config, lang, sources, integers) for r in rules.rules}


def lineage_sentence(event, lang: str) -> str:
    """A merge or split of segments (:class:`~churnlens.segmentation.results.LineageEvent`) in
    words: "S1 and S3 merged into S1 ...", "S2 split into S2 and S5 ..."."""
    def joined(keys) -> str:
        keys = list(keys)
        if len(keys) == 1:
            return keys[0]
        return text(lang, "monitoring.lineage.sep").join(keys[:-1]) + text(lang, "monitoring.lineage.and") + keys[-1]

    if event.code == "merged":
        return text(lang, "monitoring.lineage.merged", parts=joined(event.previous), key=event.current[0])
    return text(lang, "monitoring.lineage.split", key=event.previous[0], parts=joined(event.current))


def trait_level(config, feature: str, stat: str, level: str, lang: str, *, integer: bool = False) -> str:
    """A profile row's level in words (``tables/segment_profiles.csv``): value labels, readable
    bands, "median", "missing". ``integer``: the feature takes whole values, so a band
    ``[2, 3)`` is 2 and ``[30, 45)`` is 30–44."""
    spec = config.features.get(feature)
    if stat == "median":
        return text(lang, "traits.median")
    if stat == "missing":
        return text(lang, "reason.missing")
    if stat == "band" and level[:1] in "<[>":
        nums = [float(x) for x in level.strip("<>=[)").split(",")]
        unit = spec.unit if spec is not None else None
        shown = [feature_value(x, unit=unit, lang=lang) for x in nums]
        if level.startswith("<"):
            return text(lang, "traits.band_below", high=shown[0])
        if level.startswith(">="):
            return text(lang, "traits.band_above", low=shown[0])
        if integer and all(x.is_integer() for x in nums):
            last = nums[1] - 1
            if last <= nums[0]:
                return feature_value(nums[0], unit=unit, lang=lang, spec=spec)
            return text(lang, "traits.band_between", low=shown[0], high=feature_value(last, unit=unit, lang=lang))
        return text(lang, "traits.band_between", low=shown[0], high=shown[1])
    if level == "(other)":
        return text(lang, "traits.other_levels")
    value: object = level
    try:
        value = float(level)
    except ValueError:
        pass
    if stat == "share" and level == "1" and spec is not None and not spec.value_label(1, lang):
        return text(lang, "traits.has_trait")
    return feature_value(value, lang=lang, spec=spec)


def claim_text(claim, config, lang: str) -> str:
    """A claim (``churnlens.segmentation.results.Claim``) as the dossier's claims table words it."""

    params = dict(claim.params)
    spec = config.features.get(claim.feature)
    unit = spec.unit if spec is not None else None
    if claim.kind == "segment_name":
        if claim.statement == "segment_name.mixed":
            seg = type("Seg", (), {"segment_id": 0, "key": claim.segment, "name_with_key": False, "name_mixed": True,
                                   "name": tuple(NamePart(f) for f in claim.feature.split("|"))})()
            return text(lang, "claims.name_mixed", name=segment_name(seg, config, lang))
        ranges = params.get("ranges") or (((claim.low, claim.high),) if (claim.low, claim.high) != (None, None) else ())
        levels = tuple(claim.level.split("|")) if claim.level else ()
        part = NamePart(claim.feature, "", levels[0] if len(levels) == 1 else "", levels if len(levels) > 1 else (),
                        tuple(ranges))
        phrase = _name_phrase(part, config, lang)[0] if part.stated else config.label(claim.feature, lang)
        return text(lang, "claims.name_part", phrase=phrase)
    if claim.kind == "set_apart":
        lift = params.get("lift")
        return text(lang, "claims.set_apart", lift=formatting.DASH if lift is None else f"{lift:.1f}x")
    if claim.kind == "risk_zone":
        def g(x: float) -> str:
            return feature_value(round3(float(x)), unit=unit, lang=lang, spec=spec)
        if claim.level:
            zone = text(lang, "drivers.zone_level", level=", ".join(
                feature_value(c, lang=lang, spec=spec) for c in claim.level.split("|")))
        elif params.get("value") is not None:  # the zone holds one value
            zone = text(lang, "drivers.zone_single", low=g(params["value"]))
        elif claim.low is None and claim.high is not None:
            zone = text(lang, "drivers.zone_single" if _end_level(spec, claim.high, True) else "drivers.zone_below",
                        high=g(claim.high), low=g(claim.high))
        elif claim.high is None and claim.low is not None:
            zone = text(lang, "drivers.zone_single" if _end_level(spec, claim.low, False) else "drivers.zone_above",
                        low=g(claim.low))
        elif claim.low is not None and claim.low == claim.high:
            zone = text(lang, "drivers.zone_single", low=g(claim.low))
        else:
            zone = text(lang, "drivers.zone_between", low=g(claim.low), high=g(claim.high))
        return text(lang, "claims.zone", zone=zone)
    if claim.kind == "driver":
        return text(lang, "claims.driver", rank=params.get("rank", ""))
    if claim.kind == "trait":
        stat = claim.statement.split(".", 1)[1]
        trait = text(lang, "reason.line", label=config.label(claim.feature, lang),
                     value=trait_level(config, claim.feature, stat, claim.level, lang))
        if stat == "median":
            return text(lang, "claims.trait_median", trait=trait, d=f"{params.get('d', 0.0):+.2f}")
        return text(lang, "claims.trait_share", trait=trait, book=f"{100 * params.get('book_share', 0.0):.0f}%")
    if claim.kind == "headline":
        key = "claims.headline_named" if claim.statement == "segments.named" else "claims.headline_none"
        return text(lang, key, named=params.get("named", 0), found=params.get("found", 0))
    return claim.statement


def refusals_text(refusals, lang: str) -> str:
    """How ``report.no_personalisation`` was honoured (a :class:`~churnlens.actions.results.Refusals`),
    one sentence for the dossier and the plan page ("" without a list)."""
    if refusals is None:
        return ""
    line = text(lang, "refusals.counted", ids=formatting.num(refusals.ids), n=formatting.num(refusals.churners),
                excluded=formatting.num(refusals.excluded), generic=formatting.num(refusals.generic))
    if refusals.unknown:
        line += text(lang, "refusals.unknown", unknown=formatting.num(refusals.unknown))
    return line
