"""Equality for frozen result dataclasses that hold numpy arrays or pandas objects.

``dataclasses``' generated ``__eq__`` compares tuples of fields, which raises on arrays.
Decorating a ``@dataclass(frozen=True, eq=False)`` with :func:`array_eq` gives it a
field-by-field ``__eq__`` so tests can compare whole results (``result == expected``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd


def values_equal(a: object, b: object) -> bool:
    """Exact equality that understands arrays, frames and nested dataclasses."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype.kind in "fc" and b.dtype.kind in "fc":
            return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))
        return a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return type(a) is type(b) and a.equals(b)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return bool(a == b)


def array_eq(cls):
    """Class decorator: field-wise ``__eq__`` for a dataclass declared with ``eq=False``."""

    def __eq__(self, other):  # noqa: N807
        if type(self) is not type(other):
            return NotImplemented
        return all(
            values_equal(getattr(self, f.name), getattr(other, f.name)) for f in dataclasses.fields(self)
        )

    cls.__eq__ = __eq__
    cls.__hash__ = None
    return cls
