"""Customer ids compared as a bank means them: one normalisation for every table that holds ids.

:func:`normalise_id` is the rule: the id as text, Unicode NFC (``"José"`` typed on a Mac arrives
in NFD, with a separate combining accent), with surrounding whitespace removed (spaces, tabs,
line breaks, no-break spaces, and the invisible byte-order mark / zero-width space that
spreadsheet exports leave). Nothing else changes: letter case and leading zeros are part of the
id (``0000017`` is not ``17``).

It is applied to the customer table, the do-not-contact list, the outcomes and campaign files
and last month's segments (every reader of an id column goes through
:func:`churnlens.io.tables.iter_table` or calls :func:`normalise_ids`), so an id written
``" C001"`` in the do-not-contact list blocks customer ``C001``. Two different ids of one table
that become equal under the rule (``"C001"`` and ``"C001 "``) are refused, naming both
(:func:`near_duplicates`). Do-not-contact ids that match no customer are counted
(:func:`match_ids`): such an id is a compliance risk, not a no-op.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np
import pandas as pd

#: characters removed around an id besides Unicode whitespace: BOM, zero-width space/joiners
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
RULE = "surrounding spaces removed, Unicode NFC"


def normalise_id(value: object) -> str:
    """The id as churnlens compares it: text, Unicode NFC, surrounding whitespace removed."""
    text = value if isinstance(value, str) else str(value)
    if text.isascii():
        return text.strip()
    return unicodedata.normalize("NFC", text).strip().strip(_INVISIBLE).strip()


def normalise_ids(values) -> np.ndarray:
    """:func:`normalise_id` of every value (missing values stay missing), as an object array."""
    arr = np.asarray(values, dtype=object)
    out = np.empty(arr.shape[0], dtype=object)
    out[:] = [v if (v is None or v is pd.NA or (isinstance(v, float) and v != v)) else
              (v.strip() if isinstance(v, str) and v.isascii() else normalise_id(v)) for v in arr]
    return out


def near_duplicates(raw, normalised=None, *, limit: int = 3) -> list[tuple[str, ...]]:
    """Groups of different spellings that are one id after normalisation (at most ``limit``
    groups, each sorted), e.g. ``[("C001", "C001 ")]``; empty when there are none."""
    raw = pd.Series(np.asarray(raw, dtype=object)).dropna().astype(str)
    norm = pd.Series(normalise_ids(raw.to_numpy()) if normalised is None else
                     np.asarray(normalised, dtype=object)[raw.index.to_numpy()], index=raw.index)
    changed = raw.to_numpy() != norm.to_numpy()
    if not changed.any():
        return []
    keys = set(norm[changed])
    sub = pd.DataFrame({"raw": raw, "norm": norm})[norm.isin(keys)]
    groups = []
    for _, g in sub.groupby("norm", sort=True):
        spellings = tuple(sorted(set(g["raw"])))
        if len(spellings) > 1:
            groups.append(spellings)
            if len(groups) >= limit:
                break
    return groups


def describe_near_duplicates(groups: list[tuple[str, ...]]) -> str:
    """``'C001' and 'C001 '; 'Zoë' and 'Zoë'`` (NFD shown as such) for a message."""
    def show(s: str) -> str:
        r = repr(s if len(s) <= 40 else s[:40] + "…")
        return r if unicodedata.is_normalized("NFC", s) else f"{r} (Unicode NFD)"
    return "; ".join(" and ".join(show(s) for s in g) for g in groups)


@dataclass(frozen=True)
class IdMatch:
    """How a list of ids (do-not-contact, outcomes) matched the customer table.

    Attributes
    ----------
    listed : int
        Distinct ids on the list (after normalisation).
    matched : int
        Of them, ids of a customer in the table.
    unmatched : int
        Ids matching no customer: shown as a warning and a dossier line.
    examples : tuple of str
        Up to three unmatched ids (normalised), for the warning (mask them in documents).
    """

    listed: int
    matched: int
    unmatched: int
    examples: tuple[str, ...] = ()


def match_ids(customer_ids: Iterable, listed: Optional[Iterable]) -> IdMatch:
    """Count the ids of ``listed`` that match a customer of ``customer_ids`` (both normalised)."""
    if listed is None:
        return IdMatch(0, 0, 0)
    wanted = {normalise_id(i) for i in listed}
    have = set(normalise_ids(np.asarray(list(customer_ids) if not isinstance(customer_ids, np.ndarray)
                                        else customer_ids, dtype=object)))
    missing = sorted(wanted - have)
    return IdMatch(listed=len(wanted), matched=len(wanted) - len(missing), unmatched=len(missing),
                   examples=tuple(missing[:3]))
