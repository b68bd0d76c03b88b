"""churnlens: exact SHAP explanations, churner segments, retention actions and bilingual
reports from a trained churn model.

The public API (docs/api.md)::

    import churnlens
    r = churnlens.run(model, data, config)      # -> churnlens.Run
    r.write("report-folder", lang="en")

``run``, ``Run``, ``load_model``, ``explain``, ``Config`` and ``load_config`` are imported on
first use, so ``import churnlens`` (and ``churnlens --help``) stays fast.
"""

from churnlens.version import __version__

_API = ("Run", "load_model", "explain", "segment", "demo", "validate", "customer", "ReportOutcome")
_CONFIG = ("Config", "load_config")

__all__ = ["__version__", "run", *_API, *_CONFIG]


def __getattr__(name: str):
    if name == "run":  # the orchestration package, callable as churnlens.api.run (churnlens/run/__init__.py)
        import importlib

        return importlib.import_module("churnlens.run")
    if name in _API:
        from churnlens import api

        return getattr(api, name)
    if name in _CONFIG:
        from churnlens import config

        return getattr(config, name)
    raise AttributeError(f"module 'churnlens' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
