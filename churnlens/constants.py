"""Every threshold shared between stages and documents, in one place (foundation layer).

Stages decide with these (stable / unstable, pass / fail, same / different reasons) and put
the verdict in their results; the documents print the verdict and, for the reader, the value.
"""

from __future__ import annotations

# Attributions: |base + sum(values) - model output| above this fails the additivity check,
# and the shap cross-check must agree within it.
ADDITIVITY_TOLERANCE = 1e-4
# Interaction values: among each segment's top drivers, on a seeded sample of its members
INTERACTION_DRIVERS = 5  # top drivers (signature order) per segment
INTERACTION_ROWS = 1000  # members sampled per segment (a mean |interaction| to ~3%)
INTERACTION_PAIRS = 3  # pairs shown per segment

# Segmentation
UNSTABLE_JACCARD = 0.6  # a segment whose mean best-match Jaccard over re-clusterings falls below is unstable
SAME_REASONS = 0.8  # cosine of two clusters' mean profiles at or above which they are one segment
ONE_SEGMENT_SIMILARITY = 0.8  # cosine to the churners' mean profile that counts as sharing it
MIN_SIMILARITY = 0.8  # cosine of two months' segment signatures below which they are different segments
# Segment lineage month to month (churnlens.segmentation.history.match_previous)
LINEAGE_MIN_CUSTOMERS = 10  # fewest shared members of a link between last month's and this month's segments
LINEAGE_SHARE = 0.25  # shared members' least share of either segment's members found in the other month
LINEAGE_PART = 0.1  # least weight of a part in the signature decomposition that confirms a link
# Segmentation by material drivers (segmentation/material.py)
COHERENCE_MIN = 0.7  # members' mean cosine to their mean material profile (weighted by material attribution) for a cluster to share reasons
COMBINATION_COS = 0.97  # NNLS reconstruction cosine that makes a cluster a combination of simpler segments
COMBINATION_PART = 0.15  # each part of a combination carries at least this share of it
COOCCURRENCE = 0.5  # share of the smaller segment's churners with both segments' private drivers that makes them one
DRIVER_MIN = 0.05  # smallest mean-profile share that makes a feature one of a segment's drivers (not exclusive)
MAJOR_DRIVER = 0.15  # mean-profile share of a major driver: clusters with the same reasons have each other's as drivers
MATERIAL_FLOORS = {"log_odds": 0.5, "probability": 0.05}  # default absolute materiality floor per output space

# Monitoring: population stability index
PSI_EPSILON = 1e-4  # shares are floored at this before the PSI formula (empty bins)
PSI_MODERATE = 0.1  # PSI < 0.1: stable
PSI_SHIFT = 0.25  # 0.1 <= PSI < 0.25: moderate; PSI >= 0.25: shift

# The monthly loop: back-test warnings (churnlens.evaluation.backtest)
TRAINING_GAP = 0.05  # in-sample AUC this far above the back-test AUC: the table looks like training data
NEAR_PERFECT_AUC = 0.98  # in-sample AUC at or above this: near-perfect separation (training data?)
FEW_OUTCOMES = 200  # back-tests on fewer matched customers are flagged
BOOTSTRAP_BLOCKS = 4096  # score blocks of the Poisson bootstrap (churnlens.evaluation.inference)
