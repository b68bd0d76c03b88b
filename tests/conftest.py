"""Hypothesis profiles of the fuzz tests (``tests/test_fuzz_*.py`` and the property tests).

``ci`` (default): derandomized (fixed seeds, so a CI run is reproducible), no deadline (2 busy
cores), few examples. ``long``: many random examples, for a fuzzing session one command away::

    HYPOTHESIS_PROFILE=long pytest tests/test_fuzz_*.py

``dev``: random seeds, the ci example counts (to explore while keeping the test fast).
"""

from __future__ import annotations

import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is in the `test` extra; without it only the fuzz tests fail
    settings = None

if settings is not None:
    _quiet = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
    settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=_quiet,
                              print_blob=True, database=None)
    settings.register_profile("dev", deadline=None, suppress_health_check=_quiet, print_blob=True)
    settings.register_profile("long", deadline=None, suppress_health_check=_quiet, print_blob=True,
                              max_examples=1000)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def long_run() -> bool:
    """True in the ``long`` profile: tests that cap ``max_examples`` for CI lift the cap."""
    return os.environ.get("HYPOTHESIS_PROFILE") == "long"
