"""Output of ``churnlens evaluate``: champion/challenger comparison as CSV, JSON and one
self-contained HTML page with each model's ROC, KS and lift charts.

Draws and formats result objects from :mod:`churnlens.evaluation.quality`; computes nothing.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from churnlens.evaluation.results import ModelComparison, ModelQuality
from churnlens.reports import charts
from churnlens.reports.render import make_environment
from churnlens.reports.sections.base import Timings, draw_chart as _chart


class _View:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def write_evaluation(out_dir: Path, comparison: ModelComparison, qualities: Sequence[ModelQuality],
                     names: Sequence[str], *, lang: str = "en", generated_at: str = "") -> tuple[Path, ...]:
    """Write ``comparison.csv``, ``comparison.json`` and ``evaluation.html`` into ``out_dir``.

    Parameters
    ----------
    comparison : ModelComparison
        Rows champion first.
    qualities, names : sequences of equal length
        Each model's :class:`ModelQuality`, in the order the models were given.
    """
    out_dir = Path(out_dir)
    csv_path = out_dir / "comparison.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "sha256", "top_decile_lift", "auc", "ks", "champion"])
        for r in comparison.rows:
            w.writerow([r.model, r.sha256, f"{r.top_decile_lift:.6f}",
                        "" if r.auc is None else f"{r.auc:.6f}", "" if r.ks is None else f"{r.ks:.6f}", int(r.champion)])
    json_path = out_dir / "comparison.json"
    json_path.write_text(json.dumps({"generated_at": generated_at, "rows": [asdict(r) for r in comparison.rows],
                                     "verdict_en": comparison.verdict_en, "verdict_zh": comparison.verdict_zh},
                                    indent=2, ensure_ascii=False), encoding="utf-8")
    timings = Timings()
    models = []
    for name, q in zip(names, qualities):
        models.append(_View(
            name=name, quality=q,
            roc=_chart(timings, f"roc {name}", lang, lambda ax, q=q: charts.plot_roc(q, ax=ax, lang=lang), (3.1, 2.8)),
            ks=_chart(timings, f"ks {name}", lang, lambda ax, q=q: charts.plot_ks(q, ax=ax, lang=lang), (3.1, 2.8)),
            gains=_chart(timings, f"gains {name}", lang, lambda ax, q=q: charts.plot_gains(q, ax=ax, lang=lang),
                         (3.1, 2.8)),
        ))
    env = make_environment(lang)
    view = _View(lang=lang, accent="#0072B2", institution="", period=generated_at[:10], generated_at=generated_at,
                 rows=comparison.rows, verdict=comparison.verdict_zh if lang == "zh" else comparison.verdict_en,
                 models=models)
    css = env.get_template("base.css").render(v=view, font_url="", for_pdf=False, doc_title="churnlens evaluate")
    html = env.get_template("evaluation.html").render(v=view, css=css, for_pdf=False)
    html_path = out_dir / "evaluation.html"
    html_path.write_text(html, encoding="utf-8")
    return csv_path, json_path, html_path
