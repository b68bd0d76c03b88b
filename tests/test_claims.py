"""Claims and their evidence: name phrases describe what most members have (several risk levels,
humps, 0/1 words), zones are reported only with their evidence, recomputed from raw data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnlens.attribution.drivers import zone_evidence
from churnlens.attribution.results import RiskZone
from churnlens.config import parse_config
from churnlens.proportions import newcombe, wilson
from churnlens.reports import words
from churnlens.segmentation.families import families, prepare
from churnlens.segmentation.phrases import holds, phrase_of
from churnlens.segmentation.results import NamePart


def test_wilson_and_newcombe_match_scipy_and_the_formula():
    from scipy.stats import binomtest

    ci = binomtest(12, 100).proportion_ci(method="wilson")
    assert wilson(12, 100) == pytest.approx((ci.low, ci.high))
    lo, hi = newcombe(30, 100, 20, 120)
    (l1, u1), (l2, u2) = wilson(30, 100), wilson(20, 120)
    d = 0.3 - 20 / 120
    assert lo == pytest.approx(d - np.sqrt((0.3 - l1) ** 2 + (u2 - 20 / 120) ** 2))
    assert hi == pytest.approx(d + np.sqrt((u1 - 0.3) ** 2 + (20 / 120 - l2) ** 2))


def test_a_driver_with_two_risk_levels_is_named_by_them():
    # 836 churners: 548 hold 1 product (risk), 100 hold 2 (no risk), 188 hold 3 or 4 (risk)
    products = pd.Series(np.r_[np.ones(548), np.full(100, 2.0), np.full(150, 3.0), np.full(38, 4.0)])
    driven = products.to_numpy() != 2
    retained = pd.Series(np.r_[np.ones(400), np.full(500, 2.0), np.full(30, 3.0), np.full(5, 4.0)])
    p = phrase_of(products, driven, reference=retained)
    assert p.ranges == ((1.0, 1.0), (3.0, None)) and p.direction == ""
    assert p.support == pytest.approx((548 + 188) / 836)
    assert holds(p, products).sum() == 548 + 188
    part = NamePart("NumOfProducts", p.direction, p.level, p.levels, p.ranges, p.support)
    cfg = parse_config({"features": {"NumOfProducts": {"label": {"en": "Number of products", "zh": "持有产品数"}}}})
    seg = type("Seg", (), {"segment_id": 0, "key": "S1", "name_with_key": False, "name_mixed": False, "name": (part,)})()
    assert words.segment_name(seg, cfg, "en") == "Number of products: 1 or 3+"
    assert words.segment_name(seg, cfg, "zh") == "持有产品数：1或3及以上"


def test_a_hump_is_named_as_the_range_it_is():
    rng = np.random.default_rng(0)
    age = pd.Series(rng.integers(18, 93, 2000).astype(float))
    driven = ((age >= 50) & (age <= 65)).to_numpy() & (rng.random(2000) < 0.9)
    members = age[(age >= 45) & (age <= 70)]
    p = phrase_of(members, driven[members.index], reference=age)
    (lo, hi), = p.ranges
    assert 49 <= lo <= 52 and 63 <= hi <= 66
    assert p.support == pytest.approx(((members >= lo) & (members <= hi)).mean())
    cfg = parse_config({"features": {"Age": {"label": {"en": "Age", "zh": "年龄"}}}})
    part = NamePart("Age", p.direction, "", (), p.ranges, p.support)
    seg = type("Seg", (), {"segment_id": 0, "key": "S1", "name_with_key": False, "name_mixed": False, "name": (part,)})()
    assert words.segment_name(seg, cfg, "en") == f"Age: {lo:.0f}–{hi:.0f}"


@pytest.mark.parametrize("lang,values,expected", [
    ("en", {1: {"en": "Yes", "zh": "是"}, 0: {"en": "No", "zh": "否"}}, "Deposit maturing soon"),
    ("zh", {1: {"en": "Yes", "zh": "是"}, 0: {"en": "No", "zh": "否"}}, "定期即将到期"),
    ("en", {}, "Deposit maturing soon")])
def test_a_binary_feature_is_named_with_its_word_never_yes(lang, values, expected):
    flag = pd.Series(np.r_[np.ones(70), np.zeros(30)])
    p = phrase_of(flag, flag.to_numpy() == 1)
    assert p.level == "1" and p.support == pytest.approx(0.7)
    cfg = parse_config({"features": {"deposit_soon": {"label": {"en": "Deposit maturing soon", "zh": "定期即将到期"},
                                                       "values": values}}})
    seg = type("Seg", (), {"segment_id": 0, "key": "S1", "name_with_key": False, "name_mixed": False,
                           "name": (NamePart("deposit_soon", "", "1", (), (), 0.7),)})()
    assert words.segment_name(seg, cfg, lang) == expected
    off = type("Seg", (), {"segment_id": 0, "key": "S1", "name_with_key": False, "name_mixed": False,
                           "name": (NamePart("deposit_soon", "", "0", (), (), 0.7),)})()
    assert words.segment_name(off, cfg, lang) == {"en": "Deposit maturing soon: no", "zh": "定期即将到期：否"}[lang]


def test_a_mixed_name_says_what_is_true():
    cfg = parse_config({"features": {"Balance": {"label": {"en": "Balance", "zh": "余额"}}}})
    seg = type("Seg", (), {"segment_id": 0, "key": "S1", "name_with_key": False, "name_mixed": True,
                           "name": (NamePart("Balance"), NamePart("logins"))})()
    assert words.segment_name(seg, cfg, "en") == "Mixed: balance, logins"
    assert words.segment_name(seg, cfg, "zh") == "混合：余额、logins"


def test_zone_evidence_recomputed_from_raw_labels():
    rng = np.random.default_rng(1)
    n = 5000
    x = pd.Series(rng.normal(size=n))
    churn = (rng.random(n) < np.where(x > 1, 0.4, 0.1)).astype(float)
    pp = np.where(x > 1, 5.0, -0.5)
    zone = RiskZone(low=1.0, high=None, mean_attribution=0.3, n=int((x > 1).sum()), share=0.16)
    z, verdict = zone_evidence(zone, x, pp, churn, min_pp=1.0)
    inside = (x >= 1).to_numpy()
    assert verdict == "" and z.mean_pp == pytest.approx(5.0)
    assert z.churn_in == pytest.approx(churn[inside].mean()) and z.churn_out == pytest.approx(churn[~inside].mean())
    lo, hi = newcombe(churn[inside].sum(), inside.sum(), churn[~inside].sum(), (~inside).sum())
    assert (z.diff_low, z.diff_high) == pytest.approx((lo, hi)) and lo > 0
    # the same zone on labels that do not depend on x: not reported
    noise = (rng.random(n) < 0.2).astype(float)
    assert zone_evidence(zone, x, pp, noise, min_pp=1.0)[1] == "churn_not_higher"
    # an immaterial zone (0.5 probability points) is not reported either, labels or not
    assert zone_evidence(zone, x, np.full(n, 0.5), None, min_pp=1.0)[1] == "not_material"


def test_columns_moving_together_are_one_driver_and_protected_ones_are_out():
    from churnlens.attribution.results import Attributions

    rng = np.random.default_rng(2)
    minutes = rng.gamma(2.0, 100.0, 1000)
    X = pd.DataFrame({"eve_minutes": minutes, "eve_charge": minutes * 0.085, "day_minutes": rng.normal(size=1000),
                      "gender": rng.integers(0, 2, 1000), "logins": rng.poisson(3, 1000).astype(float),
                      "app_logins": rng.poisson(3, 1000).astype(float)})
    cfg = parse_config({"features": {"gender": {"label": {"en": "Gender", "zh": "性别"}, "protected": True},
                                     "logins": {"label": {"en": "Logins", "zh": "登录"}, "family": "activity"},
                                     "app_logins": {"label": {"en": "App logins", "zh": "App 登录"},
                                                    "family": "activity"}}})
    fams = families(X, tuple(X.columns), cfg)
    assert fams == (("eve_minutes", "eve_charge"), ("logins", "app_logins"))
    V = rng.normal(size=(1000, 6)).astype(np.float32)
    a = Attributions(np.arange(1000).astype(str), tuple(X.columns), V, 0.0, V.sum(1).astype(float),
                     np.full(1000, 0.5), "log_odds", 0.0, "test")
    b = prepare(a, exclude=("gender",), families=fams)
    np.testing.assert_allclose(b.values[:, 0], V[:, 0] + V[:, 1], rtol=1e-5)
    assert (b.values[:, [1, 3, 5]] == 0).all()
    np.testing.assert_array_equal(b.values[:, 2], V[:, 2])


def _hump_book(seed: int, n: int = 12_000):
    """Risk only for ages 45-65 on a skewed age distribution, LightGBM's exact attributions."""
    import lightgbm as lgb

    from tests.books import booster_attributions

    rng = np.random.default_rng(seed)
    # skewed as a bank's book is: the oldest twentieth (about 58-92) is one quantile bin
    age = np.clip(np.round(18 + rng.gamma(4.0, 5.5, n)), 18, 92)
    X = pd.DataFrame({"Age": age, "balance": rng.gamma(2.0, 20_000.0, n), "tenure": rng.integers(0, 11, n).astype(float)})
    hump = (age >= 45) & (age <= 65)
    churned = (rng.random(n) < np.where(hump, 0.45, 0.08)).astype(int)
    booster = lgb.train(dict(objective="binary", learning_rate=0.08, num_leaves=15, min_child_samples=40, seed=seed,
                             verbose=-1, num_threads=2, deterministic=True, force_col_wise=True),
                        lgb.Dataset(X, label=churned), num_boost_round=120)
    return X, churned, booster_attributions(booster, X, np.array([f"{i:06d}" for i in range(n)], dtype=object))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_planted_hump_is_one_zone_of_its_range_in_sentence_chart_and_table(seed):
    """Risk only for ages 45-65 (a hump): the zone is about 45-65, not 45-to-the-oldest; the
    sentence of both languages and tables/drivers.csv give the zone's numbers, and the churn
    evidence is recomputed from the raw labels."""
    from churnlens.attribution.drivers import drivers_table, global_drivers, in_zone
    from churnlens.attribution.results import GlobalDrivers

    X, churned, attr = _hump_book(seed)
    n = len(X)
    cfg = parse_config({"features": {"Age": {"label": {"en": "Age", "zh": "年龄"}}}})
    d = next(d for d in global_drivers(attr, X, cfg, label=churned.astype(float)).drivers if d.feature == "Age")
    (z,) = d.zones
    assert z.low is not None and z.high is not None, "a hump is a closed range, never 'Age 45 or more'"
    assert 43 <= z.low <= 47 and 63 <= z.high <= 67
    inside = in_zone(z, X["Age"])
    assert z.churn_in == pytest.approx(churned[inside].mean()) and z.churn_out == pytest.approx(churned[~inside].mean())
    assert z.diff_low > 0 and z.mean_pp >= cfg.claims.min_zone_pp
    row = drivers_table(GlobalDrivers(drivers=(d,), groups=(), n_customers=n)).iloc[0]
    assert (row["low"], row["high"]) == (z.low, z.high)
    en, zh = words.risk_text(cfg, d, "en", "log_odds"), words.risk_text(cfg, d, "zh", "log_odds")
    assert f"{z.low:.0f}" in en and f"{z.high:.0f}" in en and f"{z.low:.0f}" in zh and f"{z.high:.0f}" in zh
    assert "or more" not in en


def test_zone_churn_on_in_sample_labels_says_so_and_a_memorised_model_only_confirms_with_a_caveat():
    """Labels of the scored table are the model's training outcomes: the zone's churn evidence
    carries in_sample (drivers.csv, claims.csv, the dossier's words in both languages); on a
    model at or above the near-perfect AUC the zone is made only with its caveat."""
    from types import SimpleNamespace

    from churnlens.attribution.drivers import drivers_table, global_drivers
    from churnlens.reports.sections.claims import rows_of
    from churnlens.segmentation.claims import build_claims, claims_frame

    X, churned, attr = _hump_book(0, n=6000)
    cfg = parse_config({"features": {"Age": {"label": {"en": "Age", "zh": "年龄"}}}})
    drivers = global_drivers(attr, X, cfg, label=churned.astype(float), in_sample=True)
    age = next(d for d in drivers.drivers if d.feature == "Age")
    assert age.zones and all(z.in_sample is True for z in age.zones)
    table = drivers_table(drivers)
    assert table.loc[table.feature == "Age", "zone_in_sample"].tolist() == [True] * len(age.zones)
    assert drivers_table(global_drivers(attr, X, cfg)).zone_in_sample.isna().all()  # no labels, no flag
    seg = SimpleNamespace(rows=np.zeros(0, dtype=np.int64), labels=np.zeros(0, dtype=np.int64))
    for auc, verdict, reason in ((0.85, "made", ""), (0.995, "caveat", "in_sample_memorised")):
        claims = build_claims((), seg, attr, X, cfg, drivers=drivers, label=churned.astype(float), in_sample=True,
                              auc=auc)
        zone = next(c for c in claims if c.claim == "drivers.Age.zone.1")
        assert (zone.verdict, zone.reason) == (verdict, reason) and zone.evidence.in_sample is True
        row = claims_frame(claims).set_index("claim").loc["drivers.Age.zone.1"]
        assert bool(row.in_sample) and row.churn_in == pytest.approx(age.zones[0].churn_in)
    words_of = {lang: next(r for r, c in zip(rows_of(claims, cfg, lang), claims) if c.claim == "drivers.Age.zone.1")
                for lang in ("en", "zh")}
    assert "in-sample" in words_of["en"].churn and "样本内" in words_of["zh"].churn
    assert "memorised" in words_of["en"].reason and "样本内" in words_of["zh"].reason


def test_distinguishing_traits_are_claims_with_evidence_and_protected_ones_never_business_traits():
    """A segment whose customers are mostly inactive and German (planted), with gender shifted
    too (protected) and a salary that is the book's: inactive and Germany are made trait claims
    whose support and difference from the book are recomputed from the raw data; gender is
    withheld as protected; salary is no trait. The profile pages list only made traits."""
    from churnlens.segmentation.claims import trait_claims
    from churnlens.segmentation.traits import segment_profiles
    from churnlens.reports.sections.traits import made_traits

    rng = np.random.default_rng(3)
    n = 8000
    seg = np.zeros(n, dtype=bool)
    seg[:800] = True
    X = pd.DataFrame({
        "active": np.where(seg, rng.random(n) < 0.15, rng.random(n) < 0.55).astype(int),
        "country": np.where(seg, rng.choice(["France", "Germany"], n, p=[0.3, 0.7]),
                            rng.choice(["France", "Germany", "Spain"], n, p=[0.5, 0.25, 0.25])),
        "gender": np.where(seg, rng.choice(["Female", "Male"], n, p=[0.65, 0.35]),
                           rng.choice(["Female", "Male"], n, p=[0.45, 0.55])),
        "salary": rng.uniform(10_000, 200_000, n)})
    churners = seg | (rng.random(n) < 0.1)
    keys = np.where(seg, "S1", "").astype(object)
    book = np.ones(n, dtype=bool)
    cfg = parse_config({"features": {"gender": {"label": {"en": "Gender", "zh": "性别"}, "protected": True},
                                     "active": {"label": {"en": "Active", "zh": "活跃"},
                                                "values": {0: {"en": "inactive", "zh": "不活跃"},
                                                           1: {"en": "active", "zh": "活跃"}}}}})
    prof = segment_profiles(X, keys, churners=churners, book=book, config=cfg, segments=["S1"]).frame
    claims = {c.claim: c for c in trait_claims(prof, X, cfg, population=book)}
    germany = claims["S1.trait.country.share.Germany"]
    assert germany.verdict == "made"
    sv, bv = (X.country[seg] == "Germany").mean(), (X.country == "Germany").mean()
    assert germany.evidence.support == pytest.approx(sv) and germany.evidence.effect_pp == pytest.approx(100 * (sv - bv))
    lo, hi = newcombe(sv * seg.sum(), seg.sum(), bv * n, n)
    assert (germany.evidence.diff_low, germany.evidence.diff_high) == pytest.approx((lo, hi)) and lo > 0
    assert (germany.evidence.n, germany.evidence.n_out) == (800, n)
    active = claims["S1.trait.active.share.1"]  # fewer active members than the book: a made trait, negative effect
    assert active.verdict == "made" and active.evidence.effect_pp < -30
    assert active.evidence.support == pytest.approx(X.active[seg].mean())
    assert claims["S1.trait.gender.share.Female"].verdict == "dropped"
    assert claims["S1.trait.gender.share.Female"].reason == "protected"
    assert not any(c.feature == "salary" and c.verdict == "made" for c in claims.values())
    shown = made_traits(tuple(claims.values()))
    assert ("S1", "country", "share", "Germany") in shown and not any(f == "gender" for _, f, _, _ in shown)
    from churnlens.reports.sections.claims import rows_of
    for lang, word in (("en", "Germany"), ("zh", "Germany")):
        row = next(r for r, c in zip(rows_of((germany,), cfg, lang), (germany,)))
        assert word in row.what and ("trait" in row.what if lang == "en" else "特征" in row.what)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_segment_page_says_what_its_rules_select_in_the_whole_book(lang, tmp_path):
    """Each named segment's page gives its rules' precision among churners and the churn of the
    customers they select in the book against the book's (in-sample: the label column), all
    recomputed from the raw table by applying the rules; rules naming none of the name's
    features are flagged."""
    from churnlens import reports
    from churnlens.reports import formatting
    from churnlens.reports.catalogue import text
    from churnlens.reports.sections.segment_pages import rules_on_book
    from churnlens.run.stages import AlignedFeatures
    from churnlens.segmentation.results import MIXED
    from churnlens.segmentation.rules import assign
    from tests.flow_fixture import build_context, relabel

    ctx = relabel(build_context(1500), lang)
    rules = ctx.segment_rules
    aligned = ctx[AlignedFeatures]
    pop = np.asarray(aligned.in_population, dtype=bool)
    y = np.asarray(aligned.label, dtype=float)
    on_all = assign(rules.rules, ctx.X_model)
    on_book = np.where(pop, on_all, "")
    churners = np.asarray(ctx.churners.mask, dtype=bool)
    named = [s for s in ctx.segments if s.segment_id != MIXED]
    assert named
    reports.render_documents(ctx, tmp_path, formats=("html",))
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    for s in named:
        ob = rules_on_book(ctx, s)
        sel = on_book == s.key
        assert ob.selected_n == int(sel.sum()) > 0
        assert ob.selected_churn == pytest.approx(y[sel].mean())
        assert ob.book_churn == pytest.approx(y[pop].mean())
        assert ob.in_sample is True
        picked = (on_all == s.key) & churners
        assert ob.precision == pytest.approx((ctx.segment_keys[picked] == s.key).mean())
        name_feats = {p.feature for p in s.name} or set(s.top_drivers)
        for d in ctx.drivers.drivers:
            if d.feature in name_feats:
                name_feats |= set(d.family)
        for r in (r for r in rules.rules if r.key == s.key):
            mentions = any(ctx.sources.source(c.feature) in name_feats for c in r.conditions)
            assert (r.rule_id in ob.off_name) == (not mentions)
        line = text(lang, "segment.rules_on_book", n=formatting.num(ob.selected_n), rate=formatting.pct(ob.selected_churn),
                    book=formatting.pct(ob.book_churn), precision=formatting.pct(ob.precision))
        assert line in page
    assert text(lang, "segment.rules_in_sample") in page


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_driver_whose_zones_all_failed_their_evidence_claims_no_direction(lang):
    """Salary's zones churn like the rest of the book: the drivers page claims neither a zone nor a
    direction for it ("lower X raises risk" would be a claim without evidence)."""
    from churnlens.attribution.results import Driver
    from churnlens.reports.catalogue import text

    cfg = parse_config({"features": {"salary": {"label": {"en": "Estimated salary", "zh": "估计年收入"}}}})
    zone = RiskZone(low=41_000.0, high=70_000.0, mean_attribution=0.1, n=1500, share=0.15)
    d = Driver("salary", "customer", 0.2, 0.0, 0.05, "down", None, zones=(), dropped_zones=((zone, "churn_not_higher"),))
    assert words.risk_text(cfg, d, lang) == text(lang, "drivers.no_zone", feature=cfg.label("salary", lang))
    never = Driver("salary", "customer", 0.2, 0.0, 0.05, "down", None)  # beyond the top ten: never examined
    assert words.risk_text(cfg, never, lang) == text(lang, "drivers.direction_down", feature=cfg.label("salary", lang))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_report_summary_says_how_much_of_the_churn_its_named_segments_explain(lang, tmp_path):
    """The demo run names segments: the executive summary's first sentence gives the share of
    churners in named segments, recounted from the churners' segment keys."""
    from churnlens import reports
    from churnlens.reports import formatting
    from churnlens.reports.catalogue import text
    from churnlens.segmentation.results import MIXED
    from tests.flow_fixture import build_context, relabel

    ctx = relabel(build_context(1500), lang)
    churners = np.asarray(ctx.churners.mask, dtype=bool)
    named = {s.key for s in ctx.segments if s.segment_id != MIXED}
    assert named
    k, n = int(np.isin(ctx.segment_keys[churners], list(named)).sum()), int(churners.sum())
    line = text(lang, "summary.lead_named", share=formatting.pct(k / n), k=formatting.num(k), n=formatting.num(n),
                rest=formatting.num(n - k), segments=len(named))
    reports.render_documents(ctx, tmp_path, formats=("html",))
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    from markupsafe import escape
    at = page.index('id="summary-lead"')
    assert str(escape(line)) in page[at:at + 2000] and at < page.index(text(lang, "summary.customers_scored"))


def _step_book(seed: int, n: int = 10_000):
    """Risk for any positive balance (a step at 0; 35% hold nothing) and for ages 45-65; a bank's
    LightGBM model whose balance attribution wiggles over the positive values."""
    import lightgbm as lgb

    from tests.books import booster_attributions

    rng = np.random.default_rng(seed)
    zero = rng.random(n) < 0.35
    X = pd.DataFrame({"Balance": np.where(zero, 0.0, np.round(rng.gamma(3.0, 30_000.0, n) + 1000, 2)),
                      "Age": rng.integers(18, 80, n).astype(float), "salary": rng.uniform(1e4, 2e5, n)})
    age = X["Age"].to_numpy()
    logit = -1.9 + np.where(zero, 0.0, 0.7) + np.where((age >= 45) & (age <= 65), 1.2, 0.0)
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    booster = lgb.train(dict(objective="binary", learning_rate=0.05, num_leaves=31, min_child_samples=20, subsample=0.8,
                             subsample_freq=1, colsample_bytree=0.8, seed=seed, verbose=-1, num_threads=2,
                             deterministic=True, force_col_wise=True), lgb.Dataset(X, label=churned),
                        num_boost_round=300)
    return X, churned, booster_attributions(booster, X, np.array([f"{i:06d}" for i in range(n)], dtype=object))


@pytest.mark.parametrize("seed", [0, 2])
def test_a_step_at_zero_is_one_zone_whatever_the_model_splits(seed, monkeypatch):
    """Risk rises for any positive balance. The model's attribution wiggles over the positive
    values (three zones with gaps between them, each 'above the rest' only because the rest is
    the zero balances); the gaps churn above the zero balances, so the data support one zone:
    every positive balance, its churn against the zero balances recomputed from the raw labels."""
    from churnlens.attribution import drivers as drv
    from churnlens.attribution.drivers import global_drivers, in_zone

    X, churned, attr = _step_book(seed)
    cfg = parse_config({})
    y = churned.astype(float)
    bal = lambda: next(d for d in global_drivers(attr, X, cfg, label=y).drivers if d.feature == "Balance")  # noqa: E731
    with monkeypatch.context() as m:  # the model's own split: several zones
        m.setattr(drv, "_merge_zones", lambda zones, *a, **k: zones)
        assert len(bal().zones) >= 2
    d = bal()
    (z,) = d.zones
    assert z.low == X.Balance[X.Balance > 0].min() and z.high is None
    inside = in_zone(z, X["Balance"])
    np.testing.assert_array_equal(inside, X.Balance.to_numpy() > 0)
    assert z.churn_in == pytest.approx(churned[inside].mean()) and z.churn_out == pytest.approx(churned[~inside].mean())
    assert z.diff_low > 0


def test_a_real_dip_between_two_risk_levels_keeps_them_apart():
    """Two risk levels with the lowest churn between them (products: 1 and 3+, 2 far below):
    the zones are not joined, whatever the merge rule allows."""
    from churnlens.attribution.drivers import numeric_zones

    rng = np.random.default_rng(0)
    n = 9000
    x = rng.choice([0.0, 1.0, 2.0, 3.0, 4.0], n, p=[0.05, 0.45, 0.4, 0.07, 0.03])  # 0: a low-risk rest
    phi = np.where(x <= 0, -0.6, np.where(x == 2, -0.6, np.where(x == 1, 0.3, 1.5))) + rng.normal(0, 0.05, n)
    y = (rng.random(n) < np.where(x == 2, 0.07, np.where(x == 1, 0.27, np.where(x == 0, 0.07, 0.8)))).astype(float)
    assert {(z.low, z.high) for z in numeric_zones(x, phi, y)} == {(1.0, 1.0), (3.0, None)}
    assert {(z.low, z.high) for z in numeric_zones(x, phi)} == {(1.0, 1.0), (3.0, None)}  # without labels too


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_zone_of_one_value_at_the_smallest_value_says_the_value_never_or_less(lang):
    """Products held 1..4, risk at 1 and at 3+: the zone at the smallest value holds 1 alone and
    reads "at 1" (zh "为1"), not "at 1 or less"; the zone of 3 and 4 still reads "3 or more";
    the claim words agree; drivers.csv keeps the open end (low empty, high 1)."""
    from churnlens.attribution.drivers import global_drivers, drivers_table
    from churnlens.reports.catalogue import text
    from churnlens.segmentation.claims import build_claims
    from types import SimpleNamespace

    rng = np.random.default_rng(1)
    n = 9000
    x = rng.choice([1.0, 2.0, 3.0, 4.0], n, p=[0.5, 0.42, 0.06, 0.02])
    phi = np.where(x == 2, -0.6, np.where(x == 1, 0.3, 1.5)) + rng.normal(0, 0.05, n)
    from churnlens.attribution.results import Attributions
    attr = Attributions(np.arange(n).astype(str), ("products",), phi[:, None].astype(np.float32), -1.0,
                        phi - 1.0, np.full(n, 0.5), "log_odds", 0.0, "test")
    cfg = parse_config({"features": {"products": {"label": {"en": "Products", "zh": "产品数"}}}})
    X = pd.DataFrame({"products": x})
    d = global_drivers(attr, X, cfg).drivers[0]
    one = next(z for z in d.zones if z.high == 1.0)
    assert one.low is None and one.value == 1.0
    sentence = words.risk_text(cfg, d, lang, "log_odds")
    assert text(lang, "drivers.zone_single", low="1") in sentence
    assert text(lang, "drivers.zone_below", high="1") not in sentence
    assert text(lang, "drivers.zone_above", low="3") in sentence
    row = drivers_table(SimpleNamespace(drivers=(d,), groups=(), n_customers=n)).set_index("high").loc[1.0]
    assert np.isnan(row["low"])
    seg = SimpleNamespace(rows=np.zeros(0, dtype=np.int64), labels=np.zeros(0, dtype=np.int64))
    claims = build_claims((), seg, attr, X, cfg, drivers=SimpleNamespace(drivers=(d,), groups=(), n_customers=n))
    zc = next(c for c in claims if c.kind == "risk_zone" and c.high == 1.0)
    assert text(lang, "drivers.zone_single", low="1") in words.claim_text(zc, cfg, lang)
