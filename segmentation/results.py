"""Result objects of the segmentation stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from churnlens.frozen import array_eq
from churnlens.notes import Note

MIXED = -1  # label of churners HDBSCAN leaves unclustered ("mixed reasons")


@array_eq
@dataclass(frozen=True, eq=False)
class ChurnerSet:
    """Which customers were selected as churners, and by which rule.

    Attributes
    ----------
    mask : ndarray of bool, shape (n,)
        Aligned with the rows of :class:`attribution.results.Attributions`.
    by : str
        "score" | "top_fraction" | "label" | "value_at_risk".
    rule : Note
        The rule as a code and its numbers, e.g. ``churners.score`` with threshold 0.5
        (the reports word it: "predicted churn probability >= 0.50").
    """

    mask: np.ndarray
    by: str
    rule: Note

    @property
    def count(self) -> int:
        return int(self.mask.sum())


@dataclass(frozen=True)
class Stability:
    """Agreement of re-clusterings on subsamples with the reported clustering."""

    runs: int
    overall_ari: Optional[float]  # mean ARI over runs (None when not computed)
    segment_jaccard: tuple[float, ...]  # per segment id 0..k-1, mean best-match Jaccard
    unstable: tuple[int, ...]  # segment ids with Jaccard below 0.6 (the report warns)


@dataclass(frozen=True)
class Combination:
    """An HDBSCAN cluster whose reasons are a mix of simpler segments (counted as overlap, not a segment)."""

    size: int  # churners of the fitting sample in the cluster
    parts: tuple[int, ...]  # final segment ids it combines (-1: a part later dissolved or merged)


@dataclass(frozen=True)
class MixedDriver:
    feature: str
    member_share: float  # share of the mixed group for whom the feature is a material driver
    mean_material: float  # mean material attribution among those members (output-space units)


@dataclass(frozen=True)
class MixedReasons:
    """The mixed-reasons group in numbers: why its members are in no segment, and their drivers."""

    size: int
    share: float  # of all churners
    counts: tuple[tuple[str, int], ...]  # ("no_material_driver" | "no_segment_driver", churners)
    drivers: tuple[MixedDriver, ...]  # most frequent material drivers of its members


@array_eq
@dataclass(frozen=True, eq=False)
class Segmentation:
    """Churners' segment labels.

    Attributes
    ----------
    rows : ndarray of int, shape (m,)
        Row positions of the churners in the attributions.
    customer_ids : ndarray, shape (m,)
    labels : ndarray of int, shape (m,)
        Segment id ``0..n_segments-1``, ordered by size descending; ``MIXED`` (-1) for
        churners with mixed reasons.
    strength : ndarray of float, shape (m,)
        Membership strength in [0, 1]: the share of the churner's material attribution
        carried by its segment's drivers (for a churner without a material driver that
        joined through its segment's drivers together: the share of its risk-raising
        attribution they carry; 0 for mixed reasons).
    n_segments : int
    representation : Note
        The profile used for clustering (``profile.pca`` / ``profile.direct`` / ``profile.none``
        with the numbers of features, dimensions, variance kept, zero profiles).
    min_cluster_size : int
        Absolute size used.
    n_fitted : int
        Churners in the deterministic fitting sample of the discovery (every churner is
        then assigned by the segments' drivers and profiles).
    seed : int
    stability : Stability
    notes : tuple of Note
        Empty, or what the documents must explain: degenerate cases ("no churners", "all
        mixed", ...), groups shown as mixed or merged.
    """

    rows: np.ndarray
    customer_ids: np.ndarray
    labels: np.ndarray
    strength: np.ndarray
    n_segments: int
    representation: Note
    min_cluster_size: int
    n_fitted: int
    seed: int
    stability: Stability
    notes: tuple[Note, ...] = ()
    fit_min_cluster_size: int = 0  # min_cluster_size passed to HDBSCAN on the fitting sample
    min_samples: int = 0  # HDBSCAN min_samples used
    noise: str = "mixed"  # SegmentationConfig.noise used
    n_assigned: int = 0  # unclustered churners given a segment (noise == "assign")
    # Material-driver method (segmentation.material)
    secondary: Optional[np.ndarray] = None  # (m,) secondary segment id, MIXED for none
    overlap: Optional[np.ndarray] = None  # (k, k) churners with primary segment i and secondary j
    materiality: float = 0.0  # relative materiality threshold used
    material_floor: float = 0.0  # absolute materiality floor used (output-space units)
    reference: Optional[np.ndarray] = None  # (f,) median attribution each feature is measured against
    segment_drivers: tuple[tuple[str, ...], ...] = ()  # per segment id: its drivers (two segments may share one)
    flags: tuple[tuple[str, ...], ...] = ()  # per segment id: verdict codes, e.g. ("unstable",)
    n_material: int = 0  # churners with at least one material driver
    combinations: tuple[Combination, ...] = ()  # clusters resolved to their parts
    mixed: Optional[MixedReasons] = None  # what the mixed-reasons group is made of

    @property
    def secondary_labels(self) -> np.ndarray:
        """Secondary segment id per churner (MIXED for none), shape (m,)."""
        return np.full(self.labels.shape, MIXED, dtype=np.int64) if self.secondary is None else self.secondary

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes of ``notes`` (e.g. "segmentation.single_material")."""
        return tuple(n.code for n in self.notes)


@dataclass(frozen=True)
class Effect:
    """How one feature differs between a segment and a comparison group."""

    feature: str
    segment_mean: float
    other_mean: float
    effect_size: float  # standardised mean difference (Cohen's d with pooled sd)
    level: str = ""  # categorical features: the category whose share is compared ("" otherwise)


@dataclass(frozen=True)
class SignatureItem:
    feature: str
    mean_attribution: float  # mean signed attribution within the segment
    share: float  # share of the segment's mean |attribution|


@dataclass(frozen=True)
class GroupSignatureItem:
    group: str
    mean_attribution: float
    share: float


@dataclass(frozen=True)
class NamePart:
    """One part of a segment's name: a distinguishing driver and where its values sit.

    ``direction`` is "low" / "high" (the segment's mean value against retained customers')
    or "" (no direction: categorical, or values unknown). ``level`` is the value that marks the
    segment, as text: the over-represented level of a categorical held by most of the segment
    ("Germany"), or the value of a 0/1 feature most of the segment has ("0"); "" otherwise.
    The documents word a level by the dictionary's ``values:``.
    """

    feature: str
    direction: str = ""
    level: str = ""
    # What the members have (segmentation.phrases): several risk levels of a categorical
    # ("France", "Spain") or numeric value ranges, inclusive, None = open end ((None, 1), (3, None):
    # "1 or 3+"); ``support``: share of the segment's churners the part holds for (NaN: not measured).
    levels: tuple[str, ...] = ()
    ranges: tuple[tuple[Optional[float], Optional[float]], ...] = ()
    support: float = field(default=float("nan"), compare=False)

    @property
    def stated(self) -> bool:
        """The part states values (a direction, level, levels or ranges), not the driver alone."""
        return bool(self.direction or self.level or self.levels or self.ranges)


@dataclass(frozen=True)
class SegmentSummary:
    """Description of one segment (or of the mixed-reasons group, ``segment_id == MIXED``).

    ``key`` is the stable id shown to users ("S1", "S2", ... ; "MIX"), kept across months
    when ``--previous`` matches signatures.
    """

    segment_id: int
    key: str
    name: tuple[NamePart, ...]  # the name as parts, () for MIXED (reports word it)
    size: int
    share: float  # of all churners
    mean_score: float
    value_at_risk: float  # sum of score x value (0 when no value column)
    signature: tuple[SignatureItem, ...]  # top drivers by mean |attribution|
    group_signature: tuple[GroupSignatureItem, ...]
    top_drivers: tuple[str, ...]  # the distinguishing drivers the name is built from
    drivers_vs_churners: tuple[Effect, ...]  # attribution effects vs other churners
    traits_vs_churners: tuple[Effect, ...]  # feature-value effects vs other churners
    traits_vs_retained: tuple[Effect, ...]  # feature-value effects vs non-churners
    stability: Optional[float]  # Jaccard; None for MIXED
    # Added: the full clustering profile (mean risk-raising share per feature, all features,
    # model order) -- the signature vector matched month over month.
    profile_features: tuple[str, ...] = ()
    profile: tuple[float, ...] = ()
    name_with_key: bool = False  # another segment has the same name parts: the key is shown with it
    # No phrase holds for claims.min_support of the churners: the parts name the drivers only
    # and the documents word it "Mixed: <drivers>".
    name_mixed: bool = False


@dataclass(frozen=True)
class SegmentMatch:
    key: str  # this month's key (inherited from previous when matched)
    previous_key: Optional[str]  # the main previous segment (most shared members; None when new)
    similarity: float  # cosine similarity of signatures with previous_key (0 when new)
    code: str = "same"  # "same" | "merged" (several previous segments) | "split" (one of a previous segment's parts) | "new"
    previous_keys: tuple[str, ...] = ()  # every previous segment it descends from, main first
    overlap: float = 0.0  # share of its returning members (churners last month too) that were in previous_key


@dataclass(frozen=True)
class LineageEvent:
    """A merge or split between last month's and this month's segments (codes; reports word them).

    ``("merged", ("S1", "S3"), ("S1",))``: S1 and S3 merged into S1 (the key of the part that
    brought most members). ``("split", ("S2",), ("S2", "S5"))``: S2 split into S2 and S5.
    """

    code: str  # "merged" | "split"
    previous: tuple[str, ...]  # sorted by key for merges
    current: tuple[str, ...]  # main part first for splits
    shares: tuple[float, ...] = ()  # merges: share of the merged segment's returning members from each previous key; splits: share of the previous segment's returning members in each part


@dataclass(frozen=True)
class KeyLink:
    """Old key -> new key with a weight (share of the old segment's returning members, among its
    linked parts; 1.0 when matched by signature alone)."""

    previous: str
    current: str
    weight: float


@dataclass(frozen=True)
class Flow:
    from_key: str  # previous segment key, "NEW" for customers not churners last month
    to_key: str  # this month's key, "GONE" for last month's churners not churners now
    count: int


@dataclass(frozen=True)
class Migration:
    matches: tuple[SegmentMatch, ...]
    flows: tuple[Flow, ...]
    new_segments: tuple[str, ...]  # no previous segment at all
    vanished_segments: tuple[str, ...]  # previous segments with no part this month (merged ones are not vanished)
    events: tuple[LineageEvent, ...] = ()  # merges and splits
    key_map: tuple[KeyLink, ...] = ()  # every previous key's current key(s), for estimates that follow the lineage


@array_eq
@dataclass(frozen=True, eq=False)
class Profiles:
    """The representation of churners that is clustered.

    Attributes
    ----------
    rows : ndarray of int, shape (m,)
        Row positions in the attributions.
    features : tuple of str, length f
    shares : ndarray of float64, shape (m, f)
        Risk-raising attribution shares (positive attributions / their sum; 0 rows stay 0).
    embedding : ndarray of float64, shape (m, d)
        ``shares`` projected on ``d <= max_dims`` principal components (``shares`` itself
        when ``f <= max_dims``).
    explained_variance : float
        Share of the variance of ``shares`` kept by ``embedding`` (1.0 without PCA).
    n_zero : int
        Rows with no risk-raising attribution (profile of zeros).
    representation : Note
        The above as a code and its numbers, for the method appendix.
    """

    rows: np.ndarray
    features: tuple[str, ...]
    shares: np.ndarray
    embedding: np.ndarray
    explained_variance: float
    n_zero: int
    representation: Note


@dataclass(frozen=True)
class PreviousSignature:
    """Last month's signature of one segment (from ``segment_signatures.json``)."""

    key: str
    features: tuple[str, ...]
    vector: tuple[float, ...]
    name: Optional[tuple[NamePart, ...]] = None  # None: the file has no name parts (older churnlens)
    name_with_key: bool = False


@array_eq
@dataclass(frozen=True, eq=False)
class PreviousSegments:
    """Last month's segmentation, read by :func:`segmentation.load_previous`.

    Attributes
    ----------
    directory : str
    customer_ids : ndarray of str, shape (p,)
    keys : ndarray of str, shape (p,)
        Segment key of each previous churner ("S1", ..., "MIX").
    signatures : tuple of PreviousSignature
    """

    directory: str
    customer_ids: np.ndarray
    keys: np.ndarray
    signatures: tuple[PreviousSignature, ...]


@array_eq
@dataclass(frozen=True, eq=False)
class SegmentProfiles:
    """``frame``: one row per (segment, feature, stat, level), columns ``COLUMNS``, segments in
    the order given, features in model order, bands in value order."""

    frame: pd.DataFrame


# --- segments as rules (segmentation.rules) -------------------------------------------------

@dataclass(frozen=True)
class Condition:
    """One condition on a raw column. ``op``: "<=", ">", "in", "not_in"."""

    feature: str
    op: str
    threshold: Optional[float] = None  # numeric ops
    levels: tuple[str, ...] = ()  # "in" / "not_in"
    missing: bool = False  # True: a missing value satisfies the condition


@dataclass(frozen=True)
class SegmentRule:
    key: str  # segment key ("S1")
    segment_id: int
    rule_id: str  # "S1.1", "S1.2", ...
    conditions: tuple[Condition, ...]
    precision: float  # churners matching the rule: share in the segment
    coverage: float  # segment's churners: share matching the rule
    n: int  # churners matching the rule


@dataclass(frozen=True)
class SegmentQuality:
    """How well one segment's rules describe it, and the model's quality within it."""

    key: str
    segment_id: int
    size: int  # churners in the segment
    precision: float  # of all the segment's rules together
    coverage: float
    member_churn_rate: Optional[float]  # observed churn among its churners (None without labels)
    member_auc: Optional[float]  # AUC of the score among its churners (None: one class or no labels)
    population_n: int  # rows of the table matching the segment's rules (first-match order)
    population_churn_rate: Optional[float]
    population_auc: Optional[float]


@dataclass(frozen=True)
class SegmentRules:
    rules: tuple[SegmentRule, ...]  # in application (CASE WHEN) order
    quality: tuple[SegmentQuality, ...]
    default_key: str = "MIX"  # key of customers no rule matches
    max_depth: int = 3  # depth of the surrogate trees


@array_eq
@dataclass(frozen=True, eq=False)
class Segments:
    """The segments of this month (matched to last month's when a previous folder is given)
    and each attributed customer's segment key ("" = not a churner)."""

    items: tuple  # SegmentSummary, in key order
    keys: np.ndarray  # (m,) object


@dataclass(frozen=True)
class CustomerExample:
    """An example churner for a segment page: masked id and reason codes (feature, value, size)."""

    segment_key: str
    customer: str  # masked unless report.mask_ids is false
    score: float
    reasons: tuple  # (feature, the customer's value, size in probability points or None), strongest first


@dataclass(frozen=True)
class Examples:
    """The riskiest few churners of each segment."""

    items: tuple  # CustomerExample


# --- claims and their evidence (segmentation.claims) ------------------------------------------

@dataclass(frozen=True)
class Evidence:
    """The numbers behind one claim.

    ``support``: share of the segment's churners the phrase holds for (None: not a segment
    phrase); ``effect_pp``: size in probability points (mean attribution, or difference of
    churn rates for a segment's selection); ``churn_in`` / ``churn_out``: observed churn of the
    population customers the phrase selects / does not select, with Wilson intervals, and the
    Newcombe interval of the difference (``diff_low``, ``diff_high``); ``n`` / ``n_out``: their
    counts (None without labels); ``in_sample``: the labels are the model's training outcomes
    (None: unknown)."""

    support: Optional[float] = None
    effect_pp: Optional[float] = None
    churn_in: Optional[float] = None
    churn_in_low: Optional[float] = None
    churn_in_high: Optional[float] = None
    churn_out: Optional[float] = None
    churn_out_low: Optional[float] = None
    churn_out_high: Optional[float] = None
    diff_low: Optional[float] = None
    diff_high: Optional[float] = None
    n: Optional[int] = None
    n_out: Optional[int] = None
    in_sample: Optional[bool] = None


# statement code of a trait claim per profile stat (tables/segment_profiles.csv ``stat``)
TRAIT_STATEMENTS = {"share": "trait.share", "band": "trait.band", "missing": "trait.missing", "median": "trait.median"}


@dataclass(frozen=True)
class Claim:
    """One statement the documents may make, as codes and numbers (no words).

    ``kind``: "segment_name" | "set_apart" | "risk_zone" | "driver" | "trait" | "headline";
    ``claim``: a stable id ("S1.name.1", "drivers.Age.zone.2"); ``statement``: the code of the
    sentence (e.g. ``segment_name.range``) with ``params``; ``verdict``: "made" | "caveat" |
    "dropped", ``reason``: the code of the test that decided it ("" when made)."""

    claim: str
    kind: str
    segment: str
    feature: str
    statement: str
    evidence: Evidence
    verdict: str
    reason: str = ""
    level: str = ""  # category level(s), "|"-joined
    low: Optional[float] = None
    high: Optional[float] = None
    params: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class SegmentEvidence:
    """Whether a segment may be named: its rules evaluated on the whole book.

    ``selected_n`` / ``selected_churn``: population customers the segment's rules select and
    their observed churn (None without labels); ``book_churn``: the population's; ``lift``:
    their ratio; ``diff_low`` / ``diff_high``: Newcombe interval of selected minus the rest;
    ``precision``: of the rules among churners (share of the churners they match that are in the
    segment); ``rules_on_name``: the rules mention at least one of the features the name is built
    from; ``named``: the segment keeps its name; ``reason``: why not ("" | "not_above_book" |
    "unstable" | "no_rules")."""

    key: str
    segment_id: int
    selected_n: int
    selected_churn: Optional[float]
    book_churn: Optional[float]
    lift: Optional[float]
    diff_low: Optional[float]
    diff_high: Optional[float]
    precision: float
    rules_on_name: bool
    named: bool
    reason: str = ""


@dataclass(frozen=True)
class Families:
    """Groups of features that carry one mechanism (declared ``family:`` or |r| >= the
    ``claims.correlation`` bar on the book): one driver for segmentation and naming."""

    groups: tuple  # tuple of feature-name tuples


@dataclass(frozen=True, eq=False)
class SegmentationBasis:
    """The attributions segmentation and naming read: protected features left out, each
    family's attributions joined into its first feature (the reasons and drivers keep the full
    attributions)."""

    attributions: object  # Attributions


@dataclass(frozen=True)
class SegmentEvidences:
    """Each candidate segment's rules evaluated on the whole book, before unnamed segments were
    dissolved (the claims show why a group was not named)."""

    items: tuple  # SegmentEvidence


@dataclass(frozen=True)
class Claims:
    """Every claim the documents may make, with its evidence and verdict (``tables/claims.csv``)."""

    items: tuple  # Claim
