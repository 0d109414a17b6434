"""The Prometheus Pushgateway client: a run's figures as gauges in one group per job."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

#: Prometheus gauges pushed: (summary key, gauge name, help).
GAUGES = (
    ("accuracy", "model_monitor_accuracy", "Accuracy on the labelled recent window"),
    ("precision", "model_monitor_precision", "Precision (macro for multiclass)"),
    ("recall", "model_monitor_recall", "Recall (macro for multiclass)"),
    ("f1", "model_monitor_f1", "F1 score (macro for multiclass)"),
    ("drifted_features", "model_monitor_drifted_features", "Features with PSI above threshold"),
    ("max_psi", "model_monitor_max_feature_psi", "Largest feature PSI"),
    ("prediction_psi", "model_monitor_prediction_psi", "PSI of the model's scores"),
    ("level", "model_monitor_level", "Quality level: 0 ok, 1 warning, 2 critical"),
    ("retrain", "model_monitor_retrain", "1 when this run asked for retraining"),
    ("rows", "model_monitor_rows", "Rows in the recent window"),
    ("missing_ratio", "model_monitor_missing_ratio", "Share of missing feature cells"),
    (
        "max_column_missing_ratio",
        "model_monitor_max_column_missing_ratio",
        "Largest share of missing values in one feature column",
    ),
    ("rows_with_missing", "model_monitor_rows_with_missing", "Rows with a missing feature"),
    ("incomplete_rows", "model_monitor_incomplete_rows", "Rows left out of the model checks"),
    ("duplicate_ratio", "model_monitor_duplicate_ratio", "Share of rows repeating an earlier row"),
    ("data_age_hours", "model_monitor_data_age_hours", "Age of the newest record (hours)"),
    ("model_age_days", "model_monitor_model_age_days", "Age of the champion (days)"),
)
#: Per-column missing share, labelled by ``column``.
COLUMN_MISSING_GAUGE = "model_monitor_column_missing_ratio"
LATENCY_GAUGE = "model_monitor_latency_ms"
_QUANTILES = (("0.5", "latency_p50_ms"), ("0.95", "latency_p95_ms"), ("0.99", "latency_p99_ms"))


def push_metrics(
    summary: Mapping[str, Any],
    url: str,
    job: str = "kfp-mlops-monitoring",
    timeout: float = 10.0,
    column_missing: Mapping[str, float] | None = None,
) -> bool:
    """Push the summary's figures as gauges to a Prometheus Pushgateway.

    ``column_missing`` (column -> missing share) is pushed as
    ``model_monitor_column_missing_ratio{column="..."}``.

    Figures that are absent (e.g. accuracy without labels) are not pushed. An unreachable or
    failing gateway is logged as a warning and returns ``False``: monitoring results are
    still written, and a metrics outage must not fail the run.

    Returns:
        Whether the push succeeded.
    """
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

    registry = CollectorRegistry()
    for key, name, doc in GAUGES:
        value = summary.get(key)
        if value is not None:
            Gauge(name, doc, registry=registry).set(float(value))
    latency = Gauge(
        LATENCY_GAUGE, "Prediction latency percentile (ms)", ["quantile"], registry=registry
    )
    for quantile, key in _QUANTILES:
        if summary.get(key) is not None:
            latency.labels(quantile=quantile).set(float(summary[key]))
    if column_missing:
        missing = Gauge(
            COLUMN_MISSING_GAUGE,
            "Share of missing values per feature column",
            ["column"],
            registry=registry,
        )
        for column, ratio in column_missing.items():
            missing.labels(column=column).set(float(ratio))
    Gauge(
        "model_monitor_last_run_timestamp_seconds",
        "Unix time of the monitoring run",
        registry=registry,
    ).set(time.time())
    try:
        push_to_gateway(url, job=job, registry=registry, timeout=timeout)
    except Exception as exc:  # URLError, HTTPError, timeouts: never fail monitoring on them
        log.warning(
            "could not push monitoring metrics to the Pushgateway at %s (job %s): %s; "
            "results are still in the run's outputs. Check pushgateway_url and that the "
            "gateway is reachable from the pod",
            url,
            job,
            exc,
        )
        return False
    log.info("pushed monitoring metrics to %s (job %s)", url, job)
    return True
