"""``retention_list.xlsx``: the retention list as a workbook a branch manager can open and filter.

One summary sheet (customers, contacts, control group and money per segment, period and
generation time) and one sheet per segment with business headers in the report language
(from the catalogues), number formats (money with the value unit, percentages, dates), a
frozen header row, an autofilter and column widths that count CJK characters as two.
Customer ids are text cells (leading zeros kept) and every text cell is stored as a string,
so a value such as ``=HYPERLINK(...)`` can never become a formula. The file is byte-identical
across reruns: document properties and zip entry times come from ``generated_at``.
Every word comes from the catalogues through :mod:`churnlens.reports.words`;
``retention_list.csv`` keeps the machine column names and words.
"""

from __future__ import annotations

import unicodedata
import zipfile
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


def display_width(value: object) -> int:
    """Characters a cell needs: East Asian wide/full-width characters count as two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in str(value))


def money_format(unit: Optional[str]) -> str:
    """Excel number format for amounts, with the unit when the dictionary gives one (``#,##0.00" CNY"``)."""
    unit = (unit or "").replace('"', "")
    return f'#,##0.00" {unit}"' if unit else "#,##0.00"


def _when(generated_at: str) -> datetime:
    """``generated_at`` as a naive UTC datetime (openpyxl writes document times as UTC)."""
    try:
        d = datetime.fromisoformat(generated_at.replace("Z", "+00:00"))
    except ValueError:
        d = datetime(1980, 1, 1)
    if d.tzinfo is not None:
        d = d.astimezone(timezone.utc).replace(tzinfo=None)
    return max(d.replace(microsecond=0), datetime(1980, 1, 1))  # zip times start in 1980


MONEY_COLUMNS = ("value", "expected_value_at_risk", "cost", "expected_retained")


def _columns(frame: pd.DataFrame, lang: str, unit: Optional[str]) -> list[tuple[str, str, Optional[str]]]:
    """(machine column, header, number format) in list order."""
    out = []
    for col in frame.columns:
        fmt = PCT if col == "score" else money_format(unit) if col in MONEY_COLUMNS else \
            "@" if col == "customer_id" else None
        out.append((col, words.list_header(col, lang), fmt))
    return out


def _cell_value(col: str, v: object, lang: str) -> object:
    if col == "control_group":
        return words.yes_no(bool(v), lang)
    if col == "channel" and isinstance(v, str) and v:
        return words.channel_name(v, lang)
    if col == "customer_id":
        return str(v)
    if isinstance(v, (float, np.floating)) and np.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else ("" if v is None else str(v))


def _put(ws, row: int, column: int, value: object, number_format: Optional[str] = None):
    cell = ws.cell(row=row, column=column, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever the text starts with
    if number_format:
        cell.number_format = number_format
    return cell


def _finish(ws, widths: dict[int, int], n_rows: int, n_cols: int) -> None:
    """Frozen header, autofilter over the table, bold header, column widths."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    for c in range(1, n_cols + 1):
        ws.cell(row=1, column=c).font = Font(bold=True)
        ws.column_dimensions[get_column_letter(c)].width = min(MAX_WIDTH, widths.get(c, 8) + 2)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(n_cols)}{max(n_rows + 1, 2)}"


def _list_sheet(ws, frame: pd.DataFrame, columns, lang: str) -> None:
    widths: dict[int, int] = {}
    for c, (_, header, _) in enumerate(columns, start=1):
        _put(ws, 1, c, header)
        widths[c] = display_width(header)
    for r, row in enumerate(frame.itertuples(index=False), start=2):
        for c, ((col, _, fmt), v) in enumerate(zip(columns, row), start=1):
            value = _cell_value(col, v, lang)
            _put(ws, r, c, value, fmt)
            if value is not None:
                shown = f"{value:,.2f}" if isinstance(value, float) else value
                widths[c] = max(widths[c], display_width(shown))
    _finish(ws, widths, len(frame), len(columns))


def _summary_sheet(ws, frame: pd.DataFrame, lang: str, unit: Optional[str], period: str, when: datetime) -> None:
    money = money_format(unit)
    _put(ws, 1, 1, words.workbook_text("title", lang))
    rows: list[tuple[str, object, Optional[str]]] = [
        (words.workbook_text("period", lang), period, None),
        (words.workbook_text("generated", lang), when, "yyyy-mm-dd hh:mm"),
    ]
    for r, (label, value, fmt) in enumerate(rows, start=2):
        _put(ws, r, 1, label)
        _put(ws, r, 2, value, fmt)
    top = len(rows) + 3
    headers = [("segment", None), ("customers", "#,##0"), ("to_contact", "#,##0"), ("control", "#,##0"),
               ("mean_score", PCT), ("value_sum", money), ("expected_sum", money)]
    widths = {c: display_width(words.workbook_text(h, lang)) for c, (h, _) in enumerate(headers, start=1)}
    widths[1] = max(widths[1], display_width(rows[0][0]), display_width(rows[1][0]))
    for c, (h, _) in enumerate(headers, start=1):
        _put(ws, top, c, words.workbook_text(h, lang))
    seg = frame["segment"].astype(str)
    groups = [(k, frame[seg == k]) for k in segment_order(seg)] + [(words.workbook_text("total", lang), frame)]
    for r, (key, g) in enumerate(groups, start=top + 1):
        control = g["control_group"].astype(bool)
        values = [str(key) or words.workbook_text("no_segment", lang), len(g), int((~control).sum()), int(control.sum()),
                  float(g["score"].mean()) if len(g) else None,
                  float(np.nansum(g["value"].to_numpy(dtype=float))),
                  float(np.nansum(g["expected_value_at_risk"].to_numpy(dtype=float)))]
        for c, (v, (_, fmt)) in enumerate(zip(values, headers), start=1):
            _put(ws, r, c, v, fmt)
            widths[c] = max(widths[c], display_width(f"{v:,.2f}" if isinstance(v, float) else v))
    from openpyxl.styles import Font

    ws.cell(row=1, column=1).font = Font(bold=True, size=13)
    for c in range(1, len(headers) + 1):
        ws.cell(row=top, column=c).font = Font(bold=True)
    from openpyxl.utils import get_column_letter

    for c, w in widths.items():
        ws.column_dimensions[get_column_letter(c)].width = min(MAX_WIDTH, w + 2)
    ws.freeze_panes = f"A{top + 1}"


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


def _fixed_zip_times(path: Path, when: datetime) -> None:
    """Rewrite the zip with every entry dated ``when`` (openpyxl stamps entries with the current time)."""
    with zipfile.ZipFile(path) as src:
        entries = [(info.filename, src.read(info.filename)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            dst.writestr(info, data)


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
        Shown on the summary sheet; ``generated_at`` (ISO 8601) also dates the file itself.
    """
    import openpyxl

    path = Path(path)
    when = _when(generated_at)
    frame = retention.frame
    wb = openpyxl.Workbook()
    summary = wb.active
    summary.title = words.workbook_text("summary_sheet", lang)
    _summary_sheet(summary, frame, lang, unit, period, when)
    columns = _columns(frame, lang, unit)
    keys = segment_order(frame["segment"].astype(str))
    for key, name in zip(keys, sheet_names([k or words.workbook_text("no_segment", lang) for k in keys], summary.title)):
        _list_sheet(wb.create_sheet(name), frame[frame["segment"].astype(str) == key], columns, lang)
    wb.properties.creator = "churnlens"
    wb.properties.created = when
    # openpyxl's save() stamps `modified` with the current time: write through its writer instead
    from openpyxl.writer.excel import ExcelWriter

    wb.properties.modified = when
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(wb, archive).save()
    _fixed_zip_times(path, when)
    return path
