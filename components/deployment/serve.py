"""Moved: the model server is the package :mod:`kfp_mlops.components.serving`.

Kept only while commands that name this path (``python -m
kfp_mlops.components.deployment.serve``) are moved over; it runs the same server.
"""

import sys

from kfp_mlops.components.serving.__main__ import build_parser, main  # noqa: F401
from kfp_mlops.components.serving.features import FeatureEncoder  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
