"""Dossier: model card (family, format, file hash, trees) and the data dictionary of its features."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from churnlens.reports.context import ReportContext
from churnlens.reports.sections.base import Kit, Section


@dataclass(frozen=True)
class FeatureRow:
    name: str
    label: str
    group: str
    actionable: bool
    protected: bool


@dataclass(frozen=True)
class ModelCardView:
    model: object  # ModelInfo
    model_file: str
    features: tuple[FeatureRow, ...]
    best_iteration_note: str = ""  # what the family's best_iteration means (empty without one)


def build(ctx: ReportContext, kit: Kit) -> ModelCardView:
    cfg, model = ctx.config, ctx.facts.model
    feats = tuple(FeatureRow(f, kit.label(f), kit.text(f"group.{cfg.group(f)}"),
                             cfg.features[f].actionable if f in cfg.features else True,
                             cfg.features[f].protected if f in cfg.features else False) for f in model.feature_names)
    note = ""
    if getattr(model, "best_iteration", None) is not None:
        note = kit.text("dossier.best_iteration_" + ("sklearn" if model.family.startswith("sklearn") else model.family))
    # a registry model is named by its registry facts, not by the stage or version the URI ends with
    shown = model.registry.uri if model.registry is not None else Path(model.path).name
    return ModelCardView(model, shown, feats, note)


SECTION = Section("model-card", "dossier.model_card_title", build, "d_model_card.html")
