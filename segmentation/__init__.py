"""Churner segmentation: select churners, cluster their attribution profiles, describe segments.

Pipeline: :func:`select_churners` -> :func:`segment` (material drivers, see
``segmentation/material.py``) -> :func:`describe` -> :func:`fit_rules` (surrogate-tree rules)
-> optionally :func:`match_previous` with :func:`load_previous`; files via
:func:`write_segments_csv`, :func:`write_segment_signatures` and :func:`write_segment_rules`.
"""

from churnlens.segmentation.clustering import absolute_min_cluster_size, segment
from churnlens.segmentation.describe import describe
from churnlens.segmentation.examples import pick_examples
from churnlens.segmentation.history import (
    SEGMENTS_CSV,
    SIGNATURES_JSON,
    load_previous,
    match_previous,
    write_segment_signatures,
    write_segments_csv,
)
from churnlens.segmentation.profiles import build_profiles
from churnlens.segmentation.results import (
    MIXED,
    ChurnerSet,
    Migration,
    PreviousSegments,
    Profiles,
    Segmentation,
    SegmentProfiles,
    SegmentRules,
    SegmentSummary,
)
from churnlens.segmentation.rules import fit_rules, to_sql, write_segment_rules
from churnlens.segmentation.selection import select_churners
from churnlens.segmentation.traits import segment_profiles

__all__ = [
    "MIXED",
    "SEGMENTS_CSV",
    "SIGNATURES_JSON",
    "ChurnerSet",
    "Migration",
    "PreviousSegments",
    "Profiles",
    "SegmentProfiles",
    "SegmentRules",
    "fit_rules",
    "to_sql",
    "write_segment_rules",
    "SegmentSummary",
    "segment_profiles",
    "Segmentation",
    "absolute_min_cluster_size",
    "build_profiles",
    "describe",
    "pick_examples",
    "load_previous",
    "match_previous",
    "segment",
    "select_churners",
    "write_segment_signatures",
    "write_segments_csv",
]
