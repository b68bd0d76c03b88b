"""The YAML configuration: one validated, frozen model shared by every stage.

Keys and defaults are documented in ``docs/config.md``. :func:`load_config` is the only place that
reads the file; validation errors become :class:`~churnlens.errors.ConfigError` naming the
file, the key path, what was found and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from churnlens.errors import ConfigError
from churnlens.io.sources import check_encoding, check_url_has_no_password, expand_env

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


class FeatureSpec(_Frozen):
    """Data-dictionary entry: business words and role of one model feature."""

    label: Text
    group: Literal["customer", "product", "behaviour", "channel", "other"] = "other"
    actionable: bool = True
    protected: bool = False
    unit: Optional[str] = None
    # Wording for segment names when a segment's values are low / high, e.g. for
    # mobile_logins_change: low: {en: "Collapsing mobile-banking use", zh: "手机银行使用骤降"}.
    low: Optional[Text] = None
    high: Optional[Text] = None
    # Business words for category levels and binary values, keyed by the value as text
    # (``values: {Germany: {en: Germany, zh: 德国}, 0: {en: inactive, zh: 不活跃}}``).
    values: dict[str, Text] = Field(default_factory=dict)
    # The model's encoded columns of this source feature (``columns: [Gender_Male, Gender_Female]``);
    # their attributions are summed (signed) to the feature.
    columns: tuple[str, ...] = ()
    # Band edges for the traits pages (``bands: [18, 30, 45, 60]`` -> <18, 18-30, ..., >=60);
    # without them numeric traits get quantile bands of the whole book.
    bands: tuple[float, ...] = ()

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
    seed: int = 0
    noise: Literal["mixed", "assign"] = "mixed"
    assign_min_strength: float = Field(0.5, ge=0.0, le=1.0)
    max_dims: int = Field(20, ge=2)
    stability_runs: int = Field(5, ge=0)
    stability_fraction: float = Field(0.8, gt=0.0, lt=1.0)
    materiality: float = Field(0.2, gt=0.0, le=1.0)
    material_floor: Optional[float] = Field(None, ge=0.0)


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

    @field_validator("logo", "do_not_contact", "no_personalisation", mode="before")
    @classmethod
    def _env_paths(cls, v: object, info) -> object:
        return expand_env(v, key=f"report.{info.field_name}") if isinstance(v, str) else v

    @field_validator("title", "institution", mode="before")
    @classmethod
    def _text(cls, v: object) -> object:
        return _both_languages(v)

    @field_validator("accent")
    @classmethod
    def _hex_colour(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"#[0-9A-Fa-f]{6}", v):
            raise ValueError(f"expected a colour like '#0072B2', found {v!r}")
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
        return expand_env(v, key="data.path") if isinstance(v, str) else v

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
    """Amber / red limits of the trend page: score PSI, and AUC drop against the window's first realised AUC."""

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


class LoopConfig(_Frozen):
    """Back-test intervals and the measured uplift's shrinkage (see churnlens.campaign.uplift)."""

    bootstrap: int = Field(200, ge=0, le=10_000)
    level: float = Field(0.95, gt=0.5, lt=1.0)
    uplift_prior_strength: float = Field(50.0, ge=0.0)
    min_treated: int = Field(30, ge=1)
    min_control: int = Field(30, ge=1)


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
    seed: int = 0
    dictionary: DictionaryConfig = DictionaryConfig()
    reasons: ReasonsConfig = ReasonsConfig()
    data: DataConfig = DataConfig()

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


def format_validation_error(err: ValidationError, source: str, *, what: str = "configuration",
                            prefix: tuple[str, ...] = (),
                            hint: str = "Fix these keys (see docs/config.md) and run again.") -> str:
    """One line per invalid key: its path, what was wrong, and the value found."""
    lines = [f"Invalid {what} in {source}:"]
    for e in err.errors():
        key = ".".join([*prefix, *(str(p) for p in e["loc"])]) or "(top level)"
        found = e.get("input")
        found_txt = "" if isinstance(found, (dict, list, tuple)) else f" (found {found!r})"
        lines.append(f"  - {key}: {e['msg']}{found_txt}")
    lines.append(hint)
    return "\n".join(lines)


def read_yaml(path: Path, *, what: str, error: type[ConfigError] = ConfigError, hint: str = "",
              argument: str | None = None, key: str | None = None) -> object:
    """Parse a YAML file, raising ``error`` that names the file (and the argument or config key
    that gave it) when it is missing or malformed."""
    if not path.is_file():
        raise error(f"{what} {path} does not exist.{' ' + hint if hint else ''}", argument=argument, key=key)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise error(f"{what} {path} is not readable YAML: {err}. Fix the syntax and run again.",
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
        raise ConfigError(format_validation_error(err, source)) from None
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


def validated(config: Config, updates: dict[str, dict], *, source: str = "the options") -> Config:
    """``config`` with ``{section: {key: value}}`` replaced, each section validated exactly as
    the config file's (pydantic's ``model_copy(update=...)`` would skip validation).

    Raises
    ------
    ConfigError
        Naming the key (``err.key``, e.g. ``report.period``) and what was wrong.
    """
    sections = {}
    for section, values in updates.items():
        part = getattr(config, section)
        try:
            sections[section] = type(part).model_validate({**part.model_dump(), **values})
        except ValidationError as err:
            first = err.errors()[0]
            key = ".".join([section, *(str(p) for p in first["loc"])])
            raise ConfigError(format_validation_error(err, source, prefix=(section,),
                                                      hint="Fix these values and run again."), key=key) from None
    return config.model_copy(update=sections)
