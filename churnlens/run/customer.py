"""One customer's explanation on request, from a report folder (``churnlens customer``).

The customer's rows alone are read: ``scores.parquet`` (score, list decision), the list's row
of ``retention_list.csv`` (numbers), its words in every language (``explanations.parquet``) and,
for a customer not on the list, the customer's row of ``attributions.parquet``. Parquet files
are read with a filter on the id, the CSV in chunks keeping only the matching row: no other
customer's data reaches the document. The files read are checked against the SHA-256 the
folder's ``manifest.json`` records, so the fingerprints printed are those of the data shown.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from churnlens.actions.playbook import hash_id
from churnlens.config import Config, parse_config
from churnlens.errors import ConfigError, InputFileError, UnknownCustomerError, UserInputError
from churnlens.io import atomic
from churnlens.io.csv_safety import unquote_cell
from churnlens.io.ids import normalise_id
from churnlens.reports.catalogue import LANGS
from churnlens.reports.customer import CustomerRecord, Fingerprints, render_explanation

SCORES, LIST, WORDS, ATTRIBUTIONS = "scores.parquet", "retention_list.csv", "explanations.parquet", "attributions.parquet"
FORMATS = (".pdf", ".html")


def _folder(report) -> tuple[Path, dict]:
    folder = Path(report)
    if not folder.is_dir():
        raise InputFileError(f"report: {folder} is not a folder. Give a report folder written by churnlens report.",
                             argument="report")
    doc = atomic.read_manifest(folder)
    if doc is None or atomic.folder_kind(folder) != "report":
        raise InputFileError(f"report: {folder} is not a churnlens report folder (no manifest.json of a report). "
                             "Give a folder written by churnlens report.", argument="report")
    return folder, doc


def _one_row(path: Path, column: str, value: str, columns: Optional[list[str]] = None) -> Optional[dict]:
    """The row of the Parquet file ``path`` whose ``column`` equals ``value`` (read with a filter:
    other rows are never returned), or None."""
    table = pq.read_table(path, columns=columns, filters=[(column, "==", value)])
    if table.num_rows == 0:
        return None
    return {k: v[0] for k, v in table.to_pydict().items()}


def _list_row(path: Path, shown: str) -> Optional[dict]:
    """The customer's row of ``retention_list.csv``, read in chunks (only that row is kept)."""
    for chunk in pd.read_csv(path, dtype={"customer_id": str}, chunksize=20_000, encoding="utf-8-sig",
                             keep_default_na=False, na_values=[""]):
        hit = chunk[chunk["customer_id"].map(unquote_cell) == shown]  # an id written "'-17" is "-17"
        if len(hit):
            return hit.iloc[0].to_dict()
    return None


def _fingerprints(folder: Path, doc: dict) -> Fingerprints:
    inputs = {i.get("role"): i for i in doc.get("inputs") or () if isinstance(i, dict)}
    model = doc.get("model") or {}
    period = ""
    summary = folder / "month_summary.json"
    if summary.is_file():
        period = str(json.loads(summary.read_text(encoding="utf-8")).get("period") or "")
    period = period or str(((doc.get("config") or {}).get("report") or {}).get("period") or "")
    return Fingerprints(
        folder=folder.resolve().name, period=period, generated_at=str(doc.get("generated_at", "")),
        churnlens_version=str(doc.get("churnlens_version", "")), model_file=Path(str(model.get("path", ""))).name,
        model_family=str(model.get("family", "")), model_sha256=str(model.get("sha256", "")),
        data_sha256=str((inputs.get("data") or {}).get("sha256", "")),
        data_rows=(inputs.get("data") or {}).get("rows"),
        config_sha256=str((inputs.get("config") or {}).get("sha256", "")),
        manifest_sha256=hashlib.sha256((folder / atomic.MANIFEST).read_bytes()).hexdigest())


def _reasons(row: dict, config: Config, output_space: str) -> tuple[tuple[str, float], ...]:
    """(feature, probability points) of the customer's largest risk-raising attributions (never a
    protected feature; at least ``reasons.min_contribution_pp``), as the list's drivers are sized."""
    feats = [k[len("shap__"):] for k in row if k.startswith("shap__")]
    phi = np.array([float(row["shap__" + f]) for f in feats], dtype=np.float64)
    if output_space == "probability":
        pp = 100.0 * phi
    else:
        raw = float(row.get("raw_score", float(row["base_value"]) + phi.sum()))
        sig = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
        pp = 100.0 * (sig(raw) - sig(raw - phi))
    keep = [(f, float(p)) for f, p in zip(feats, pp)
            if config.excluded_cause(f) != "protected" and p > 0 and p >= config.reasons.min_contribution_pp]
    keep.sort(key=lambda fp: -fp[1])  # stable: equal sizes in the model's order
    return tuple(keep[: config.k_reasons])


def read_customer(report, customer_id) -> CustomerRecord:
    """Everything the explanation of ``customer_id`` shows, read from the report folder ``report``.

    Raises
    ------
    InputFileError
        ``report`` is not a churnlens report folder, or a file read does not match its manifest.
    UnknownCustomerError
        No customer of the folder has this id (after the usual id normalisation).
    """
    folder, doc = _folder(report)
    cid = normalise_id(customer_id)
    for name in (SCORES, ATTRIBUTIONS):
        if not (folder / name).is_file():
            raise InputFileError(f"report: {folder} has no {name}; write the folder again with this version of "
                                 "churnlens report.", argument="report")
    try:
        config = parse_config(doc.get("config") or {}, source=f"{folder / atomic.MANIFEST} (config)")
    except ConfigError as err:
        raise InputFileError(f"report: the configuration recorded in {folder / atomic.MANIFEST} is not readable by "
                             f"this version of churnlens: {err}", argument="report") from None
    read = [SCORES, ATTRIBUTIONS] + [n for n in (LIST, WORDS) if (folder / n).is_file()]
    check = atomic.verify_folder(folder, only=read)
    if check.changed or check.missing:
        raise InputFileError(f"report: {folder}: {', '.join(check.changed + check.missing)} do(es) not match the "
                             "SHA-256 recorded in manifest.json (changed since churnlens wrote the folder); the "
                             "explanation would not be of the month it claims. Write the folder again.",
                             argument="report")
    scores = _one_row(folder / SCORES, "customer_id", cid)
    if scores is None:
        raise UnknownCustomerError(
            f"customer: {cid!r} is not a customer of the report folder {folder} (no row in its {SCORES}). Check the "
            "id as the customer table writes it: leading zeros and letter case are part of it.")
    shown = cid
    if config.report.hash_ids:
        salt = os.environ.get("CHURNLENS_ID_SALT", "")
        if not salt:
            raise UserInputError("customer: the report folder's lists hold hashed ids (report.hash_ids); set the "
                                 "environment variable CHURNLENS_ID_SALT to the key the run used.")
        shown = hash_id(cid, salt=salt)
    listed = bool(scores.get("listed"))
    if listed and not (folder / WORDS).is_file():
        raise InputFileError(f"report: {folder} has no {WORDS} (the list's words in every language, which the "
                             "explanation of a listed customer is worded from); write the folder again with this "
                             "version of churnlens report.", argument="report")
    list_row = _list_row(folder / LIST, shown) if listed and (folder / LIST).is_file() else None
    worded = _one_row(folder / WORDS, "customer_id", shown) if listed and (folder / WORDS).is_file() else None
    texts = {lang: {k[: -len(lang) - 1]: (v or "") for k, v in worded.items() if k.endswith("_" + lang)}
             for lang in LANGS} if worded else {}
    attr = _one_row(folder / ATTRIBUTIONS, "customer_id", cid)
    features = tuple(n[len("shap__"):] for n in pq.read_schema(folder / ATTRIBUTIONS).names if n.startswith("shap__"))
    output_space = str((doc.get("attribution") or {}).get("output_space") or config.output_space)
    generic = bool(listed and config.report.generic_action is not None and list_row is not None
                   and list_row.get("action") == config.report.generic_action.action.en)
    value = scores.get("value")
    return CustomerRecord(
        customer_id=cid, score=float(scores["score"]),
        threshold=config.churners.threshold if config.churners.by == "score" else None,
        listed=listed, control=bool(scores.get("control_group")), generic=generic,
        segment=str(scores.get("segment") or ""), channel=str(scores.get("channel") or ""),
        value=float("nan") if value is None else float(value), features=features, words=texts,
        unlisted_reasons=() if listed or attr is None else _reasons(attr, config, output_space),
        attributed=attr is not None, config=config, fingerprints=_fingerprints(folder, doc))


def default_out(customer_id) -> Path:
    """``explanation-<id>.pdf`` in the working folder (characters other than letters, digits,
    ``-`` and ``_`` of the id replaced by ``_``)."""
    return Path(f"explanation-{re.sub(r'[^A-Za-z0-9_-]', '_', normalise_id(customer_id))[:80]}.pdf")


def write_customer(customer_id, report, out=None, *, lang: str = "en") -> Path:
    """Write the one-page bilingual explanation of ``customer_id`` from the report folder
    ``report`` to ``out`` (``.pdf`` or ``.html``; default :func:`default_out`), through the
    output guard: never an input, never inside the report folder, and an existing file only
    when churnlens wrote it. Returns the path written."""
    if lang not in LANGS:
        raise UserInputError(f"lang: {lang!r} is not supported; expected one of {', '.join(LANGS)}.", argument="lang")
    out = Path(out) if out is not None else default_out(customer_id)
    if out.suffix.lower() not in FORMATS:
        raise UserInputError(f"out: {out} must end in .pdf or .html (the explanation's format).", argument="out")
    _folder(report)  # a report folder at all, before the output is judged against it
    atomic.check_out_file(out, inputs=[Path(report)], marker=atomic.CUSTOMER_MARKER)
    record = read_customer(report, customer_id)
    fmt = out.suffix.lower().lstrip(".")
    atomic.atomic_write_file(out, lambda tmp: render_explanation(record, tmp, lang=lang, fmt=fmt,
                                                                 marker=atomic.CUSTOMER_MARKER))
    return out
