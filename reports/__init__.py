"""Retention report and explainability dossier (HTML + PDF, English and Simplified Chinese).

The pipeline calls :func:`render_documents` with a :class:`~reports.context.ReportContext`;
``churnlens.reports.charts`` holds one drawing function per chart.
"""

from churnlens.reports import render as _render
from churnlens.reports.render import Timings, render_documents

__all__ = ["render_documents", "AssetFetcher", "Timings"]


def __getattr__(name: str):
    if name == "AssetFetcher":  # made when first asked for: WeasyPrint is imported then (start-up)
        return _render.AssetFetcher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
