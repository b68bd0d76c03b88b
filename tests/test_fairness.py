"""Fairness of the list by protected attribute (churnlens.evaluation.fairness): planted unfair
lists are flagged, fair ones are not, every number recomputed from the raw rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churnlens.config import parse_config
from churnlens.evaluation import fairness as fz

CONFIG = parse_config({"features": {
    "gender": {"label": {"en": "Gender", "zh": "性别"}, "protected": True, "actionable": False},
    "age": {"label": {"en": "Age", "zh": "年龄"}, "actionable": False, "unit": "years"},
    "logins": {"label": {"en": "Logins", "zh": "登录次数"}},
    "pension_plan": {"label": {"en": "Pension plan", "zh": "养老金计划"}},
    "height": {"label": {"en": "Height", "zh": "身高"}},
}})


def book(n=6000, seed=0, *, over=None, under_old=False):
    rng = np.random.default_rng(seed)
    gender = rng.choice(["F", "M"], n, p=[0.6, 0.4])
    age = np.clip(np.round(rng.normal(45, 12, n)), 18, 90)
    frame = pd.DataFrame({
        "gender": gender,
        "age": age,
        "logins": rng.poisson(5, n).astype(float),
        # proxies of gender: a plan almost only men hold, and height
        "pension_plan": np.where(gender == "M", rng.random(n) < 0.9, rng.random(n) < 0.1).astype(str),
        "height": np.where(gender == "M", 178.0, 165.0) + rng.normal(0, 6, n),
    })
    p_sel = np.full(n, 0.2)
    if over is not None:  # a protected group over-selected
        p_sel = np.where(gender == over, 0.45, 0.15)
    selected = rng.random(n) < p_sel
    listed = selected.copy()
    control = listed & (rng.random(n) < 0.1)
    contacted = listed & ~control
    if under_old:  # older customers rarely contacted
        contacted &= ~((age >= 65) & (rng.random(n) < 0.8))
    personalised = contacted & (rng.random(n) < 0.7)
    score = np.clip(rng.beta(2, 5, n) + 0.3 * selected, 0, 1)
    label = (rng.random(n) < score).astype(int)
    value = rng.lognormal(10, 1, n)
    seg = np.where(selected, np.where(frame.logins < 5, "S1", "S2"), "")
    attributions = np.column_stack([np.full(n, 0.1), np.full(n, 0.2), np.full(n, 0.4), np.full(n, 0.2),
                                    np.full(n, 0.1)]) * rng.choice([-1, 1], (n, 5))
    return frame, dict(population=np.ones(n, bool), selected=selected, listed=listed, contacted=contacted,
                       personalised=personalised, list_key=score * value, value_at_risk=score * value, score=score,
                       label=label, segments=seg, attributions=attributions,
                       attribution_features=("gender", "age", "logins", "pension_plan", "height"))


def by(result, attribute):
    return next(a for a in result.attributes if a.attribute == attribute)


def test_protected_groups_and_age_bands():
    frame, _ = book(200)
    groups = fz.protected_groups(CONFIG, frame)
    assert set(groups) == {"gender", "age"}
    assert groups["gender"][0] == "protected" and groups["age"][0] == "age_band"
    codes = groups["age"][1]
    ages = frame.age.to_numpy()
    assert (codes[ages < 25] == "<25").all() and (codes[(ages >= 25) & (ages < 35)] == "25-35").all()
    assert (codes[ages >= 65] == ">=65").all()


def test_fair_list_is_not_flagged():
    frame, kw = book()
    result = fz.fairness(CONFIG, frame, **kw)
    assert result.flagged == ()
    g = by(result, "gender")
    assert g.reference == "F"  # the largest group
    assert [x.group for x in g.groups] == ["F", "M"]


def test_planted_over_selection_flagged_and_recomputed():
    frame, kw = book(over="M")
    result = fz.fairness(CONFIG, frame, **kw)
    g = by(result, "gender")
    assert ("gender", "M") in result.flagged and g.flagged
    m = next(x for x in g.groups if x.group == "M")
    f = next(x for x in g.groups if x.group == "F")
    assert "selection_high" in m.flags and f.flags == ()
    # recomputed from the raw rows
    df = frame.assign(sel=kw["selected"], con=kw["contacted"], act=kw["personalised"], lst=kw["listed"])
    rates = df.groupby("gender")[["sel", "con", "act"]].mean()
    assert m.selection_rate == pytest.approx(rates.loc["M", "sel"]) and f.selection_rate == pytest.approx(rates.loc["F", "sel"])
    assert m.selection_ratio == pytest.approx(rates.loc["M", "sel"] / rates.loc["F", "sel"])
    assert m.contact_ratio == pytest.approx(rates.loc["M", "con"] / rates.loc["F", "con"])
    assert m.action_rate == pytest.approx(rates.loc["M", "act"])
    assert m.n == int((frame.gender == "M").sum()) and m.listed == int(df[df.gender == "M"].lst.sum())
    # value share of the list and calibration / AUC by group
    evar = kw["value_at_risk"]
    assert m.value_share == pytest.approx(evar[kw["listed"] & (frame.gender == "M")].sum() / evar[kw["listed"]].sum())
    hit = (frame.gender == "M").to_numpy()
    assert m.auc == pytest.approx(roc_auc_score(kw["label"][hit], kw["score"][hit]))
    assert m.observed_rate == pytest.approx(kw["label"][hit].mean()) and m.mean_score == pytest.approx(kw["score"][hit].mean())


def test_planted_under_contact_of_older_customers_flagged():
    frame, kw = book(under_old=True)
    result = fz.fairness(CONFIG, frame, **kw)
    age = by(result, "age")
    old = next(x for x in age.groups if x.group == ">=65")
    assert "contact_low" in old.flags and "action_low" in old.flags
    assert "selection_low" not in old.flags and "selection_high" not in old.flags
    assert age.reference == "45-55"  # the largest band
    assert ("age", ">=65") in result.flagged
    assert [x.group for x in age.groups] == ["<25", "25-35", "35-45", "45-55", "55-65", ">=65"]


def test_small_groups_are_not_flagged():
    frame, kw = book(n=40, over="M")
    result = fz.fairness(CONFIG, frame, **kw)
    assert any(x.n < fz.MIN_GROUP for x in by(result, "gender").groups)
    assert not any(x.flags for x in by(result, "gender").groups if x.n < fz.MIN_GROUP)


def test_proxies_found_with_their_attribution_share():
    frame, kw = book()
    g = by(fz.fairness(CONFIG, frame, **kw), "gender")
    found = {p.feature: p for p in g.proxies}
    assert set(found) == {"pension_plan", "height"}  # logins and age are independent of gender
    assert found["pension_plan"].measure == "cramers_v" and found["height"].measure == "correlation_ratio"
    assert found["pension_plan"].association == pytest.approx(fz.cramers_v(frame.gender.to_numpy(),
                                                                           frame.pension_plan.to_numpy()), abs=1e-6)
    assert found["pension_plan"].association > 0.7
    # mean |attribution| 0.1, 0.2, 0.4, 0.2, 0.1: pension_plan carries 0.2 of the total
    assert found["pension_plan"].attribution_share == pytest.approx(0.2)
    assert found["height"].attribution_share == pytest.approx(0.1)


def test_association_measures_known_answers():
    a = np.array(["x"] * 50 + ["y"] * 50, dtype=object)
    assert fz.cramers_v(a, a) == pytest.approx(1.0)
    assert fz.cramers_v(a, np.tile(["p", "q"], 50)) == pytest.approx(0.0)
    assert fz.correlation_ratio(a, np.r_[np.zeros(50), np.ones(50)]) == pytest.approx(1.0)
    assert fz.correlation_ratio(a, np.tile([0.0, 1.0], 50)) == pytest.approx(0.0)


def test_segment_composition_and_list_position():
    frame, kw = book(over="M")
    g = by(fz.fairness(CONFIG, frame, **kw), "gender")
    rows = [c for c in g.composition if c.segment == "S1"]
    hit = (kw["segments"] == "S1")
    for c in rows:
        assert c.n == int((frame.gender[hit] == c.group).sum())
        assert c.share == pytest.approx(c.n / hit.sum())
        assert c.book_share == pytest.approx((frame.gender == c.group).mean())
    # list position: the list ordered by its key, 0 top .. 1 bottom
    key = kw["list_key"]
    order = np.flatnonzero(kw["listed"])[np.argsort(-key[kw["listed"]], kind="stable")]
    pos = np.empty(len(frame))
    pos[order] = np.arange(len(order)) / (len(order) - 1)
    m = next(x for x in g.groups if x.group == "M")
    assert m.mean_list_position == pytest.approx(pos[kw["listed"] & (frame.gender == "M").to_numpy()].mean())


def test_rows_must_match():
    frame, kw = book(100)
    kw["listed"] = kw["listed"][:-1]
    with pytest.raises(Exception, match="listed"):
        fz.fairness(CONFIG, frame, **kw)


# --- the dossier section and the business sentence -------------------------------------------------

def _ctx(lang, result):
    from churnlens.attribution.results import Attributions
    from churnlens.reports.context import ReportContext
    from churnlens.results import Results

    feats = ("gender", "age", "logins", "pension_plan", "height")
    attr = Attributions(customer_ids=np.arange(2), features=feats, values=np.zeros((2, 5), np.float32), base_value=0.0,
                        raw_score=np.zeros(2), score=np.zeros(2), output_space="log_odds", additivity_max_error=0.0,
                        method="test")
    return ReportContext(lang, None, Results.of(CONFIG, attr, result))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_dossier_section_shows_the_flags_in_both_languages(lang):
    from churnlens.reports import render
    from churnlens.reports.catalogue import text
    from churnlens.reports.sections import base, fairness as section

    frame, kw = book(over="M")
    result = fz.fairness(CONFIG, frame, **kw)
    ctx = _ctx(lang, result)
    placed = section.SECTION.place(ctx, base.Kit(ctx, base.Timings()))
    assert placed.template == "sections/d_fairness.html"
    page = render.make_environment(lang).get_template(placed.template).render(sec=placed.view, for_pdf=False)
    assert text(lang, "fairness.title") in page
    assert text(lang, "fairness.flag.selection_high") in page  # the planted over-selection, worded
    assert text(lang, "fairness.verdict_flagged", n=len(result.flagged)) in page
    assert text(lang, "fairness.kind_protected", label=CONFIG.label("gender", lang)) in page
    assert text(lang, "fairness.proxies_title") in page and CONFIG.label("pension_plan", lang) in page
    m = next(x for x in by(result, "gender").groups if x.group == "M")
    assert f"{100 * m.selection_rate:.1f}% ({m.selection_ratio:.2f})" in page
    # a fair list: no flag worded
    clear = fz.fairness(CONFIG, *book()[:1], **book()[1])
    ctx = _ctx(lang, clear)
    view = section.build(ctx, base.Kit(ctx, base.Timings()))
    assert view.verdict == text(lang, "fairness.verdict_clear")
    assert not any(g.flags for a in view.attributes for g in a.groups)


def test_business_sentence_is_one_neutral_sentence():
    from churnlens.reports.sections.fairness import business_sentence

    frame, kw = book(over="M")
    result = fz.fairness(CONFIG, frame, **kw)
    en, zh = business_sentence(result, CONFIG, "en"), business_sentence(result, CONFIG, "zh")
    assert en == ("The list's selection, contact and action rates were compared across the groups of each protected "
                  "attribute (Gender (protected), Age: age bands); 1 group falls outside the four-fifths range (see the "
                  "dossier's fairness section).")
    assert len(result.flagged) == 1
    assert zh.startswith("已按各受保护属性（性别（受保护属性），年龄：年龄段）") and "1 个群体" in zh
    assert business_sentence(None, CONFIG, "en") == ""
    empty = fz.fairness(parse_config({}), frame, **kw)
    assert empty.attributes == () and "No protected attribute" in business_sentence(empty, CONFIG, "en")


def test_fairness_of_run_reads_the_plan():
    from types import SimpleNamespace

    from churnlens.actions.results import FinalPlan, Targeting

    frame, kw = book(n=400, over="M")
    n = len(frame)
    refused = np.zeros(n, bool)
    refused[:50] = True
    t = Targeting(listed=kw["listed"], control=kw["listed"] & ~kw["contacted"], excluded=np.zeros(n, bool),
                  refused=refused & kw["listed"], generic=True)
    plan = FinalPlan(targeting=t, plans=(), rule_index=np.zeros(n, np.int64))
    aligned = SimpleNamespace(in_population=np.ones(n, bool), value=np.ones(n), label=kw["label"])
    attr = SimpleNamespace(score=kw["score"], values=kw["attributions"], features=kw["attribution_features"])
    segments = SimpleNamespace(keys=kw["segments"])
    result = fz.fairness_of_run(CONFIG, frame, aligned=aligned, churners=SimpleNamespace(mask=kw["selected"]),
                                plan=plan, attributions=attr, segments=segments, rules=())
    g = by(result, "gender")
    contacted = t.listed & ~t.control
    for x in g.groups:
        hit = (frame.gender == x.group).to_numpy()
        assert x.contact_rate == pytest.approx(contacted[hit].mean())
        assert x.action_rate == pytest.approx((contacted & ~t.refused)[hit].mean())  # refused: nothing personalised
