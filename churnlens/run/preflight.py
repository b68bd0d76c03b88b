"""Checks of everything besides the customer table that a run reads: the same function serves
``validate`` and ``report`` (:func:`churnlens.run.stages.load_inputs`), so validate rejects
exactly what report would reject, with the same message, and report finds these problems
before scoring anyone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import pandas as pd

from churnlens.actions import playbook
from churnlens.campaign.effect import read_campaign
from churnlens.config import Config, PlaybookRule
from churnlens.errors import ConfigError, InputFileError
from churnlens.io.atomic import FolderCheck, verify_folder
from churnlens.io.files import check_regular_file
from churnlens.results import Checked
from churnlens import segmentation
from churnlens.monitoring.stability import ReferenceProfile
from churnlens.evaluation.backtest import read_published
from churnlens.io.logo import logo_data_uri


def id_salt(config: Config) -> str:
    """Secret salt for ``report.hash_ids``: without one, hashed ids can be reversed by hashing every id."""
    if not config.report.hash_ids:
        return ""
    salt = os.environ.get("CHURNLENS_ID_SALT", "")
    if len(salt) < 8:
        raise ConfigError("report.hash_ids is true but the environment variable CHURNLENS_ID_SALT is not set "
                          "(or shorter than 8 characters). Set it to a secret kept by your team, the same every "
                          "month, so hashed ids stay comparable and cannot be reversed by hashing every id.",
                          key="report.hash_ids")
    return salt


def check_previous(previous: Path):
    """Read ``previous`` (segments, signatures) and check its reference profile and attributions
    file are present and readable. Returns the previous segments."""
    import pyarrow.parquet as pq


    previous = Path(previous)
    if not previous.is_dir():
        raise InputFileError(f"previous: {previous} is not a folder; give last month's report folder.",
                             argument="previous")
    prev = segmentation.load_previous(previous)
    profile_path = previous / "reference_profile.json"
    if not profile_path.is_file():
        raise InputFileError(f"previous: {previous} has no reference_profile.json; give a report folder written "
                             "by churnlens report (0.1 or later).", argument="previous")
    try:
        text = profile_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputFileError(f"previous: {previous}: reference_profile.json cannot be read ({err}); re-run last "
                             "month's report to rewrite it.", argument="previous") from None
    ReferenceProfile.from_json(text, source=str(profile_path))
    attr_path = previous / "attributions.parquet"
    if not attr_path.is_file():
        raise InputFileError(f"previous: {previous} has no attributions.parquet; give a report folder written by "
                             "churnlens report.", argument="previous")
    try:
        pq.read_metadata(attr_path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise InputFileError(f"previous: {previous}: attributions.parquet is not a readable Parquet file "
                             f"({type(err).__name__}); re-run last month's report to rewrite it.",
                             argument="previous") from None
    return prev


def published_ids(previous: Optional[Path]) -> Optional["np.ndarray"]:
    """Customer ids of last month's published scores (``scores.parquet`` of ``previous``; an older
    folder's population sample), against which a ``campaign`` file is matched together with this
    month's table: customers who churned after the campaign have left this month's data. None
    without ``previous``."""
    if previous is None:
        return None

    return read_published(Path(previous)).customer_ids


#: the files of last month's folder a run reads
PREVIOUS_FILES = ("segments.csv", "segment_signatures.json", "reference_profile.json", "attributions.parquet",
                  "scores.parquet", "retention_list.csv", "month_summary.json")


def verify_previous(previous: Path, *, strict: bool = False) -> FolderCheck:
    """Check last month's folder against its manifest's SHA-256 of each file the run reads: a cut
    ``manifest.json`` or a hand-edited ``segments.csv`` is a warning naming the file (logged on
    ``churnlens``), or, with ``strict``, an :class:`InputFileError`. Returns the check, for the
    report and the dossier."""
    import logging

    check = verify_folder(Path(previous), only=PREVIOUS_FILES)
    if check.ok:
        return check
    if check.manifest != "ok":
        what = (f"{previous} has no manifest.json" if check.manifest == "missing" else
                f"{previous}/manifest.json is cut or not churnlens's")
        detail = f"{what}, so its files cannot be verified"
    else:
        parts = ([f"changed since churnlens wrote them: {', '.join(check.changed)}"] if check.changed else []) + \
                ([f"missing: {', '.join(check.missing)}"] if check.missing else [])
        detail = f"last month's folder {previous} does not match its manifest ({'; '.join(parts)})"
    if strict:
        raise InputFileError(f"previous: {detail}. Restore the folder as churnlens wrote it, or run without strict.",
                             argument="previous")
    logging.getLogger("churnlens").warning("warning: %s; comparisons with last month may be wrong.", detail)
    return check


def check_logo(config: Config) -> None:
    """Read and check ``report.logo`` (already resolved beside the config file)."""
    if config.report.logo:

        # checked before a byte is read: a FIFO would block, a sparse 2 GB file would be read whole
        check_regular_file(config.report.logo, "logo", error=ConfigError, key="report.logo",
                           what="report.logo:", hint="Give the path of a PNG, JPEG or SVG file (relative to the "
                                                     "config file).")
        logo_data_uri(Path(config.report.logo))


def preflight(config: Config, *, config_path: Optional[Path], previous: Optional[Path] = None,
              campaign: Optional[Path] = None, strict: bool = False) -> Checked:
    """Every check of the run's inputs other than the model and the customer table.

    ``config`` must have its file paths resolved beside the config file (``logo``,
    ``do_not_contact``, ``no_personalisation``), as :func:`churnlens.run.pipeline.with_overrides` does.

    Raises
    ------
    UserInputError
        Playbook, do-not-contact file, salt, logo, ``previous`` folder or ``campaign`` file,
        each with a message naming it and how to fix it.
    """
    rules = playbook.config_rules(config, config_path)
    dnc = None
    if config.report.do_not_contact:
        dnc = playbook.read_id_list(config.report.do_not_contact, id_column=config.id_column)
    refused = None
    if config.report.no_personalisation:
        refused = playbook.read_id_list(config.report.no_personalisation, id_column=config.id_column,
                                        what="No-personalisation file", key="report.no_personalisation")
    salt = id_salt(config)
    check_logo(config)
    prev_check = verify_previous(Path(previous), strict=strict) if previous is not None and Path(previous).is_dir() \
        else None
    prev = check_previous(Path(previous)) if previous is not None else None
    if campaign is not None:
        check_regular_file(campaign, "campaign", argument="campaign", what="campaign: file",
                           hint="Give a CSV of customer id, arm (treatment/control) and observed churn.")
    table = read_campaign(Path(campaign), id_column=config.id_column) if campaign is not None else None
    return Checked(rules=tuple(rules), do_not_contact=dnc, salt=salt, campaign=table, previous=prev,
                   previous_check=prev_check, no_personalisation=refused)
