"""The Prometheus Pushgateway client: a run's figures as gauges in one group per job.

With ``model`` and ``version`` every pushed series carries ``model`` and ``version`` labels
(the model in the group's key, the version on each series), as the server's metrics do and
as the alert rules of ``components/monitoring/alert_rules`` select them. Prometheus scrapes
the gateway with ``honor_labels: true`` to keep them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from kfp_mlops.components.monitoring.monitor_model.baselines import METRICS

log = logging.getLogger(__name__)

#: Prometheus gauges pushed: (summary key, gauge name, help).
GAUGES = (
    ("accuracy", "model_monitor_accuracy", "Accuracy on the labelled recent window"),
    ("precision", "model_monitor_precision", "Precision (macro for multiclass)"),
    ("recall", "model_monitor_recall", "Recall (macro for multiclass)"),
    ("f1", "model_monitor_f1", "F1 score (macro for multiclass)"),
    ("rmse", "model_monitor_rmse", "RMSE on the labelled recent window (regression)"),
    ("mae", "model_monitor_mae", "MAE on the labelled recent window (regression)"),
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
#: The champion's baseline metric ``m`` as ``model_monitor_baseline_<m>`` (e.g. accuracy).
BASELINE_GAUGE = "model_monitor_baseline_{}"
BASELINE_METRICS = METRICS
#: Summary key -> gauge name, for the alert rules.
GAUGE_NAMES = {key: name for key, name, _ in GAUGES}
_QUANTILES = (("0.5", "latency_p50_ms"), ("0.95", "latency_p95_ms"), ("0.99", "latency_p99_ms"))


def push_metrics(
    summary: Mapping[str, Any],
    url: str,
    job: str = "kfp-mlops-monitoring",
    timeout: float = 10.0,
    column_missing: Mapping[str, float] | None = None,
    model: str | None = None,
    version: str | None = None,
    baseline: Mapping[str, float] | None = None,
) -> bool:
    """Push the summary's figures as gauges to a Prometheus Pushgateway.

    ``column_missing`` (column -> missing share) is pushed as
    ``model_monitor_column_missing_ratio{column="..."}``. ``model`` joins the group's key and
    ``version`` labels every series: a push replaces the model's group, so the figures of a
    version no longer served do not linger (and keep alerts firing). The ``baseline``
    metrics (accuracy, precision, recall, f1) are pushed as ``model_monitor_baseline_<m>``:
    the accuracy alerts compare with them.

    Figures that are absent (e.g. accuracy without labels) are not pushed. An unreachable or
    failing gateway is logged as a warning and returns ``False``: monitoring results are
    still written, and a metrics outage must not fail the run.

    Returns:
        Whether the push succeeded.
    """
    from prometheus_client import CollectorRegistry, push_to_gateway

    registry = CollectorRegistry()
    gauge = _Gauges(registry, version)
    for key, name, doc in GAUGES:
        if summary.get(key) is not None:
            gauge(name, doc).set(float(summary[key]))
    for quantile, key in _QUANTILES:
        if summary.get(key) is not None:
            doc = "Prediction latency percentile (ms)"
            gauge(LATENCY_GAUGE, doc, quantile=quantile).set(float(summary[key]))
    for column, ratio in (column_missing or {}).items():
        doc = "Share of missing values per feature column"
        gauge(COLUMN_MISSING_GAUGE, doc, column=column).set(float(ratio))
    for metric in BASELINE_METRICS:
        if (baseline or {}).get(metric) is not None:
            doc = f"The champion's baseline {metric}"
            gauge(BASELINE_GAUGE.format(metric), doc).set(float(baseline[metric]))
    gauge("model_monitor_last_run_timestamp_seconds", "Unix time of the monitoring run").set(
        time.time()
    )
    key = {"model": model} if model else {}
    try:
        push_to_gateway(url, job=job, registry=registry, timeout=timeout, grouping_key=key)
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
    log.info("pushed monitoring metrics to %s (job %s, model %s)", url, job, model or "-")
    return True


class _Gauges:
    """Gauges of one push, each labelled with the version (when there is one)."""

    def __init__(self, registry: Any, version: str | None) -> None:
        self.registry = registry
        self.base = {"version": version} if version else {}
        self.made: dict[str, Any] = {}

    def __call__(self, name: str, doc: str, **labels: str) -> Any:
        """The child of gauge ``name`` with ``labels`` (created on first use)."""
        from prometheus_client import Gauge

        labels = {**self.base, **labels}
        if name not in self.made:
            self.made[name] = Gauge(name, doc, list(labels), registry=self.registry)
        return self.made[name].labels(**labels) if labels else self.made[name]


def push_result(
    result: Any,
    url: str,
    job: str,
    model_metadata: Mapping[str, Any] | None,
    baseline: Mapping[str, float] | None,
) -> bool:
    """:func:`push_metrics` of a ``MonitorResult``, under the champion's model and version.

    The alert rules select on model and version, which fetch_champion's metadata carries.
    """
    meta = model_metadata or {}
    return push_metrics(
        result.summary(),
        url,
        job,
        column_missing=result.data_quality.missing_by_column if result.data_quality else None,
        model=str(meta.get("registered_model_name") or "") or None,
        version=str(meta.get("version") or "") or None,
        baseline=baseline,
    )
