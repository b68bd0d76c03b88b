"""What changed since last month, for the dossier: this run's model, config, data schema and
package versions against last month's ``manifest.json``, and the listed customers' first
reasons month to month. Numbers and codes only; :mod:`churnlens.reports` words them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from churnlens.monitoring.results import Change, DataSchema, MonthChanges, ReasonShare, ReasonShift, SchemaColumn
from churnlens.redact import redact

#: config keys expected to change every month (not a change of the method)
MONTHLY_KEYS = ("report.period",)
_SHORT = 80


def column_kind(series: pd.Series) -> str:
    """``number``, ``integer``, ``category`` or ``text``: what a reader of the schema needs."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(series):
        return "integer"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_numeric_dtype(series):
        return "number"
    return "text"


def data_schema(frame: pd.DataFrame, *, id_column: str, label_column: Optional[str],
                value_column: Optional[str]) -> DataSchema:
    """The columns the run read: id, label and value columns by role, then the features (the
    source features, one-hot columns decoded) with their kind, by name."""
    cols = [SchemaColumn(id_column, "id", "text")]
    if label_column:
        cols.append(SchemaColumn(label_column, "label", "integer"))
    if value_column:
        cols.append(SchemaColumn(value_column, "value", "number"))
    named = {c.column for c in cols}
    cols += [SchemaColumn(str(c), "feature", column_kind(frame[c])) for c in sorted(frame.columns, key=str)
             if str(c) not in named]
    return DataSchema(tuple(cols))


def schema_json(schema: DataSchema) -> list[dict]:
    return [{"column": c.column, "role": c.role, "kind": c.kind} for c in schema.columns]


def _flat(d: object, prefix: str = "") -> dict[str, object]:
    """A nested config dump as dotted keys (lists kept whole, as one value)."""
    if isinstance(d, Mapping):
        out: dict[str, object] = {}
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: d}


def _text(v: object) -> str:
    if v is None:
        return "null"
    text = v if isinstance(v, str) else json.dumps(v, sort_keys=True, ensure_ascii=False, default=str)
    text = redact(text)  # credentials in URLs never shown
    return text if len(text) <= _SHORT else text[:_SHORT] + "…"


def config_changes(before: Mapping, after: Mapping) -> tuple[Change, ...]:
    """Dotted config keys whose value differs (keys only on one side included), by key;
    :data:`MONTHLY_KEYS` left out."""
    a, b = _flat(before), _flat(after)
    out = []
    for key in sorted(set(a) | set(b)):
        if key in MONTHLY_KEYS or a.get(key, ...) == b.get(key, ...):
            continue
        out.append(Change(key, "" if key not in a else _text(a[key]), "" if key not in b else _text(b[key])))
    return tuple(out)


def schema_changes(before: Sequence[Mapping], after: DataSchema) -> tuple[Change, ...]:
    """Columns added, removed, or whose role or kind changed (``role/kind`` on each side)."""
    old = {str(c.get("column")): f"{c.get('role')}/{c.get('kind')}" for c in before if isinstance(c, Mapping)}
    new = {c.column: f"{c.role}/{c.kind}" for c in after.columns}
    return tuple(Change(col, old.get(col, ""), new.get(col, "")) for col in sorted(set(old) | set(new))
                 if old.get(col) != new.get(col))


def _identity(model: Mapping) -> str:
    reg = model.get("registry") or None
    if isinstance(reg, Mapping) and (reg.get("name") or reg.get("uri")):
        return " ".join(str(x) for x in (reg.get("name") or reg.get("uri"), reg.get("version")) if x)
    return Path(str(model.get("path") or "")).name


def month_changes(previous: Path, *, model: Mapping, config: Mapping, schema: DataSchema,
                  packages: Mapping[str, str]) -> MonthChanges:
    """This run (``model``: the manifest's ``model`` record; ``config``: the config dump;
    ``packages``: name -> version) against ``previous``'s ``manifest.json``."""
    folder = Path(previous)
    path = folder / "manifest.json"
    after_id, after_sha = _identity(model), str(model.get("sha256") or "")
    empty = MonthChanges(folder.name, "missing", "", after_sha, "", after_id, (), False, (), ())
    if not path.is_file():
        return empty
    try:
        prev = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(prev, dict):
            raise ValueError
    except (OSError, UnicodeDecodeError, ValueError):
        return MonthChanges(folder.name, "unreadable", "", after_sha, "", after_id, (), False, (), ())
    pmodel = prev.get("model") if isinstance(prev.get("model"), Mapping) else {}
    recorded = isinstance(prev.get("data_schema"), list)
    ppk = prev.get("packages") if isinstance(prev.get("packages"), Mapping) else {}
    pk = tuple(Change(n, str(ppk.get(n, "")), str(packages.get(n, ""))) for n in sorted(set(ppk) | set(packages))
               if str(ppk.get(n, "")) != str(packages.get(n, "")))
    return MonthChanges(
        folder=folder.name, manifest="ok", model_before=str(pmodel.get("sha256") or ""), model_after=after_sha,
        model_identity_before=_identity(pmodel), model_identity_after=after_id,
        config=config_changes(prev.get("config") if isinstance(prev.get("config"), Mapping) else {}, config),
        schema_recorded=recorded, schema=schema_changes(prev["data_schema"], schema) if recorded else (),
        packages=pk)


def first_reasons(values: np.ndarray, features: Sequence[str], eligible: Sequence[str]) -> np.ndarray:
    """Each row's first reason: the eligible feature with the largest positive attribution
    ("" when no eligible feature raises the risk). Ties go to the first feature."""
    cols = [i for i, f in enumerate(features) if f in set(eligible)]
    out = np.full(len(values), "", dtype=object)
    if not cols or len(values) == 0:
        return out
    v = np.asarray(values, dtype=np.float64)[:, cols]
    best = np.argmax(v, axis=1)
    raising = v[np.arange(len(v)), best] > 0
    names = np.array([features[i] for i in cols], dtype=object)
    out[raising] = names[best[raising]]
    return out


def reason_shift(previous: np.ndarray, current: np.ndarray) -> ReasonShift:
    """Shares of each first reason among last month's and this month's listed customers
    (``previous``/``current``: first reasons from :func:`first_reasons`; "" is "no reason")."""
    def shares(a: np.ndarray) -> dict[str, float]:
        if len(a) == 0:
            return {}
        keys, counts = np.unique(a.astype(str), return_counts=True)
        return {k: c / len(a) for k, c in zip(keys, counts)}

    p, c = shares(previous), shares(current)
    keys = sorted(set(p) | set(c), key=lambda k: (-c.get(k, 0.0), -p.get(k, 0.0), k))
    rows = tuple(ReasonShare(str(k), float(p.get(k, 0.0)), float(c.get(k, 0.0))) for k in keys)
    distance = 0.5 * sum(abs(r.current_share - r.previous_share) for r in rows) if p and c else float("nan")
    return ReasonShift(rows, len(previous), len(current), float(distance))
