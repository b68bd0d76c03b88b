"""Render both documents (retention report, explainability dossier) as HTML and PDF.

:func:`render_documents` builds each document's sections from the registry
(:mod:`churnlens.reports.sections`: one frozen view per section, charts drawn once), renders
the Jinja templates with autoescaping and ``StrictUndefined``, and prints the PDFs with
WeasyPrint through :class:`AssetFetcher`, which serves only ``data:`` URIs and the bundled
CJK font file."""

from __future__ import annotations

import functools
import re
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlsplit

from churnlens import constants
from churnlens.io.logo import logo_data_uri  # noqa: F401  (re-exported)
from churnlens.errors import ConfigError, UserInputError
from churnlens.io.parallel import beside
from churnlens.reports import formatting
from churnlens.reports.catalogue import LANGS, text
from churnlens.reports.context import ReportContext
from churnlens.reports.fonts import cjk_font_path
from churnlens.reports.sections import DOCUMENTS, Kit, Placed, TocEntry, assemble
from churnlens.reports.sections.base import ChartImage, Timings
from churnlens.reports.words import attributed_text

__all__ = ["AssetFetcher", "ChartImage", "DocumentView", "Timings", "attributed_text", "build_documents",
           "logo_data_uri", "make_environment", "render_documents", "render_html", "write_pdf"]

FORMATS = ("html", "pdf")
TEMPLATES = Path(__file__).resolve().parent / "templates"


# --- URL fetcher --------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _asset_fetcher():
    """:class:`AssetFetcher`, made on first use: WeasyPrint is imported when a PDF is printed,
    not when churnlens starts."""
    from weasyprint.urls import URLFetcher

    class AssetFetcher(URLFetcher):
        """WeasyPrint URL fetcher serving only the report's own assets.

        Allowed: ``data:`` URIs and ``file://`` URLs of exactly the given files (the bundled
        font). Everything else -- other local files, ``http(s)://``, ``ftp://`` -- is refused,
        so neither a crafted label nor a logo SVG can read the disk or reach the network.
        """

        def __init__(self, allowed_files: tuple[Path, ...] = ()):
            super().__init__(allowed_protocols=("data", "file"), allow_redirects=False)
            self._allowed = frozenset(str(Path(p).resolve()) for p in allowed_files)
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            scheme = url.split(":", 1)[0].lower() if ":" in url else ""
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file":
                parts = urlsplit(url)
                path = Path(unquote(parts.path))
                if parts.netloc in ("", "localhost") and str(path.resolve()) in self._allowed and path.is_file():
                    return super().fetch(url, headers)
            self.refused.append(url)
            raise ValueError(f"churnlens documents may only use their own embedded assets; refused {url!r}")

    AssetFetcher.__module__ = __name__
    AssetFetcher.__qualname__ = "AssetFetcher"
    return AssetFetcher


def __getattr__(name: str):
    if name == "AssetFetcher":  # PEP 562: the class exists once WeasyPrint is imported
        return _asset_fetcher()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- logo ---------------------------------------------------------------------------------

def _logo(ctx: ReportContext) -> Optional[str]:
    logo = ctx.config.report.logo
    if not logo:
        return None
    path = Path(logo)
    if not path.is_absolute():
        cfg = [f for f in ctx.facts.inputs if f.role == "config"]
        if cfg:
            path = Path(cfg[0].path).parent / path
    return logo_data_uri(path)


# --- documents ----------------------------------------------------------------------------

@dataclass(frozen=True)
class DocumentView:
    """One document as the templates see it (``v``): its cover facts, contents and sections."""

    lang: str
    kind: str  # "report" | "dossier"
    title: str
    institution: str
    period: str
    generated_at: str
    model_family: str
    model_file: str
    logo: Optional[str]
    accent: str
    toc: tuple[TocEntry, ...]
    sections: tuple[Placed, ...]


def build_documents(ctx: ReportContext, timings: Timings) -> dict[str, DocumentView]:
    """Both documents' views, section by section from the registry (charts drawn once)."""
    kit = Kit(ctx, timings)
    logo = _logo(ctx)
    report_title = ctx.facts.title or text(ctx.lang, "report.default_title")
    out = {}
    for doc, registered in DOCUMENTS.items():
        placed, toc = assemble(registered, ctx, kit)
        out[doc] = DocumentView(
            lang=ctx.lang, kind=doc, title=report_title if doc == "report" else text(ctx.lang, "dossier.title"),
            institution=ctx.facts.institution, period=ctx.facts.period, generated_at=ctx.facts.generated_at,
            model_family=ctx.facts.model.family, model_file=Path(ctx.facts.model.path).name, logo=logo,
            accent=ctx.config.report.accent, toc=toc, sections=placed)
    return out


# --- Jinja --------------------------------------------------------------------------------

def _unit(spec, lang: str) -> str:
    """A feature's unit in ``lang`` (a plain string, or a bilingual {en, zh})."""
    unit = None if spec is None else spec.unit
    return "" if unit is None else unit if isinstance(unit, str) else unit.get(lang)


def _bytecode_cache():
    """One in-memory Jinja bytecode cache for the process: the templates are compiled once, not
    once per environment (per document set and language). Every environment of
    :func:`make_environment` has the same options, so the compiled code is the same."""
    global _BYTECODE
    if _BYTECODE is None:
        from jinja2 import BytecodeCache

        class _Memory(BytecodeCache):
            def __init__(self):
                self._code: dict[tuple[str, str], bytes] = {}

            def load_bytecode(self, bucket):
                code = self._code.get((bucket.key, bucket.checksum))
                if code is not None:
                    bucket.bytecode_from_string(code)

            def dump_bytecode(self, bucket):
                self._code[(bucket.key, bucket.checksum)] = bucket.bytecode_to_string()

        _BYTECODE = _Memory()
    return _BYTECODE


_BYTECODE = None


def make_environment(lang: str, *, mask_ids: bool = True, money_unit: str = "", value_label: str = ""):
    """The Jinja environment: autoescaping, StrictUndefined, the catalogue and the filters.

    ``money_unit`` (the value column's ``unit``, e.g. EUR) follows every amount; ``value_label``
    (the value column's business label) is what "value" means in captions.
    """
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape

    @pass_context
    def src(context, chart: ChartImage) -> str:
        """The ``data:`` URI of a chart for the medium being rendered (HTML or PDF)."""
        return chart.uri(bool(context["for_pdf"]))

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html", "css"), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_bytecode_cache(),
    )
    env.globals["t"] = lambda key, /, **kw: text(lang, key, **kw)
    env.globals["limits"] = constants  # thresholds quoted in texts, from their one place
    env.globals["value_label"] = value_label or text(lang, "summary.customer_value")
    env.filters.update(
        num=formatting.num,
        money=lambda x: formatting.money(x, lang, unit=money_unit),
        pct=formatting.pct,
        pp=formatting.pp,
        pvalue=formatting.pvalue,
        signed=formatting.signed,
        fixed=formatting.fixed,
        sci=formatting.sci,
        date=lambda s: formatting.date(s, lang),
        masked=lambda s: formatting.masked(s, mask_ids),
        css_string=formatting.css_string,
        src=src,
    )
    return env


def _font_face() -> tuple[str, tuple[Path, ...]]:
    path = cjk_font_path()
    if path is None:  # pragma: no cover - the font package is a dependency
        return "", ()
    return path.as_uri(), (path,)


_HEADER = re.compile(r"(<th\b[^>]*>)([^<]+)(</th>)")


def _unbroken_words(m: re.Match) -> str:
    words = m.group(2).split(" ")
    return m.group(1) + " ".join(f'<span class="nw">{w}</span>' if w else w for w in words) + m.group(3)


def keep_header_words(html: str) -> str:
    """Chinese table headers break only at their spaces: each space-separated part of a plain
    header is put in a ``nw`` (no-wrap) span. A line may otherwise break between any two Han
    characters ("需联/系"), and WeasyPrint has no ``word-break: keep-all``; without any break a
    table of many columns runs off the page. The header text is already escaped: only spans
    are added."""
    return _HEADER.sub(_unbroken_words, html)


def render_html(view: DocumentView, env, *, for_pdf: bool) -> str:
    return render_page(view, env, f"{view.kind}.html", for_pdf=for_pdf)


def render_page(view, env, template: str, *, for_pdf: bool) -> str:
    """``template`` rendered with ``view`` as ``v`` and the documents' stylesheet (``base.css``:
    the view gives ``lang``, ``accent``, ``title``, ``period`` and ``institution``)."""
    from markupsafe import Markup

    font_url, _ = _font_face()
    font_url = Markup(font_url.replace('"', "%22"))  # a file:// URI of the bundled font, quoted in CSS
    css = env.get_template("base.css").render(v=view, font_url=font_url if for_pdf else "", for_pdf=for_pdf,
                                              doc_title=view.title)
    html = env.get_template(template).render(v=view, css=css, for_pdf=for_pdf)
    return keep_header_words(html) if view.lang == "zh" else html


def write_pdf(html: str, path: Path, *, created: str = "", identifier: Optional[bytes] = None) -> AssetFetcher:
    """Print ``html`` to ``path`` with WeasyPrint; returns the fetcher (its ``refused`` URLs).

    ``created`` (ISO 8601, the run's ``generated_at``) becomes the PDF's creation and
    modification dates, so the same inputs give the same bytes. ``identifier`` is the first
    element of the PDF's ``/ID`` (churnlens's marker on a file the output guard may replace)."""
    from weasyprint import HTML

    _, fonts = _font_face()
    fetcher = _asset_fetcher()(fonts)
    document = HTML(string=html, url_fetcher=fetcher, base_url=None).render()
    if created:
        document.metadata.created = document.metadata.modified = created
    document.write_pdf(str(path), **({"pdf_identifier": identifier} if identifier else {}))
    return fetcher


def render_documents(context: ReportContext, out_dir: Path, *, formats: tuple[str, ...] = ("html", "pdf"),
                     timings: Optional[Timings] = None, parallel: bool = True) -> tuple[Path, ...]:
    """Write ``report.*`` and ``dossier.*`` in the requested formats into ``out_dir``.

    Parameters
    ----------
    context : ReportContext
        Everything shown; ``context.lang`` picks the language ("en" or "zh").
    out_dir : Path
        Existing folder (the pipeline's staging folder).
    formats : tuple of str
        Subset of ``("html", "pdf")``.
    timings : Timings, optional
        Filled with per-chart and per-document seconds when given.
    parallel : bool
        Print the first document's PDF in a forked process beside the rest (same bytes;
        see :mod:`churnlens.io.parallel` for when it falls back to serial).

    Returns
    -------
    tuple of Path
        The files written, in the order report.html, report.pdf, dossier.html, dossier.pdf.
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UserInputError(f"formats: {','.join(formats)!s} has unsupported format(s) {bad}; expected a "
                             f"non-empty subset of {', '.join(FORMATS)}.", argument="formats")
    if context.lang not in LANGS:
        raise UserInputError(f"lang: {context.lang!r} is not supported; expected one of {', '.join(LANGS)}.",
                             argument="lang")
    out_dir = Path(out_dir)
    timings = timings if timings is not None else Timings()
    views = build_documents(context, timings)
    cfg = context.config
    value_spec = cfg.features.get(cfg.value_column) if cfg.value_column else None
    env = make_environment(context.lang, mask_ids=cfg.report.mask_ids and not cfg.report.hash_ids,
                           money_unit=_unit(value_spec, context.lang),
                           value_label=cfg.label(cfg.value_column, context.lang) if cfg.value_column else "")
    created = context.facts.generated_at

    def pdf(doc: str) -> None:
        write_pdf(render_html(views[doc], env, for_pdf=True), out_dir / f"{doc}.pdf", created=created)

    # The report's PDF is printed in a second process while this one writes the rest.
    first = next(iter(views))
    if "pdf" in formats:  # WeasyPrint imported and the templates compiled once, before the fork
        _asset_fetcher()
        for name in ("base.css", *(f"{doc}.html" for doc in views),
                     *env.list_templates(filter_func=lambda n: n.startswith("sections/"))):
            env.get_template(name)
    t0 = time.perf_counter()
    with beside(lambda: pdf(first), parallel=parallel) if "pdf" in formats else nullcontext():
        for doc in views:
            if "html" in formats:
                t1 = time.perf_counter()
                (out_dir / f"{doc}.html").write_text(render_html(views[doc], env, for_pdf=False), encoding="utf-8")
                timings.documents.append((f"{doc}.html", time.perf_counter() - t1))
            if "pdf" in formats and doc != first:
                t1 = time.perf_counter()
                pdf(doc)
                timings.documents.append((f"{doc}.pdf", time.perf_counter() - t1))
    if "pdf" in formats:
        timings.documents.append((f"{first}.pdf", time.perf_counter() - t0))  # wall time, incl. the rest
    return tuple(out_dir / f"{doc}.{fmt}" for doc in views for fmt in FORMATS if fmt in formats)
