"""Third-party names imported on first use, so that start-up imports only what the run's first
step needs (issue 34: start-up <= 1 s before the first stage).

``norm = lazy("scipy.stats", "norm")`` stands for ``from scipy.stats import norm``: calling it or
reading an attribute (``norm.ppf``) imports the module once and forwards to the real object.
Only for third-party modules; churnlens' own modules are imported at the top (tests/test_imports.py).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["lazy"]


class _Lazy:
    __slots__ = ("_module", "_name", "_obj")

    def __init__(self, module: str, name: str) -> None:
        self._module, self._name, self._obj = module, name, None

    def _get(self) -> Any:
        if self._obj is None:
            self._obj = getattr(importlib.import_module(self._module), self._name)
        return self._obj

    def __call__(self, *args, **kwargs):
        return self._get()(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._get(), attr)

    def __repr__(self) -> str:
        return f"<lazy {self._module}.{self._name}>"


def lazy(module: str, name: str) -> Any:
    """``name`` of ``module``, imported when first called or read."""
    return _Lazy(module, name)
