"""One customer's explanation on request (``churnlens customer``): a one-page document in both
languages (the first language given first) from one customer's rows of a report folder.

:class:`CustomerRecord` is what :mod:`churnlens.run.customer` read for that customer (nothing
of any other customer); :func:`build_explanation` words it from the catalogues and
:func:`render_explanation` writes the HTML or PDF. Every text comes from ``reports/i18n``; the
list's own words (reasons, what would keep the customer, the action) come from the folder's
``explanations.parquet``, written in every language by the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from churnlens.config import Config
from churnlens.reports import formatting, words
from churnlens.reports.catalogue import LANGS, text
from churnlens.reports.render import make_environment, render_page, write_pdf


@dataclass(frozen=True)
class Fingerprints:
    """The month the explanation explains, from the folder's ``manifest.json``."""

    folder: str
    period: str
    generated_at: str
    churnlens_version: str
    model_file: str
    model_family: str
    model_sha256: str
    data_sha256: str
    data_rows: Optional[int]
    config_sha256: str
    manifest_sha256: str


@dataclass(frozen=True)
class CustomerRecord:
    """One customer's numbers and the list's words about them, as read from a report folder.

    ``words`` maps a language to the list's columns in it (``driver_1``, ``protective_1``,
    ``action``, ``keep_change`` ...); empty when the customer is not on the list.
    ``unlisted_reasons`` are (feature, probability points) of the customer's largest risk-raising
    attributions when the customer is not on the list but was attributed (the population sample).
    """

    customer_id: str
    score: float
    threshold: Optional[float]  # the churner threshold (churners.by: score), else None
    listed: bool
    control: bool
    generic: bool  # listed with the generic action (refused personalised marketing)
    segment: str
    channel: str
    value: float
    features: tuple[str, ...]  # the model's source features: the data used
    words: Mapping[str, Mapping[str, str]]
    unlisted_reasons: tuple[tuple[str, float], ...]
    attributed: bool
    config: Config
    fingerprints: Fingerprints


@dataclass(frozen=True)
class Part:
    """The explanation in one language."""

    lang: str
    heading: str
    intro: str
    status: tuple[str, ...]
    data_title: str
    data: tuple[str, ...]  # per group: "Customer: Age, Region, ..."
    data_note: str
    reasons_title: str
    reasons_intro: str
    reasons: tuple[str, ...]
    protective: str  # "What lowered it: ..." ("" when nothing did)
    change_title: str
    change: str
    action_title: str
    action: str
    refuse_title: str
    refuse: str


@dataclass(frozen=True)
class ExplanationView:
    """The page (``v``): one part per language, the first language first."""

    lang: str  # the first language (fonts: a Chinese part needs the CJK font in any case)
    kind: str
    title: str
    institution: str
    period: str
    accent: str
    parts: tuple[Part, ...]
    trace_title: str  # in every language, " / "-joined
    trace: tuple[tuple[str, str], ...]  # (label in every language, value)


def _columns(row: Mapping[str, str], stem: str) -> tuple[str, ...]:
    keys = sorted((k for k in row if k.rpartition("_")[0] == stem and k.rpartition("_")[2].isdigit()),
                  key=lambda k: int(k.rpartition("_")[2]))
    return tuple(row[k] for k in keys if row[k])


def _part(r: CustomerRecord, lang: str) -> Part:
    config, fp = r.config, r.fingerprints
    t = lambda key, **kw: text(lang, key, **kw)  # noqa: E731
    row = r.words.get(lang, {})
    status = [t("customer.probability", p=formatting.pct(r.score, 0))
              + (t("customer.threshold", t=formatting.pct(r.threshold, 0)) if r.threshold is not None else "")]
    if r.control:
        status.append(t("customer.control"))
    elif r.listed:
        status.append(t("customer.listed", segment=" ".join(s for s in (r.segment, row.get("segment_name", "")) if s)))
    else:
        status.append(t("customer.not_listed"))
    groups: dict[str, list[str]] = {}
    for f in r.features:
        groups.setdefault(config.group(f), []).append(config.label(f, lang))
    data = tuple(t("customer.group_line", group=t(f"group.{g}"), labels=t("meta.sep_list").join(labels))
                 for g, labels in groups.items())
    protected = [config.label(f, lang) for f in r.features if config.excluded_cause(f) == "protected"]
    data_note = t("customer.protected_note", features=t("meta.sep_list").join(protected)) if protected else ""
    if r.listed:
        reasons, protective = _columns(row, "driver"), _columns(row, "protective")
    else:
        reasons = tuple(text(lang, "reason.sized", line=config.label(f, lang), pp=words.points(pp))
                        for f, pp in r.unlisted_reasons)
        protective = ()
    if not reasons:
        reasons_intro = t("customer.reasons_not_attributed") if not r.attributed else t(
            "customer.no_reasons", min=formatting.num(config.reasons.min_contribution_pp, 1))
    else:
        reasons_intro = t("customer.reasons_intro")
    if r.generic:
        change = t("customer.change_refused")
    elif not r.listed:
        change = t("customer.change_not_computed")
    elif row.get("keep_change"):
        change = row["keep_change"] + (t("customer.change_by", action=row["keep_action"]) if row.get("keep_action") else "")
    else:
        change = t("customer.change_none")
    if r.listed and not r.control and row.get("action"):
        action = t("customer.action", action=row["action"], channel=words.channel_name(r.channel, lang))
    elif r.control:
        action = t("customer.action_control")
    else:
        action = t("customer.no_action")
    refuse = config.report.refusal_contact.get(lang) if config.report.refusal_contact else t("customer.refuse_default")
    return Part(
        lang=lang, heading=t("customer.heading"),
        intro=t("customer.intro", customer=r.customer_id, period=fp.period),
        status=tuple(status), data_title=t("customer.data_title"), data=data, data_note=data_note,
        reasons_title=t("customer.reasons_title"), reasons_intro=reasons_intro, reasons=reasons,
        protective=t("customer.protective", factors=t("meta.sep_items").join(protective)) if protective else "",
        change_title=t("customer.change_title"), change=change, action_title=t("customer.action_title"),
        action=action, refuse_title=t("customer.refuse_title"), refuse=refuse)


def _trace(fp: Fingerprints, order: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The month's fingerprints, labels in every language of ``order`` (empty values left out)."""
    rows = "" if fp.data_rows is None else formatting.num(fp.data_rows)
    items = (("f_period", {}, fp.period), ("f_generated", {}, fp.generated_at), ("f_folder", {}, fp.folder),
             ("f_model", {}, f"{fp.model_file} ({fp.model_family})"), ("f_model_sha", {}, fp.model_sha256),
             ("f_data_sha", {"rows": rows}, fp.data_sha256), ("f_config_sha", {}, fp.config_sha256),
             ("f_manifest_sha", {}, fp.manifest_sha256), ("f_version", {}, fp.churnlens_version))
    return tuple((" / ".join(text(x, f"customer.{key}", **kw) for x in order), value)
                 for key, kw, value in items if value)


def build_explanation(record: CustomerRecord, lang: str = "en") -> ExplanationView:
    """The bilingual page: ``lang`` first, then the other language(s)."""
    order = (lang,) + tuple(x for x in LANGS if x != lang)
    config = record.config
    return ExplanationView(
        lang="zh" if "zh" in order else lang, kind="customer",
        title=" / ".join(text(x, "customer.heading") for x in order),
        institution=" / ".join(dict.fromkeys(s for x in order if (s := config.report.institution.get(x)))),
        period=record.fingerprints.period, accent=config.report.accent,
        parts=tuple(_part(record, x) for x in order),
        trace_title=" / ".join(text(x, "customer.trace_title") for x in order), trace=_trace(record.fingerprints, order))


def render_explanation(record: CustomerRecord, path: Path, *, lang: str = "en", marker: bytes = b"",
                       fmt: Optional[str] = None) -> Path:
    """Write the page to ``path`` as ``fmt`` ("pdf" or "html"; default from the suffix: PDF for
    ``.pdf``, else HTML). ``marker`` marks the file as churnlens's (HTML
    ``<meta name="generator">``; PDF ``/ID``)."""
    view = build_explanation(record, lang)
    env = make_environment(lang, mask_ids=False)
    env.globals["marker"] = marker.decode()
    path = Path(path)
    if (fmt or path.suffix.lower().lstrip(".")) == "pdf":
        write_pdf(render_page(view, env, "customer.html", for_pdf=True), path,
                  created=record.fingerprints.generated_at, identifier=marker or None)
    else:
        path.write_text(render_page(view, env, "customer.html", for_pdf=False), encoding="utf-8")
    return path
