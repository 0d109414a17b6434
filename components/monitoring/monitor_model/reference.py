"""The monitoring reference: read whole, or streamed for drift and sampled for the rest."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from kfp_mlops.components.data.detect_drift.core import DriftResult
from kfp_mlops.components.monitoring.monitor_model.checks import LATENCY_COLUMN

log = logging.getLogger(__name__)


def reference_and_drift(
    reference_path: str, current_path: str, target: str, options: Mapping[str, Any]
) -> tuple[pd.DataFrame, DriftResult | None]:
    """The reference frame :func:`.core.monitor` gets, and its feature drift if streamed.

    A small single-file reference is read whole (``monitor`` computes the drift). When either
    side is sharded or large (over 1M rows) the drift is streamed: computed batch by batch
    (:func:`~kfp_mlops.components.data.detect_drift.streaming.feature_drift_streaming`,
    the same bins and PSI) and a systematic sample of about 100k rows stands in for it
    where predictions are needed (prediction drift, label checks).
    """
    from kfp_mlops.components.common.io import load_dataset_artifact
    from kfp_mlops.components.data.detect_drift import streaming

    # Either side sharded or large: both sides are binned in one streaming pass each.
    if not streaming.wants_streaming([p for p in (reference_path, current_path) if p]):
        return load_dataset_artifact(reference_path), None
    exclude = (target, options.get("latency_column", LATENCY_COLUMN))
    exclude += (options.get("timestamp_column", ""),)
    drift, sample, _ = streaming.feature_drift_streaming(
        reference_path,
        current_path,
        options.get("drift_threshold", 0.1),
        bins=options.get("bins", 10),
        exclude=tuple(c for c in exclude if c),
    )
    log.info("reference streamed for drift; %d sampled rows score the predictions", len(sample))
    return sample, drift
