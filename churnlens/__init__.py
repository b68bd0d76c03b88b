"""churnlens core: configuration, errors, data input, the demo book and the report pipeline.

The analysis stages live in the sibling packages ``attribution``, ``segmentation`` and
``reports``; this package holds what they share and the flow that connects them.
"""

__version__ = "0.1.0"
