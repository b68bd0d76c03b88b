"""The YAML configuration: one validated, frozen model shared by every stage.

Keys and defaults are documented in ``docs/config.md``. :func:`load_config` is the only place that
reads the file; validation errors become :class:`~churnlens.errors.ConfigError` naming the
file, the key path, what was found and what was expected.
"""

from __future__ import annotations

import difflib
import re
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from churnlens.errors import ConfigError
from churnlens.io.files import read_bytes
from churnlens.io.sources import check_encoding, check_url_has_no_password, expand_env, storage_kind
from churnlens.redact import shorten

GROUPS = ("customer", "product", "behaviour", "channel", "other")
CHANNELS = ("relationship_manager", "phone", "app_push", "sms", "branch", "email")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Text(_Frozen):
    """A text in both report languages."""

    en: str
    zh: str

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    def __str__(self) -> str:  # where one text is needed without a language (machine words)
        return self.en


class FeatureSpec(_Frozen):
    """Data-dictionary entry: business words and role of one model feature."""

    label: Text
    group: Literal["customer", "product", "behaviour", "channel", "other"] = "other"
    actionable: bool = True
    protected: bool = False
    # a unit name the catalogue words (``years``, ``EUR``) or the unit in both languages
    # (``unit: {en: years, zh: 岁}``: "45 years" / "45岁")
    unit: Optional[Union[str, Text]] = None
    # Wording for segment names when a segment's values are low / high, e.g. for
    # mobile_logins_change: low: {en: "Collapsing mobile-banking use", zh: "手机银行使用骤降"}.
    low: Optional[Text] = None
    high: Optional[Text] = None
    # Business words for category levels and binary values, keyed by the value as text
    # (``values: {Germany: {en: Germany, zh: 德国}, 0: {en: inactive, zh: 不活跃}}``).
    values: dict[str, Text] = Field(default_factory=dict)
    # The model's encoded columns of this source feature (``columns: [Gender_Male, Gender_Female]``);
    # their attributions are summed (signed) to the feature.
    # One dictionary serves all the book's models: a listed column a given model lacks is a note,
    # not an error (the champion may use the raw ``Geography``, the challenger ``Geo_Germany``).
    columns: tuple[str, ...] = ()
    # The level no column of a drop-first encoding stands for (``reference_level: France`` with
    # ``columns: [Geo_Germany, Geo_Spain]``): shown instead of "other" when no column is set.
    reference_level: Optional[str] = None
    # Band edges for the traits pages (``bands: [18, 30, 45, 60]`` -> <18, 18-30, ..., >=60);
    # without them numeric traits get quantile bands of the whole book.
    bands: tuple[float, ...] = ()
    # Features that carry one mechanism (minutes and charge of the same calls) share a family
    # name: one driver for segmentation and naming (see ``claims.correlation`` for measured ones).
    family: Optional[str] = None
    # Levels of a tier feature that mark a VIP customer (``vip_levels: [gold, platinum]``):
    # their relationship-manager cards come first. Compared as text, like ``values:`` keys.
    vip_levels: tuple[str, ...] = ()

    @field_validator("vip_levels", mode="before")
    @classmethod
    def _vip_keys(cls, v: object) -> object:
        return tuple(value_key(k) for k in v) if isinstance(v, (list, tuple)) else v

    @field_validator("values", mode="before")
    @classmethod
    def _value_keys(cls, v: object) -> object:
        if not isinstance(v, dict):
            return v
        return {value_key(k): _both_languages(t) for k, t in v.items()}

    @field_validator("bands")
    @classmethod
    def _increasing(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError(f"band edges must be strictly increasing, found {list(v)}")
        return v

    def value_label(self, value: object, lang: str = "en") -> Optional[str]:
        """The dictionary's words for ``value`` (``values:``), or None."""
        t = self.values.get(value_key(value)) if self.values else None
        return t.get(lang) if t is not None else None


def value_key(value: object) -> str:
    """Key of a value in ``values:``: text as is, integral numbers without decimals (0, 0.0 -> "0"),
    booleans as 1/0."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)) or type(value).__module__ == "numpy":
        try:
            f = float(value)
        except (TypeError, ValueError):
            return str(value)
        return str(int(f)) if f.is_integer() else repr(f)
    return str(value)


class DictionaryConfig(_Frozen):
    """``require_all: true`` makes a model feature without a ``features:`` entry an error."""

    require_all: bool = False


class ReasonsConfig(_Frozen):
    """Listed reasons: ``k`` risk-raising reasons per customer, each at least
    ``min_contribution_pp`` probability points; ``protective``: risk-lowering factors listed."""

    k: Optional[int] = Field(None, ge=1, le=10)  # None: ``reason_codes`` (default 3)
    min_contribution_pp: float = Field(1.0, ge=0.0)
    protective: int = Field(1, ge=0, le=3)


class ChurnerSelection(_Frozen):
    """Which customers count as churners to segment and target.

    ``score``: predicted probability >= threshold (default 0.5); ``top_fraction``: the
    riskiest ``fraction`` of the book; ``label``: observed churners (needs label_column);
    ``value_at_risk``: the top ``fraction`` by score x value (needs value_column).
    """

    by: Literal["score", "top_fraction", "label", "value_at_risk"] = "score"
    threshold: float = Field(0.5, gt=0.0, lt=1.0)
    fraction: float = Field(0.1, gt=0.0, le=1.0)


class SegmentationConfig(_Frozen):
    """Segments from churners' material drivers (see ``segmentation/material.py``).

    ``min_cluster_size`` below 1 is a share of the churners, otherwise a count.
    ``materiality``: a driver is material for a churner when its attribution (measured
    against the typical customer) is at least this share of the churner's largest one and
    at least ``material_floor`` (output-space units; default 0.5 log-odds, 0.05 for
    probability-space models).
    ``noise``: ``mixed`` keeps churners without a segment's material driver in a visible
    "mixed reasons" group; ``assign`` gives them the segment whose drivers carry the largest
    part of their risk-raising attribution when that part is at least ``assign_min_strength``
    of their risk-raising attribution on all segments' drivers.
    """

    min_cluster_size: float = Field(0.02, gt=0.0)
    min_samples: Optional[int] = Field(None, ge=1)
    sample: int = Field(50_000, ge=100)
    seed: int = Field(0, ge=0)  # numpy generators take seeds >= 0
    noise: Literal["mixed", "assign"] = "mixed"
    assign_min_strength: float = Field(0.5, ge=0.0, le=1.0)
    max_dims: int = Field(20, ge=2)
    stability_runs: int = Field(5, ge=0)
    stability_fraction: float = Field(0.8, gt=0.0, lt=1.0)
    materiality: float = Field(0.2, gt=0.0, le=1.0)
    material_floor: Optional[float] = Field(None, ge=0.0)


class ClaimsConfig(_Frozen):
    """When a statement is made (``churnlens.segmentation.claims``; defaults documented in
    docs/config.md). ``min_support``: share of a segment's churners a name phrase must hold for;
    ``min_zone_pp``: smallest mean attribution of a risk zone, in probability points;
    ``min_lift``: a segment is named only when the customers its rules select churn at least this
    many times the book's rate (and the ``level`` interval of the difference excludes 0);
    ``correlation``: |r| at or above which two features are one driver; ``min_trait_pp``: a
    segment's trait (a level's or band's share) must differ from the book's by at least this many
    percentage points, the ``level`` interval of the difference excluding 0; ``min_trait_d``: a
    median trait needs |Cohen's d| at least this against the retained customers."""

    min_support: float = Field(0.5, gt=0.0, le=1.0)
    min_zone_pp: float = Field(1.0, ge=0.0)
    min_lift: float = Field(2.0, ge=1.0)
    level: float = Field(0.95, gt=0.5, lt=1.0)
    correlation: float = Field(0.95, gt=0.0, le=1.0)
    min_trait_pp: float = Field(5.0, ge=0.0, le=100.0)
    min_trait_d: float = Field(0.3, ge=0.0)


class AttributionConfig(_Frozen):
    """What gets exact attributions.

    ``targeted`` (default): every selected churner, plus a deterministic uniform sample of
    ``sample`` customers of the whole book for the global views (drivers, traits, drift),
    each sampled customer standing for n / sample customers. ``all``: every customer
    (auditors may ask; about 100x slower than scoring). Scores are always computed for all.
    """

    mode: Literal["targeted", "all"] = "targeted"
    sample: int = Field(20_000, ge=100)
    chunk_rows: int = Field(50_000, ge=100)


class ValueCondition(_Frozen):
    """Optional condition on the customer's own value of the rule's driver."""

    op: Literal["<", "<=", ">", ">=", "==", "!="]
    value: float | str


class RuleWhen(_Frozen):
    driver: str
    direction: Literal["up", "down"] = "up"
    condition: Optional[ValueCondition] = None


class PlaybookRule(_Frozen):
    """Driver (+ optional value condition) -> retention action."""

    when: RuleWhen
    action: Text
    channel: Literal["relationship_manager", "phone", "app_push", "sms", "branch", "email"] = "phone"
    cost: float = Field(0.0, ge=0.0)
    uplift: float = Field(0.0, ge=0.0, le=1.0)
    priority: int = Field(100, ge=0)
    # what the relationship manager may say when taking the action (cards), each {en, zh} or one string
    talking_points: tuple[Text, ...] = ()

    @field_validator("talking_points", mode="before")
    @classmethod
    def _points(cls, v: object) -> object:
        return tuple(_both_languages(t) for t in v) if isinstance(v, (list, tuple)) else v


def is_period(value: str) -> bool:
    """A reporting month ``YYYY-MM`` (month 01-12): the one rule for ``report.period``, the
    ``period`` argument and ``--period``."""
    return bool(re.fullmatch(r"\d{4}-\d{2}", value)) and 1 <= int(value[5:]) <= 12


def _both_languages(v: object) -> object:
    """A plain string stands for both languages (``title: "Churn review"``)."""
    return {"en": v, "zh": v} if isinstance(v, str) else v


class GenericAction(_Frozen):
    """The action customers who refused personalised marketing get instead of a personalised
    one (``report.generic_action``): the same for everyone, chosen from no data about them."""

    action: Text
    channel: Literal["relationship_manager", "phone", "app_push", "sms", "branch", "email"] = "email"
    cost: float = Field(0.0, ge=0.0)
    uplift: float = Field(0.0, ge=0.0, le=1.0)
    talking_points: tuple[Text, ...] = ()

    @field_validator("talking_points", mode="before")
    @classmethod
    def _points(cls, v: object) -> object:
        return tuple(_both_languages(t) for t in v) if isinstance(v, (list, tuple)) else v


class CardsConfig(_Frozen):
    """Relationship-manager cards (``cards.html`` / ``cards.pdf``): the ``top_n`` customers to
    contact by value at risk, VIPs first (``features.<f>.vip_levels``); 0 writes no cards."""

    top_n: int = Field(50, ge=0, le=5000)


class ReportConfig(_Frozen):
    """Branding and list options. ``title`` and ``institution`` take ``{en, zh}`` or one string."""

    title: Optional[Text] = None
    # no default institution: a real bank's cover must not name a demo bank (the row is left out)
    institution: Text = Text(en="", zh="")
    period: Optional[str] = None
    mask_ids: bool = True
    hash_ids: bool = False
    control_share: float = Field(0.1, ge=0.0, lt=1.0)
    rank_by: Literal["value_at_risk", "score"] = "value_at_risk"
    logo: Optional[str] = None
    accent: str = "#0072B2"
    do_not_contact: Optional[str] = None
    # ids that refused personalised marketing or automated decisions (a file read like do_not_contact):
    # excluded from the list, or listed with ``generic_action`` when one is given
    no_personalisation: Optional[str] = None
    generic_action: Optional[GenericAction] = None
    excel_bom: bool = False  # CSV outputs with a UTF-8 BOM, so Excel opens Chinese text correctly
    cards: CardsConfig = CardsConfig()
    # how a customer refuses personalised marketing (printed on ``churnlens customer`` explanations)
    refusal_contact: Optional[Text] = None
    # the dossier's purpose paragraph (the catalogue's standard text when None) and out-of-scope
    # uses added to the standard ones (credit decisions and the rest stay out of scope)
    purpose: Optional[Text] = None
    out_of_scope: tuple[Text, ...] = ()

    @field_validator("period", mode="before")
    @classmethod
    def _period(cls, v: object) -> object:
        if v is None:
            return v
        if not isinstance(v, str) or not is_period(v):
            raise ValueError("expected a month like '2026-11' (YYYY-MM, month 01 to 12)")
        return v

    @field_validator("logo", "do_not_contact", "no_personalisation", mode="before")
    @classmethod
    def _env_paths(cls, v: object, info) -> object:
        return expand_env(v, key=f"report.{info.field_name}") if isinstance(v, str) else v

    @field_validator("title", "institution", "refusal_contact", "purpose", mode="before")
    @classmethod
    def _text(cls, v: object) -> object:
        return _both_languages(v)

    @field_validator("out_of_scope", mode="before")
    @classmethod
    def _texts(cls, v: object) -> object:
        return [_both_languages(x) for x in v] if isinstance(v, (list, tuple)) else v

    @field_validator("accent")
    @classmethod
    def _hex_colour(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"#[0-9A-Fa-f]{6}", v):
            raise ValueError("expected a colour like '#0072B2'")
        return v


class DataConfig(_Frozen):
    """Where the customer table comes from when no ``data`` argument is given (``data:`` block).

    ``path``: a CSV/Parquet file or a folder of Parquet files (``${VAR}`` expanded, relative to
    the config file); ``url`` + ``query``: a SQLAlchemy URL and the SQL selecting the table (a
    password only as ``${VAR}``, expanded when connecting); ``encoding``: CSV text encoding.
    """

    path: Optional[str] = None
    url: Optional[str] = None
    query: Optional[str] = None
    encoding: Optional[str] = None

    @field_validator("path", mode="before")
    @classmethod
    def _env_path(cls, v: object) -> object:
        v = expand_env(v, key="data.path") if isinstance(v, str) else v
        if isinstance(v, str) and storage_kind(v):
            raise ValueError(f"{storage_kind(v)} is not supported as data.path: give a file or Parquet folder on this "
                             "machine (download or mount it), or a database URL as data.url with data.query")
        return v

    @field_validator("url")
    @classmethod
    def _no_password(cls, v: Optional[str]) -> Optional[str]:
        if v is not None:
            check_url_has_no_password(v, key="data.url")
        return v

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: Optional[str]) -> Optional[str]:
        return check_encoding(v, key="data.encoding")

    @model_validator(mode="after")
    def _one_source(self) -> "DataConfig":
        if self.path and self.url:
            raise ValueError("set either data.path or data.url, not both")
        if self.url and not self.query:
            raise ValueError("data.url needs data.query (the SQL that selects the customer table)")
        return self
# --- the monthly loop (issue 16): budget, trend thresholds, back-test, evaluate ---------------

class ChannelBudget(_Frozen):
    """One contact channel of the budget: cost per contact (added to the rule's own ``cost``,
    the offer) and the most contacts the channel can make this month (None: no limit)."""

    cost: float = Field(0.0, ge=0.0)
    capacity: Optional[int] = Field(None, ge=0)


class BudgetConfig(_Frozen):
    """Budgeted retention list: maximise expected net value = p(churn) x uplift x value - cost
    under the channels' capacities and the ``total`` budget (None: no overall limit)."""

    total: Optional[float] = Field(None, ge=0.0)
    channels: dict[Literal["relationship_manager", "phone", "app_push", "sms", "branch", "email"], ChannelBudget] = (
        Field(default_factory=dict))


class Thresholds(_Frozen):
    """Amber / red limits of the trend page: score PSI, and AUC drop against the pooled AUC of the
    window's earlier months; a change within chance stays green (``MonitoringConfig.confidence``)."""

    psi: tuple[float, float] = (0.1, 0.25)
    auc_drop: tuple[float, float] = (0.02, 0.05)

    @field_validator("psi", "auc_drop")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0.0 <= v[0] <= v[1]:
            raise ValueError(f"expected [amber, red] with 0 <= amber <= red, found {list(v)}")
        return v


class MonitoringConfig(_Frozen):
    thresholds: Thresholds = Thresholds()
    months: int = Field(12, ge=1, le=36)  # months shown on the trend page (this one included)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)  # a change chance explains at this level stays green


class LoopConfig(_Frozen):
    """Back-test intervals and the measured uplift's shrinkage (see churnlens.campaign.uplift)."""

    bootstrap: int = Field(200, ge=0, le=10_000)
    level: float = Field(0.95, gt=0.5, lt=1.0)
    uplift_prior_strength: float = Field(30.0, ge=0.0)  # in contacted customers (churnlens.campaign.pooled)
    min_treated: int = Field(30, ge=1)
    min_control: int = Field(30, ge=1)
    uplift_decay: float = Field(0.8, gt=0.0, le=1.0)  # weight of a month's evidence per month of age
    uplift_criterion: Literal["mean", "quantile"] = "mean"  # the uplift the plan uses
    uplift_quantile: float = Field(0.2, gt=0.0, lt=1.0)  # with uplift_criterion: quantile
    control_months: int = Field(2, ge=1, le=12)  # every action reaches min_control within this many months
    max_control_share: float = Field(0.5, gt=0.0, lt=1.0)  # cap of a raised per-action control share


class EvaluationConfig(_Frozen):
    """``churnlens evaluate``: ranking metric of the champion and its parameters.

    ``lift_at_k``: churn-rate lift of the riskiest share ``k``; ``expected_net_value``: realised
    net value of contacting the riskiest share ``k`` by score x value, sum of churned x
    ``uplift`` x value - ``cost`` (needs value_column).
    """

    rank_by: Literal["lift_at_k", "auc", "ks", "expected_net_value"] = "lift_at_k"
    k: float = Field(0.1, gt=0.0, le=1.0)
    uplift: float = Field(0.2, ge=0.0, le=1.0)
    cost: float = Field(0.0, ge=0.0)
    bootstrap: int = Field(200, ge=0, le=10_000)
    level: float = Field(0.95, gt=0.5, lt=1.0)


class Config(_Frozen):
    """Everything a run needs beyond the model and the data."""

    id_column: str = "customer_id"
    label_column: Optional[str] = None
    value_column: Optional[str] = None
    churners: ChurnerSelection = ChurnerSelection()
    features: dict[str, FeatureSpec] = Field(default_factory=dict)
    reason_codes: int = Field(3, ge=1, le=10)
    output_space: Literal["log_odds", "probability"] = "log_odds"
    attribution: AttributionConfig = AttributionConfig()
    segmentation: SegmentationConfig = SegmentationConfig()
    playbook: tuple[PlaybookRule, ...] = ()
    playbook_file: Optional[str] = None  # YAML file of more rules, relative to the config file
    report: ReportConfig = ReportConfig()
    seed: int = Field(0, ge=0)  # numpy generators take seeds >= 0
    dictionary: DictionaryConfig = DictionaryConfig()
    reasons: ReasonsConfig = ReasonsConfig()
    data: DataConfig = DataConfig()
    claims: ClaimsConfig = ClaimsConfig()

    @field_validator("playbook_file", mode="before")
    @classmethod
    def _env_playbook(cls, v: object) -> object:
        return expand_env(v, key="playbook_file") if isinstance(v, str) else v
    # the monthly loop
    budget: Optional[BudgetConfig] = None
    monitoring: MonitoringConfig = MonitoringConfig()
    loop: LoopConfig = LoopConfig()
    evaluation: EvaluationConfig = EvaluationConfig()

    @model_validator(mode="after")
    def _label_needed(self) -> "Config":
        if self.churners.by == "label" and not self.label_column:
            raise ValueError("churners.by is 'label' but label_column is not set")
        if self.churners.by == "value_at_risk" and not self.value_column:
            raise ValueError("churners.by is 'value_at_risk' but value_column is not set")
        return self

    def with_updates(self, **dotted: Any) -> "Config":
        """A copy with the given keys changed and the whole config validated again (pydantic's
        ``model_copy(update=...)`` skips validation). Keys are dotted paths written with ``__``
        (``config.with_updates(report__period="2026-11", attribution__mode="all")``); see
        :func:`override` for keys given as ``{"report.period": ...}``."""
        return override(self, {k.replace("__", "."): v for k, v in dotted.items()})

    def data_columns(self) -> tuple[str, ...]:
        """Columns the config itself uses (id, label, value), whether or not the model does."""
        return tuple(c for c in (self.id_column, self.label_column, self.value_column) if c)

    def excluded_cause(self, feature: str) -> str:
        """Why ``feature`` is never an actionable reason: "protected", "non_actionable" or ""."""
        spec = self.features.get(feature)
        if spec is None:
            return ""
        if spec.protected:
            return "protected"
        return "" if spec.actionable else "non_actionable"

    def levels(self) -> dict[str, tuple[str, ...]]:
        """Category levels named by the dictionary's ``values`` keys, per feature, in the order
        given: for native categorical features whose model file does not store its levels.
        Dictionaries of numbers only (``0: inactive``) describe codes, not levels, and are left out."""
        def numeric(k: str) -> bool:
            try:
                float(k)
            except ValueError:
                return False
            return True

        return {f: tuple(spec.values) for f, spec in self.features.items()
                if spec.values and not all(numeric(k) for k in spec.values)}

    def label(self, feature: str, lang: str = "en") -> str:
        """Business label of ``feature`` in ``lang``; the raw name when not in the dictionary."""
        spec = self.features.get(feature)
        return spec.label.get(lang) if spec else feature

    def group(self, feature: str) -> str:
        spec = self.features.get(feature)
        return spec.group if spec else "other"

    @property
    def k_reasons(self) -> int:
        """Reasons listed per customer: ``reasons.k``, else ``reason_codes``."""
        return self.reasons.k if self.reasons.k is not None else self.reason_codes

    def value_label(self, feature: str, value: object, lang: str = "en") -> Optional[str]:
        """Business words for one value of ``feature`` from ``features.<f>.values``, or None."""
        spec = self.features.get(feature)
        return spec.value_label(value, lang) if spec is not None else None


def override(config: Config, updates: Mapping[str, Any], *, source: str = "arguments") -> Config:
    """``config`` with ``updates`` (``{"report.period": "2026-11"}``) applied and validated again
    through :meth:`Config.model_validate`: a value given by the CLI or Python meets the same
    checks as one in the config file. Raises :class:`ConfigError` naming the key."""
    data = config.model_dump(mode="python", exclude_unset=False)
    for dotted, value in updates.items():
        parts = dotted.split(".")
        node = data
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = {} if nxt is None else dict(nxt)
                node[part] = nxt
            node = nxt
        node[parts[-1]] = value
    return parse_config(data, source=source)


def _unwrap(annotation: Any) -> Any:
    """The model class an annotation holds (Optional[X], X | None), else the annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    return annotation


def fields_at(model: type[BaseModel], loc: tuple) -> tuple[str, ...]:
    """The valid keys of the mapping at ``loc`` (a pydantic error location) under ``model``."""
    current: Any = model
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if part not in current.model_fields:
                return ()
            current = current.model_fields[part].annotation
            continue
        origin = typing.get_origin(current)
        args = typing.get_args(current)
        if origin in (dict, Mapping) and len(args) == 2:
            current = args[1]
        elif origin in (tuple, list) and args:
            current = args[0]
        else:
            return ()
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return tuple(current.model_fields)
    return ()


def _one_edit(a: str, b: str) -> bool:
    """``a`` and ``b`` differ by one dropped, added, changed or swapped (adjacent) letter."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def closest_key(name: str, valid: tuple[str, ...]) -> Optional[str]:
    """The valid key ``name`` was probably meant to be: one typing slip away (letter case
    ignored), else the closest by ``difflib`` (ratio >= 0.6), else None."""
    low = name.lower()
    for v in valid:
        if v.lower() == low or _one_edit(low, v.lower()):
            return v
    close = difflib.get_close_matches(low, [v.lower() for v in valid], n=1, cutoff=0.6)
    return next((v for v in valid if close and v.lower() == close[0]), None)


def _unknown_key(name: str, valid: tuple[str, ...]) -> str:
    close = closest_key(name, valid)
    hint = f"did you mean {close!r}? " if close else ""
    return f"unknown key; {hint}valid keys here are: {', '.join(valid)}"


def format_validation_error(err: ValidationError, source: str, *, what: str = "configuration",
                            prefix: tuple[str, ...] = (), model: Optional[type[BaseModel]] = None,
                            hint: str = "Fix these keys (see docs/config.md) and run again.") -> tuple[str, str]:
    """One line per invalid key: its path, what was wrong, and the value found (shortened);
    an unknown key gets the valid keys at its level and the closest of them ("did you mean").
    Returns the message and the first key path (for ``err.key``)."""
    lines = [f"Invalid {what} in {source}:"]
    first = None
    # an unknown key first: a misspelt key often also leaves a required key missing
    errors = sorted(err.errors(), key=lambda e: e.get("type") != "extra_forbidden")
    for e in errors:
        loc = tuple(e["loc"])
        key = ".".join([*prefix, *(str(p) for p in loc)]) or "(top level)"
        first = first or key
        if e.get("type") == "extra_forbidden" and model is not None:
            valid = fields_at(model, loc[:-1])
            if valid:
                lines.append(f"  - {key}: {_unknown_key(str(loc[-1]), valid)}")
                continue
        found = e.get("input")
        if isinstance(found, (dict, list, tuple)):
            found_txt = ""
        elif e.get("type") in _SHAPE_ERRORS:  # a mapping expected: say what was there, never quote it
            found_txt = f" (found {kind_of(found)})"
        else:
            found_txt = f" (found {shorten(found)})"
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"  - {key}: {msg}{found_txt}")
    lines.append(hint)
    return "\n".join(lines), first


_SHAPE_ERRORS = ("model_type", "dict_type", "list_type", "tuple_type", "model_attributes_type")


def kind_of(data: object) -> str:
    """What a YAML value is, never its content (a wrong path may point at a credentials file)."""
    return {str: "a text", int: "a number", float: "a number", bool: "a true/false value",
            dict: "a YAML mapping", list: "a YAML list", type(None): "nothing"}.get(type(data), "a value")


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names the same key twice (PyYAML alone would keep the last silently)."""

    def __init__(self, key: object, first: int, second: int) -> None:
        super().__init__(f"key {key!r} appears twice (lines {first} and {second})")
        self.key, self.first, self.second = key, first, second


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (``churners:`` twice),
    naming it and both lines; merge keys (``<<: *base``) may still be overridden."""


def _strict_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            continue  # the constructor itself refuses unhashable keys
        line = key_node.start_mark.line + 1
        if key in seen:
            raise DuplicateKeyError(key, seen[key], line)
        seen[key] = line
    loader.flatten_mapping(node)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _strict_mapping)


def _not_utf8(data: bytes) -> str:
    """What a file that is not UTF-8 looks like, for the message."""
    # GB2312 (the common core of GBK) only: GB18030 decodes almost any bytes, Western Latin-1 text too
    for name, shown in (("gb2312", "GBK"), ("utf-16", "UTF-16")):
        if shown == "UTF-16" and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            continue
        try:
            data.decode(name)
        except UnicodeDecodeError:
            continue
        return f" (looks like {shown})"
    return ""


def read_yaml(path: Path, *, what: str, error: type[ConfigError] = ConfigError, hint: str = "",
              argument: str | None = None, key: str | None = None, kind: str = "config") -> object:
    """Parse a YAML file, raising ``error`` that names the file (and the argument or config key
    that gave it) when it is missing, not a regular file, too large (:mod:`churnlens.io.files`),
    not UTF-8, malformed, or holds a key twice. Messages never quote the file's lines (it may be
    a credentials file given by mistake): they give the line and column and what was wrong."""
    path = Path(path)
    data = read_bytes(path, kind, error=error, argument=argument, key=key, what=what, hint=hint)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not UTF-8 text{_not_utf8(data)}; save it as UTF-8 (in Notepad: Save As, "
                    "Encoding UTF-8) and run again.", argument=argument, key=key) from None
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - StrictLoader is a SafeLoader
    except DuplicateKeyError as err:
        raise error(f"{what} {path}: {err}; YAML keeps only one of them. Delete one and run again.",
                    argument=argument, key=key if key else str(err.key)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = shorten(getattr(err, "problem", None) or "invalid syntax", 120).strip("'")
        raise error(f"{what} {path} is not readable YAML{where}: {problem}. Fix the syntax and run again.",
                    argument=argument, key=key) from None


def parse_config(data: object, *, source: str = "<config>") -> Config:
    """Validate an already-parsed YAML mapping into a :class:`Config`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} must hold a YAML mapping of keys (id_column, features, ...); "
            f"found a {type(data).__name__}."
        )
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        message, key = format_validation_error(err, source, model=Config)
        raise ConfigError(message, key=key) from None
    except ConfigError as err:  # a key's own check (environment variable, password in a URL)
        raise ConfigError(f"Invalid configuration in {source}: {err}", key=err.key) from None


def beside_config(config_path: Optional[Path], path: str) -> Path:
    """Paths inside a config file are relative to the config file's folder."""
    p = Path(path)
    if p.is_absolute() or config_path is None:
        return p
    return Path(config_path).parent / p


def load_config(path: str | Path | None) -> Config:
    """Read and validate a YAML config file; ``None`` gives the defaults.

    Raises
    ------
    ConfigError
        The file is missing, is not valid YAML, or has an invalid key.
    """
    if path is None:
        return Config()
    path = Path(path)
    data = read_yaml(path, what="config: file", hint="Give the path of a YAML file.", argument="config")
    return parse_config(data, source=str(path))
