"""Output of ``churnlens evaluate``: champion/challenger comparison with evidence as CSV, JSON
and one self-contained page (HTML and PDF) with every metric's interval, DeLong's test against
the champion, and each model's ROC, KS, lift, confusion matrix, calibration and Brier score.

Draws and formats result objects from :mod:`churnlens.evaluation`; computes nothing. The CSV
and JSON are machine-readable: codes and numbers, the same whatever ``lang``.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from churnlens.evaluation.results import EvidenceComparison, ModelQuality
from churnlens.reports import charts, words
from churnlens.reports.catalogue import text
from churnlens.reports.render import make_environment, render_html, write_pdf
from churnlens.reports.sections.base import Timings, draw_chart
from churnlens.reports.sections.performance import ConfusionRow, PerformanceBody

CSV_COLUMNS = ("model", "sha256", "top_decile_lift", "auc", "ks", "champion", "rank_by", "rank_value", "auc_low",
               "auc_high", "ks_low", "ks_high", "brier", "brier_low", "brier_high", "lift_at_k", "lift_at_k_low",
               "lift_at_k_high", "expected_net_value", "expected_net_value_low", "expected_net_value_high",
               "delong_auc_difference", "delong_p_value", "champion_significantly_better")


@dataclass(frozen=True)
class EvaluationView:
    """What ``evaluation.html`` shows (``v``); ``kind``/``title`` let it use the documents' CSS."""

    lang: str
    kind: str
    title: str
    accent: str
    institution: str
    period: str
    generated_at: str
    keep: bool
    comparison: EvidenceComparison
    verdict: str
    rank_rule: str
    models: tuple  # (name, PerformanceBody) in the order given


def _body(q: ModelQuality, name: str, lang: str, timings: Timings) -> PerformanceBody:
    def chart(kind, fn):
        return draw_chart(timings, f"{kind} {name}", lang, lambda ax: fn(q, ax=ax, lang=lang), (3.2, 2.7))

    return PerformanceBody(
        n=q.n, n_churners=q.n_churners, auc=q.auc, ks=q.ks, ks_threshold=q.ks_threshold, brier=q.brier,
        note=words.notes_text(q.notes, lang), deciles=tuple(q.deciles), calibration=tuple(q.calibration),
        confusion=tuple(ConfusionRow(words.note_text(c.rule, lang), c.tp, c.fp, c.fn, c.tn, c.precision, c.recall,
                                     c.threshold) for c in q.confusion),
        roc=chart("roc", charts.plot_roc), ks_uri=chart("ks", charts.plot_ks), gains=chart("gains", charts.plot_gains),
        calib=chart("calibration", charts.plot_calibration),
        basis=(), warnings=())  # the comparison page states what every model was measured on


def _f(x) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.6f}"


def _csv_row(r, cmp: EvidenceComparison, q: ModelQuality) -> list:
    t = r.vs_champion
    return [r.model, r.sha256, _f(q.deciles[0].lift if q.deciles else None), _f(q.auc), _f(q.ks), int(r.champion),
            cmp.rank_by, _f(r.rank_value), _f(r.auc.low), _f(r.auc.high), _f(r.ks.low), _f(r.ks.high),
            _f(r.brier.value), _f(r.brier.low), _f(r.brier.high), _f(r.lift_at_k.value), _f(r.lift_at_k.low),
            _f(r.lift_at_k.high), _f(r.expected_net_value.value), _f(r.expected_net_value.low),
            _f(r.expected_net_value.high), "" if t is None else _f(t.difference), "" if t is None else _f(t.p_value),
            "" if r.significant is None else int(r.significant)]


def _json_safe(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_json_safe(v) for v in o]
    return o


def write_evaluation(out_dir: Path, comparison: EvidenceComparison, qualities: Sequence[ModelQuality],
                     names: Sequence[str], *, lang: str = "en", generated_at: str = "",
                     formats: tuple[str, ...] = ("html", "pdf")) -> tuple[Path, ...]:
    """Write ``comparison.csv``, ``comparison.json``, ``evaluation.html`` and ``evaluation.pdf``.

    Parameters
    ----------
    comparison : EvidenceComparison
        Rows champion first.
    qualities, names : sequences of equal length
        Each model's :class:`ModelQuality`, in the order the models were given.
    formats : tuple of {"html", "pdf"}
    """
    out_dir = Path(out_dir)
    by_name = dict(zip(names, qualities))
    csv_path = out_dir / "comparison.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for r in comparison.rows:
            w.writerow(_csv_row(r, comparison, by_name[r.model]))
    doc = asdict(comparison)
    verdict = doc.pop("verdict")
    doc["verdict_code"] = verdict["code"]
    json_path = out_dir / "comparison.json"
    json_path.write_text(json.dumps(_json_safe({"generated_at": generated_at, **doc}), indent=2, ensure_ascii=False),
                         encoding="utf-8")
    timings = Timings()
    metric = text(lang, f"note.evaluate.metric.{comparison.rank_by}", k=comparison.k)
    view = EvaluationView(
        lang=lang, kind="evaluation", title=text(lang, "evaluate.title"), accent="#0072B2", institution="",
        period=generated_at[:10], generated_at=generated_at, keep=False, comparison=comparison,
        verdict=words.comparison_verdict(comparison, lang),
        rank_rule=text(lang, "evaluate.rank_rule", metric=metric, level=comparison.level),
        models=tuple((n, _body(q, n, lang, timings)) for n, q in zip(names, qualities)))
    env = make_environment(lang)
    written = [csv_path, json_path]
    if "html" in formats:
        p = out_dir / "evaluation.html"
        p.write_text(render_html(view, env, for_pdf=False), encoding="utf-8")
        written.append(p)
    if "pdf" in formats:
        p = out_dir / "evaluation.pdf"
        write_pdf(render_html(view, env, for_pdf=True), p)
        written.append(p)
    return tuple(written)
