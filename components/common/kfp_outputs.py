"""What the component wrappers write into their KFP output artifacts.

Kept here so that each wrapper stays a call to its core plus one line per output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def log_finite(metrics: Any, values: Mapping[str, float], prefix: str = "") -> None:
    """Log each finite value of ``values`` into a KFP ``Metrics`` artifact.

    KFP metrics must be JSON numbers, so NaN and infinities (a metric that does not apply)
    are left out rather than failing the task.

    Args:
        metrics: The ``Metrics`` output artifact (anything with ``log_metric``).
        values: Metric names and values.
        prefix: Put before every name (``champion_`` for the champion's metrics).
    """
    for name, value in values.items():
        if math.isfinite(value):
            metrics.log_metric(f"{prefix}{name}", float(value))


def publish_optimized(metrics: Any, model: Any, result: Any) -> bool:
    """Write an optimization step's result (prune, quantize, distill) into its outputs.

    Args:
        metrics: The step's ``Metrics`` output.
        model: The step's ``Model`` output; its metadata gets ``result.metadata``.
        result: The core's result, with ``metrics``, ``metadata`` and ``blessed``.

    Returns:
        ``result.blessed``, the step's return value.
    """
    log_finite(metrics, result.metrics)
    model.metadata.update(result.metadata)
    return result.blessed
