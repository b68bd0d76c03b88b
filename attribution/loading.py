"""The one way in for a model: a file (:func:`churnlens.attribution.model.load_model_file`) or
an MLflow registry/run URI (:func:`churnlens.attribution.registry.load_registry_model`, which
loads the artifact it resolves to as a file)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from churnlens.attribution.model import LoadedModel, load_model_file, with_levels
from churnlens.attribution.registry import is_model_uri, load_registry_model


def load_model(path: str | Path, *, model_format: str | None = None, trust_model: bool = False,
               levels: Optional[dict] = None) -> LoadedModel:
    """Load a binary churn classifier from a model file or an MLflow model URI
    (``models:/NAME/STAGE``, ``models:/NAME@ALIAS``, ``runs:/RUN_ID/PATH``); see
    :func:`~churnlens.attribution.model.load_model_file` for the formats, ``trust_model`` and
    ``levels``."""
    if is_model_uri(path):
        return with_levels(load_registry_model(str(path), trust_model=trust_model), levels)
    return load_model_file(path, model_format=model_format, trust_model=trust_model, levels=levels)
