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


# --- what would keep this customer (churnlens.actions.keep) ---------------------------------------

KEEP_COLUMNS = ("keep_change", "keep_probability", "keep_action")


def _share(p: float) -> str:
    return f"{100.0 * p:.0f}%"


def keep_columns(keep, config: Config, rules, lang: str = words.MACHINE_LANG) -> dict[str, np.ndarray]:
    """The retention list's ``keep_*`` columns, rows as ``keep`` (a
    :class:`~churnlens.actions.keep.KeepOptions`): ``keep_change`` "if Mobile-banking logins
    went from 2 to 10: 72% → 31%" ("" without an option), ``keep_probability`` the probability
    with the change (a number, NaN without one: the same in every language) and
    ``keep_action`` the playbook action(s) producing it ("" when none)."""
    n = keep.n
    change = np.full(n, "", dtype=object)
    action = np.full(n, "", dtype=object)
    cache: dict = {}

    def value(f: str, v: object) -> str:
        if (f, v) not in cache:
            spec = config.features.get(f)
            cache[(f, v)] = words.feature_value(v, unit=spec.unit if spec is not None else None, lang=lang, spec=spec)
        return cache[(f, v)]

    kept = keep.kept
    for i in np.flatnonzero(keep.found):
        parts = [words.text(lang, "keep.one", label=config.label(f, lang), old=value(f, keep.from_values[i, s]),
                            new=value(f, keep.to_values[i, s]))
                 for s, f in enumerate(keep.features[i]) if f]
        params = dict(changes=words.text(lang, "keep.and").join(parts), before=_share(keep.before[i]),
                      after=_share(keep.after[i]))
        change[i] = (words.text(lang, "keep.kept", **params) if kept[i] else
                     words.text(lang, "keep.partial", threshold=_share(keep.threshold), **params))
        texts = list(dict.fromkeys(rules[r].action.get(lang) for r in keep.rules[i] if r >= 0))
        action[i] = words.text(lang, "keep.actions_sep").join(texts)
    return {"keep_change": change, "keep_probability": np.asarray(keep.after, dtype=np.float64), "keep_action": action}
