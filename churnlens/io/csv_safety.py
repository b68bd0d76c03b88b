"""Spreadsheet formula injection: CSV cells churnlens writes never start a formula.

A spreadsheet opening a CSV runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in
some programs, a tab or carriage return) as a formula: a customer id ``=HYPERLINK(...)`` in
``retention_list.csv`` would become a live link. Following the OWASP guidance on CSV injection,
such text cells are written with a leading single quote (``'=HYPERLINK(...)``), which
spreadsheets show as text; numeric columns are not touched (``-0.5`` stays a number). Readers
of churnlens's own files (``--previous``) remove the quote again with :func:`unquote_cell`.
"""

from __future__ import annotations

import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def quote_cell(value):
    """``value`` with a leading ``'`` when it is text starting with a formula trigger."""
    if isinstance(value, str) and value.startswith(TRIGGERS):
        return "'" + value
    return value


def unquote_cell(value):
    """Inverse of :func:`quote_cell` for text read back from a churnlens CSV."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1:].startswith(TRIGGERS):
        return value[1:]
    return value


def _is_number_text(value) -> bool:
    """A text cell that is a plain number (``-2.5``, ``+3``, ``-1e-3``): left as it is, a
    spreadsheet reads it as that number, never as a formula."""
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return value.strip() == value and value.lower().lstrip("+-") not in ("inf", "infinity", "nan")


def quote_text(value):
    """:func:`quote_cell`, but a text cell that is a plain number (``-2.5``) stays a number."""
    return value if _is_number_text(value) else quote_cell(value)


def safe_for_spreadsheets(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text columns are quoted by :func:`quote_text` (numeric and
    boolean columns untouched; a text cell holding a plain number such as ``-2.5`` too).
    Column names are quoted the same way (a category level or feature named ``=1+2``)."""
    out = frame.copy()
    for c in out.columns:
        if not pd.api.types.is_numeric_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c]):
            out[c] = out[c].astype(object).map(quote_text)
    out.columns = [quote_text(c) if isinstance(c, str) else c for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path, **kwargs) -> None:
    """The one CSV writer of every CSV output churnlens writes: ``frame`` made safe by
    :func:`safe_for_spreadsheets`, written UTF-8 without the index (``kwargs`` go to
    ``DataFrame.to_csv``)."""
    kwargs.setdefault("index", False)
    kwargs.setdefault("encoding", "utf-8")
    safe_for_spreadsheets(frame).to_csv(path, **kwargs)
