"""The retention list of a run: the plan's codes with the words of :mod:`churnlens.reports.lists`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from churnlens.actions import playbook
from churnlens.actions.keep import KeepOptions
from churnlens.actions.results import FinalPlan, Playbook, RetentionList
from churnlens.attribution.results import Attributions
from churnlens.config import Config
from churnlens.reports import words
from churnlens.reports.lists import keep_columns, list_words
from churnlens.results import AlignedFeatures, Checked, Results
from churnlens.segmentation.results import Segments


def retention_list(results: Results, *, lang: str = words.MACHINE_LANG) -> RetentionList:
    """The retention list in ``lang`` (machine words by default, as ``retention_list.csv``),
    with the list's uplift and channel costs from the :class:`~churnlens.actions.results.FinalPlan`,
    so every language shows the same money; with a :class:`~churnlens.actions.keep.KeepOptions`
    in the results, the ``keep_*`` columns (what would keep each customer) in ``lang``."""
    config, attr, plan = results[Config], results[Attributions], results[FinalPlan]
    segments, rules = results[Segments], results[Playbook].rules
    w = list_words(results, lang)
    keep = results.get(KeepOptions)  # what would keep each customer, when the run computed it
    people = playbook.retention_list(
        attr.customer_ids, plan.targeting, segment=segments.keys, score=attr.score,
        value=results[AlignedFeatures].value, reasons=w.reasons,
        rule_index=plan.rule_index, rules=rules,
        segment_name=w.segment_name, drivers=w.drivers, protective=w.protective, rank_by=config.report.rank_by,
        hash_ids=config.report.hash_ids, salt=results[Checked].salt, uplift=plan.uplift, extra_cost=plan.extra_cost,
        extra=None if keep is None else keep_columns(keep, config, rules, lang),
        generic_action=config.report.generic_action)
    if lang == words.MACHINE_LANG:
        return people
    actions = dict(w.actions)
    if config.report.generic_action is not None:
        actions[config.report.generic_action.action.en] = config.report.generic_action.action.get(lang)
    return replace(people, frame=people.frame.assign(action=people.frame["action"].map(lambda a: actions.get(a, a))))


def list_rows(results: Results, frame) -> np.ndarray:
    """The attributed row of each row of a retention list ``frame`` (ids as the list shows
    them: hashed with ``report.hash_ids``)."""
    config, ids = results[Config], np.asarray(results[Attributions].customer_ids)
    listed = np.flatnonzero(results[FinalPlan].targeting.listed)
    texts = [str(i) for i in ids[listed].tolist()]
    shown = [playbook.hash_id(i, salt=results[Checked].salt) for i in texts] if config.report.hash_ids else texts
    index = dict(zip(shown, listed.tolist()))
    return np.array([index[str(c)] for c in frame["customer_id"].tolist()], dtype=np.int64)


#: the list's columns in words, stored per language in ``explanations.parquet``
WORDED = ("segment_name", "action", "keep_change", "keep_action")


def explanations_frame(lists: dict):
    """``explanations.parquet``: one row per listed customer (the rows and order of
    ``retention_list.csv``), the list's words in every language (``reason_1_<lang>``, ...,
    ``action_<lang>``, ``keep_change_<lang>``), so a document about one customer
    can be worded in any language from the report folder alone (``churnlens customer``).
    ``lists`` maps each language to its :class:`RetentionList`."""
    first = next(iter(lists.values())).frame
    columns = [c for c in first.columns if c in WORDED or c.rpartition("_")[0] in ("reason", "driver", "protective")]
    out = {"customer_id": first["customer_id"].astype(str).to_numpy()}
    for c in columns:
        for lang, people in lists.items():
            col = people.frame[c]
            out[f"{c}_{lang}"] = col.where(col.notna(), "").astype(str).to_numpy()
    return pd.DataFrame(out)
