"""The example churners shown on each segment page."""

from __future__ import annotations

import numpy as np

from churnlens.io.tables import mask_id
from churnlens.segmentation.results import CustomerExample, Examples, Segmentation


def pick_examples(seg: Segmentation, summaries, attr, codes, *, mask: bool = True, per_segment: int = 5) -> Examples:
    """The riskiest ``per_segment`` churners of each segment (ties by row), ids masked when ``mask``.

    ``attr`` are the attributions (customer ids, scores) and ``codes`` the reason codes of the
    segmented rows; each example keeps its reasons as (feature, the customer's value, size in probability
    points, None when the codes carry no sizes).
    """
    out = []
    for s in summaries:
        members = seg.rows[seg.labels == s.segment_id]
        if len(members) == 0:
            continue
        order = members[np.lexsort((members, -attr.score[members]))][:per_segment]
        for r in order:
            cid = str(attr.customer_ids[r])
            out.append(CustomerExample(
                segment_key=s.key,
                customer=mask_id(cid) if mask else cid,
                score=float(attr.score[r]),
                # sized as on the retention list, so a page and the list say the same "(+52 pp)"
                reasons=tuple((f, v, None if codes.pp is None else float(codes.pp[r, j]))
                              for j, (f, v) in enumerate(zip(codes.features[r], codes.values[r])) if f),
            ))
    return Examples(tuple(out))
