"""DORA figures as Prometheus gauges on a Pushgateway, one group per model.

Pushed the way ``monitor_model`` pushes (``prometheus_client.push_to_gateway``, a fresh
registry per push, a warning and ``False`` when the gateway fails): the group is
``job=<job>, model=<model>`` so every model keeps its own series.
"""

from __future__ import annotations

import logging
import time

from kfp_mlops.components.registry.delivery_metrics.core import DeliveryMetrics

log = logging.getLogger(__name__)

DEFAULT_JOB = "kfp-mlops-delivery"
#: (figure key, gauge name, help).
GAUGES = (
    ("deployments", "dora_deployments", "Successful production deployments in the window"),
    (
        "deployment_frequency_per_day",
        "dora_deployment_frequency_per_day",
        "Deployments per day over the window",
    ),
    ("lead_time_median_seconds", "dora_lead_time_seconds", "Median lead time for changes"),
    ("change_failure_rate", "dora_change_failure_rate", "Failed changes / deployment attempts"),
    (
        "mean_time_to_restore_seconds",
        "dora_time_to_restore_seconds",
        "Mean time from a failure or rollback to the next successful deployment",
    ),
    ("open_incidents", "dora_open_incidents", "Failures or rollbacks not yet restored"),
    ("window_days", "dora_window_days", "Length of the window the figures cover"),
)


def push_delivery_metrics(
    metrics: DeliveryMetrics, url: str, job: str = DEFAULT_JOB, timeout: float = 10.0
) -> bool:
    """Push the figures (absent ones, e.g. lead time without deployments, are left out).

    Returns:
        Whether the push succeeded; a failing gateway is logged as a warning, not raised.
    """
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

    figures = metrics.figures()
    registry = CollectorRegistry()
    for key, name, doc in GAUGES:
        if key in figures:
            Gauge(name, doc, registry=registry).set(figures[key])
    Gauge(
        "dora_last_computed_timestamp_seconds",
        "Unix time the figures were computed",
        registry=registry,
    ).set(time.time())
    model = metrics.model_name or "all"
    try:
        push_to_gateway(
            url, job=job, registry=registry, grouping_key={"model": model}, timeout=timeout
        )
    except Exception as exc:  # URLError, HTTPError, timeouts: the report is still written
        log.warning(
            "could not push delivery metrics to the Pushgateway at %s (job %s, model %s): %s; "
            "the report and Metrics are still written. Check pushgateway_url",
            url,
            job,
            model,
            exc,
        )
        return False
    log.info("pushed delivery metrics to %s (job %s, model %s)", url, job, model)
    return True
