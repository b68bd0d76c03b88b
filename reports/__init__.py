"""Retention report and explainability dossier (HTML + PDF, English and Simplified Chinese).

The pipeline calls :func:`render_documents` with a :class:`~reports.context.ReportContext`;
``churnlens.reports.charts`` holds one drawing function per chart.
"""

from churnlens.reports.render import AssetFetcher, Timings, render_documents

__all__ = ["render_documents", "AssetFetcher", "Timings"]
