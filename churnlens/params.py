"""Argument checks for the public functions, at the boundary (scikit-learn's ``validate_params``
idea): each function declares the constraints of its keyword arguments and a wrong value is a
:class:`~churnlens.errors.UserInputError` naming the argument, before any work is done.

>>> @validate_params(lang=Options("en", "zh"), period=Period())
... def f(*, lang="en", period=None): ...
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable

from churnlens.config import is_period
from churnlens.errors import UserInputError

__all__ = ["Instance", "Options", "Period", "validate_params"]



def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class Options:
    """One of ``values`` (None allowed when ``optional``)."""

    values: tuple
    optional: bool = False

    def __init__(self, *values: Any, optional: bool = False) -> None:
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "optional", optional)

    def check(self, name: str, value: Any) -> None:
        if (value is None and self.optional) or value in self.values:
            return
        allowed = ", ".join(repr(v) for v in self.values) + (" or None" if self.optional else "")
        raise UserInputError(f"{name}: {_short(value)} is not allowed; use {allowed}.", argument=name)


@dataclass(frozen=True)
class Period:
    """A reporting month ``YYYY-MM`` (None allowed)."""

    def check(self, name: str, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, str) or not is_period(value):
            raise UserInputError(f"{name}: {_short(value)} is not a month; use YYYY-MM, e.g. 2026-11.",
                                 argument=name)


@dataclass(frozen=True)
class Instance:
    """An instance of ``types`` (None allowed when ``optional``), described as ``what``."""

    types: tuple
    what: str
    optional: bool = True

    def check(self, name: str, value: Any) -> None:
        if (value is None and self.optional) or isinstance(value, self.types):
            return
        raise UserInputError(f"{name}: expected {self.what}; found a {type(value).__name__}.", argument=name)


def validate_params(**constraints: Any) -> Callable[[Callable], Callable]:
    """Check the named arguments of the decorated function against ``constraints`` on every call."""

    def wrap(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        unknown = set(constraints) - set(sig.parameters)
        if unknown:
            raise TypeError(f"{fn.__name__} has no argument(s) {', '.join(sorted(unknown))}")

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            for name, constraint in constraints.items():
                constraint.check(name, bound.arguments[name])
            return fn(*args, **kwargs)

        checked.__signature__ = sig  # type: ignore[attr-defined]
        return checked

    return wrap
