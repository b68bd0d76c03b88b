"""Spreadsheets churnlens writes: text stays text, and the same table gives the same bytes.

openpyxl turns any text starting with ``=`` into a live formula (a customer id
``=HYPERLINK(...)`` would become a link) and stamps the workbook and every zip entry with the
current time. :func:`write_table` stores every text cell as text and takes all dates from
``generated_at`` (the run's ``--generated-at``), so two identical runs give byte-identical files.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

_EPOCH = datetime(1980, 1, 1, tzinfo=timezone.utc)  # the earliest time a zip entry can record


def _when(generated_at: str) -> datetime:
    try:
        when = datetime.fromisoformat(generated_at) if generated_at else _EPOCH
    except ValueError:
        when = _EPOCH
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return max(when.astimezone(timezone.utc), _EPOCH)


def _cell(value):
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return value


def write_table(frame: pd.DataFrame, path: Path, *, sheet: str, generated_at: str = "") -> None:
    """Write ``frame`` as a one-sheet ``.xlsx``: header row, one row per record, text cells stored
    as text (never formulas), workbook and zip dates from ``generated_at``."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append([str(c) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        ws.append([_cell(v) for v in row])
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # "=HYPERLINK(...)" is a customer id, not a formula
    when = _when(generated_at)
    wb.properties.creator = "churnlens"
    wb.properties.created = when.replace(tzinfo=None)
    buffer = io.BytesIO()
    wb.save(buffer)
    Path(path).write_bytes(fixed_zip_times(buffer.getvalue(), when))


_CORE_DATE = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def fixed_zip_times(data: bytes, when: datetime) -> bytes:
    """An xlsx (zip) with every entry's time and the core properties' created/modified dates
    set to ``when`` (openpyxl writes the current time into both)."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = _CORE_DATE.sub(lambda m: m.group(1) + stamp + m.group(3), body)
            entry = zipfile.ZipInfo(info.filename, date_time=when.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, body)
    return out.getvalue()
