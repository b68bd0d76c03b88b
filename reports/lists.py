"""The retention list's words: the flow plans the list in codes (who, which rule, which
reasons); here its reasons, drivers, protective factors, segment names and actions are worded,
in machine words for ``retention_list.csv`` (the same whatever the report language) or in the
report language for the people's workbook (:func:`churnlens.run.lists.retention_list` puts
the words into the list)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from churnlens.actions.results import FinalPlan, Playbook
from churnlens.attribution.results import ReasonCodes
from churnlens.config import Config
from churnlens.reports import words
from churnlens.results import Results
from churnlens.segmentation.results import Segments


@dataclass(frozen=True, eq=False)
class ListWords:
    """The texts of the list's listed rows (other rows are empty), in one language."""

    reasons: np.ndarray  # (m, k) actionable reasons
    drivers: np.ndarray  # (m, k) top drivers overall
    protective: np.ndarray  # (m, p) risk-lowering factors
    segment_name: np.ndarray  # (m,)
    actions: dict  # the rule's English text -> the text in this language


def list_words(results: Results, lang: str = words.MACHINE_LANG) -> ListWords:
    config, reasons = results[Config], results[ReasonCodes]
    plan, segments, rules = results[FinalPlan], results[Segments], results[Playbook].rules
    names = np.full(len(segments.keys), "", dtype=object)
    for key, name in words.segment_names(segments.items, config, lang).items():
        names[segments.keys == key] = name
    listed = plan.targeting.listed  # only listed customers are worded: the others are not in the list
    texts = lambda family: words.reason_texts(reasons, config, lang, family=family, rows=listed)  # noqa: E731
    return ListWords(texts("reason"), texts("driver"), texts("protective"), names,
                     {r.action.en: r.action.get(lang) for r in rules})
