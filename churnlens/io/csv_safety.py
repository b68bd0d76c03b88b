"""Spreadsheet formula injection: CSV cells churnlens writes never start a formula.

A spreadsheet opening a CSV runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in
some programs, a tab or carriage return) as a formula: a customer id ``=HYPERLINK(...)`` in
``retention_list.csv`` would become a live link. Following the OWASP guidance on CSV injection,
such text cells are written with a leading single quote (``'=HYPERLINK(...)``), which
spreadsheets show as text; numeric columns are not touched (``-0.5`` stays a number). Readers
of churnlens's own files (``--previous``) remove the quote again with :func:`unquote_cell`.
"""

from __future__ import annotations

import csv

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


def safe_for_spreadsheets(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text columns are quoted by :func:`quote_cell`. Numeric and
    boolean columns are untouched (``-2.5`` stays a number); a text column's ``-3`` is quoted,
    so an id stays the id it is (Excel would read it as the number -3). Column names are
    quoted the same way (a category level or feature named ``=1+2``)."""
    out = frame.copy()
    for c in out.columns:
        if not pd.api.types.is_numeric_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c]):
            out[c] = out[c].astype(object).map(quote_cell)
    out.columns = [quote_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path, **kwargs) -> None:
    """The one CSV writer of every CSV output churnlens writes: ``frame`` made safe by
    :func:`safe_for_spreadsheets`, written UTF-8 without the index (``kwargs`` go to
    ``DataFrame.to_csv``)."""
    kwargs.setdefault("index", False)
    kwargs.setdefault("encoding", "utf-8")
    safe = safe_for_spreadsheets(frame)
    if any(safe[c].map(lambda v: isinstance(v, str) and "\r" in v).any() for c in safe.columns
           if not pd.api.types.is_numeric_dtype(safe[c])):
        # a lone carriage return is not quoted by the csv module (the line ends with "\n") and
        # would split the row when read back: quote every text cell of this file instead
        kwargs.setdefault("quoting", csv.QUOTE_NONNUMERIC)
    safe.to_csv(path, **kwargs)
