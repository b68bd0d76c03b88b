"""``retention_list.xlsx``: the retention list as a workbook a branch manager can open and filter.

One summary sheet (customers, contacts, control group and money per segment, period and
generation time) and one sheet per segment with business headers in the report language
(from the catalogues), number formats (money with the value unit, percentages, dates), a
frozen header row, an autofilter and column widths that count CJK characters as two.
Written with XlsxWriter (extra ``churnlens[xlsx]``), cell by typed cell: customer ids and every
other text are string cells (leading zeros kept), so a value such as ``=HYPERLINK(...)`` can
never become a formula or a link. The file is byte-identical across reruns: the document's
created/modified dates come from ``generated_at`` and XlsxWriter dates every zip entry
1980-01-01. Every word comes from the catalogues through :mod:`churnlens.reports.words`;
``retention_list.csv`` keeps the machine column names and words.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from churnlens.actions.results import RetentionList
from churnlens.reports import words

PCT = "0.0%"
MAX_WIDTH = 60
_SHEET_FORBIDDEN = str.maketrans({c: "_" for c in '[]:*?/\\'})
# XlsxWriter's write() would turn text into formulas, links or numbers: text stays text
_OPTIONS = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


def display_width(value: object) -> int:
    """Characters a cell needs: East Asian wide/full-width characters count as two."""
    value = str(value)
    if value.isascii():
        return len(value)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in value)


def money_format(unit: Optional[str]) -> str:
    """Excel number format for amounts, with the unit when the dictionary gives one (``#,##0.00" CNY"``)."""
    unit = (unit or "").replace('"', "")
    return f'#,##0.00" {unit}"' if unit else "#,##0.00"


def _when(generated_at: str) -> datetime:
    """``generated_at`` as a naive UTC datetime (document times are written as UTC)."""
    try:
        d = datetime.fromisoformat(generated_at.replace("Z", "+00:00"))
    except ValueError:
        d = datetime(1980, 1, 1)
    if d.tzinfo is not None:
        d = d.astimezone(timezone.utc).replace(tzinfo=None)
    return max(d.replace(microsecond=0), datetime(1980, 1, 1))


MONEY_COLUMNS = ("value", "expected_value_at_risk", "cost", "expected_retained")


def _columns(frame: pd.DataFrame, lang: str, unit: Optional[str]) -> list[tuple[str, str, Optional[str]]]:
    """(machine column, header, number format) in list order."""
    out = []
    for col in frame.columns:
        fmt = PCT if col in ("score", "keep_probability") else money_format(unit) if col in MONEY_COLUMNS else \
            "@" if col == "customer_id" else None
        out.append((col, words.list_header(col, lang), fmt))
    return out


def _cells(col: str, s: pd.Series, lang: str) -> tuple[list, bool]:
    """A column's cell values (None for blank) and whether they are numbers (else text)."""
    if col == "control_group":
        shown = {True: words.yes_no(True, lang), False: words.yes_no(False, lang)}
        return [shown[bool(v)] for v in s.tolist()], False
    if col == "customer_id":
        return [str(v) for v in s.tolist()], False
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        return [None if x != x else x for x in v.tolist()], True
    values = s.tolist()
    if col == "channel":
        names = {c: words.channel_name(c, lang) for c in set(values) if isinstance(c, str) and c}
        return [names[v] if isinstance(v, str) and v else _text(v) for v in values], False
    return [_text(v) for v in values], False


def _text(v: object) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


def _width(values: list, numeric: bool) -> int:
    """Widest shown value of a column (numbers as ``1,234.56``; CJK characters count two)."""
    if numeric:
        v = np.array([x for x in values if x is not None], dtype=np.float64)
        if not len(v):
            return 0
        return max(len(f"{x:,.2f}") for x in (v.min(), v.max()))  # widest at an extreme
    return max((display_width(u) for u in set(values)), default=0)


class _Formats:
    """The workbook's cell formats, made once (XlsxWriter shares a format between cells)."""

    def __init__(self, wb) -> None:
        self.wb, self._made = wb, {}

    def __call__(self, num_format: Optional[str] = None, **props):
        key = (num_format, tuple(sorted(props.items())))
        if key not in self._made:
            self._made[key] = self.wb.add_format({**props, **({"num_format": num_format} if num_format else {})})
        return self._made[key]


DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATETIME_WIDTH = len("2026-11-30 08:00") + 2  # Excel shows ### in a date cell narrower than its text


def _print_setup(ws, header_row: int) -> None:
    """Landscape A4, every column on one page width (as many pages down as needed), the table's
    header row repeated on every printed page, and gridlines printed."""
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(header_row)
    ws.hide_gridlines(0)
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    ws.center_horizontally()


def _list_sheet(ws, fmt: _Formats, frame: pd.DataFrame, columns, lang: str) -> None:
    bold = fmt(bold=True)
    for c, (col, header, number_format) in enumerate(columns):
        values, numeric = _cells(col, frame[col], lang)
        ws.set_column(c, c, min(MAX_WIDTH, max(display_width(header), _width(values, numeric), 8) + 2))
        ws.write_string(0, c, header, bold)
        cell_format = fmt(number_format) if number_format else None
        if numeric:
            for r, v in enumerate(values, start=1):
                if v is not None:
                    ws.write_number(r, c, v, cell_format)
        else:
            for r, v in enumerate(values, start=1):
                ws.write_string(r, c, v, cell_format)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(len(frame), 1), len(columns) - 1)
    _print_setup(ws, 0)


def _summary_sheet(ws, fmt: _Formats, frame: pd.DataFrame, lang: str, unit: Optional[str], period: str,
                   when: datetime) -> None:
    money = money_format(unit)
    ws.write_string(0, 0, words.workbook_text("title", lang), fmt(bold=True, font_size=13))
    labels = (words.workbook_text("period", lang), words.workbook_text("generated", lang))
    ws.write_string(1, 0, labels[0])
    ws.write_string(1, 1, period)
    ws.write_string(2, 0, labels[1])
    ws.write_datetime(2, 1, when, fmt(DATETIME_FORMAT))
    top = len(labels) + 2  # 0-based row of the table header
    headers = [("segment", None), ("customers", "#,##0"), ("to_contact", "#,##0"), ("control", "#,##0"),
               ("mean_score", PCT), ("value_sum", money), ("expected_sum", money)]
    widths = {c: display_width(words.workbook_text(h, lang)) for c, (h, _) in enumerate(headers)}
    widths[0] = max(widths[0], *(display_width(x) for x in labels))
    widths[1] = max(widths[1], DATETIME_WIDTH - 2, display_width(period))  # the date and period cells
    bold = fmt(bold=True)
    for c, (h, _) in enumerate(headers):
        ws.write_string(top, c, words.workbook_text(h, lang), bold)
    seg = frame["segment"].astype(str)
    groups = [(k, frame[seg == k]) for k in segment_order(seg)] + [(words.workbook_text("total", lang), frame)]
    for r, (key, g) in enumerate(groups, start=top + 1):
        control = g["control_group"].astype(bool)
        values = [str(key) or words.workbook_text("no_segment", lang), len(g), int((~control).sum()), int(control.sum()),
                  float(g["score"].mean()) if len(g) else None,
                  float(np.nansum(g["value"].to_numpy(dtype=float))),
                  float(np.nansum(g["expected_value_at_risk"].to_numpy(dtype=float)))]
        for c, (v, (_, number_format)) in enumerate(zip(values, headers)):
            if isinstance(v, str):
                ws.write_string(r, c, v)
            elif v is not None:
                ws.write_number(r, c, v, fmt(number_format))
            widths[c] = max(widths[c], display_width(f"{v:,.2f}" if isinstance(v, float) else v))
    for c, w in widths.items():
        ws.set_column(c, c, min(MAX_WIDTH, w + 2))
    ws.freeze_panes(top + 1, 0)
    _print_setup(ws, top)


def segment_order(segment: pd.Series) -> list[str]:
    """Segment keys in the report's order (S1, S2, ..., S10, then other keys such as MIX by text),
    customers without a segment last."""
    def order(k: str) -> tuple:
        return (2, 0, "") if k == "" else (0, int(k[1:]), "") if k[:1] == "S" and k[1:].isdigit() else (1, 0, k)

    return sorted(segment.unique().tolist(), key=order)


def sheet_names(keys: Sequence[str], reserved: str) -> list[str]:
    """Valid, unique Excel sheet names (<= 31 characters, no ``[]:*?/\\``) for segment keys."""
    used, out = {reserved.lower()}, []
    for key in keys:
        base = (str(key).translate(_SHEET_FORBIDDEN).strip("'") or "_")[:31]
        name, k = base, 2
        while name.lower() in used:
            suffix = f" ({k})"
            name, k = base[: 31 - len(suffix)] + suffix, k + 1
        used.add(name.lower())
        out.append(name)
    return out


def write_retention_workbook(path: str | Path, retention: RetentionList, *, lang: str = "en",
                             unit: Optional[str] = None, period: str = "", generated_at: str = "") -> Path:
    """Write ``retention_list.xlsx`` (summary sheet + one sheet per segment).

    Parameters
    ----------
    retention : RetentionList
        ``frame`` with the machine columns of ``retention_list.csv``.
    lang : {"en", "zh"}
        Language of headers, sheet titles, channel names and yes/no flags.
    unit : str, optional
        Unit of the value column (the dictionary's ``unit``, e.g. "CNY") shown in money cells.
    period, generated_at : str
        Shown on the summary sheet; ``generated_at`` (ISO 8601) also dates the document.
    """
    import xlsxwriter

    path = Path(path)
    when = _when(generated_at)
    frame = retention.frame
    wb = xlsxwriter.Workbook(str(path), _OPTIONS)
    wb.set_properties({"author": "churnlens", "created": when})
    fmt = _Formats(wb)
    summary_title = words.workbook_text("summary_sheet", lang)
    _summary_sheet(wb.add_worksheet(summary_title), fmt, frame, lang, unit, period, when)
    columns = _columns(frame, lang, unit)
    seg = frame["segment"].astype(str)
    keys = segment_order(seg)
    for key, name in zip(keys, sheet_names([k or words.workbook_text("no_segment", lang) for k in keys], summary_title)):
        _list_sheet(wb.add_worksheet(name), fmt, frame[seg == key], columns, lang)
    wb.close()
    return path
