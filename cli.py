"""Launcher for ``python cli.py ...`` from a source checkout.

The command line itself is :mod:`churnlens.cli` (installed as the ``churnlens`` console script);
this file only lets a checkout run it without installing the console script.
"""

import sys

from churnlens.cli import main

if __name__ == "__main__":
    sys.exit(main())
