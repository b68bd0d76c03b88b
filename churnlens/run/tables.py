"""The report folder's ``tables/*.csv`` as frames: one function per table, shared by the files,
:meth:`churnlens.Run.table` (``drivers_frame()``, ``profiles_frame()``) and nothing else, so a
table and its frame cannot differ."""

from __future__ import annotations

from typing import Optional

import pandas as pd

from churnlens.actions import playbook
from churnlens.actions.results import RetentionList
from churnlens.attribution import drivers_table
from churnlens.attribution.results import GlobalDrivers
from churnlens.run.lists import retention_list
from churnlens.results import Results
from churnlens.run.loop_files import loop_tables
from churnlens.segmentation.claims import claims_frame
from churnlens.segmentation.results import Claims, SegmentProfiles


def tables(results: Results, *, machine: Optional[RetentionList] = None) -> dict[str, pd.DataFrame]:
    """Every table of ``tables/`` this run computed, by file name without ``.csv``
    (``machine``: the retention list in machine words, when already made). The segment rules'
    three files are written by :func:`churnlens.segmentation.write_segment_rules`; the loop's
    tables (back-test, uplift, budget, ``control_plan``) by :func:`churnlens.run.loop_files.loop_tables`."""
    machine = machine if machine is not None else retention_list(results)
    out = {
        "retention_plan": playbook.retention_plan(machine.frame),
        "segment_profiles": results[SegmentProfiles].frame,
        "drivers": drivers_table(results[GlobalDrivers]),
    }
    found = results.get(Claims)
    if found is not None:
        out["claims"] = claims_frame(found.items)
    out.update(loop_tables(results))
    return out
