"""One call for the component and the CLI: read the history, compute, write, push."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from kfp_mlops.components.registry.delivery_metrics.core import DeliveryMetrics, compute, window
from kfp_mlops.components.registry.delivery_metrics.history import read_history
from kfp_mlops.components.registry.delivery_metrics.push import DEFAULT_JOB, push_delivery_metrics
from kfp_mlops.components.registry.delivery_metrics.report import markdown

log = logging.getLogger(__name__)


def measure(
    tracking_uri: str,
    model_name: str,
    *,
    experiment_name: str = "",
    window_days: float = 30.0,
    until: str | datetime | None = None,
    report_path: str = "",
    pushgateway_url: str = "",
    pushgateway_job: str = DEFAULT_JOB,
) -> DeliveryMetrics:
    """The DORA metrics of ``model_name`` over the last ``window_days`` up to ``until``.

    Args:
        tracking_uri: MLflow server holding the outcomes and the registry.
        model_name: Registered model; empty = the outcomes of every model (no versions).
        experiment_name: Experiment of the outcome runs; empty searches all.
        window_days: Length of the window.
        until: End of the window (ISO 8601); default now.
        report_path: Where to write the Markdown report; empty writes none.
        pushgateway_url: Pushgateway to push gauges to; empty pushes none.
        pushgateway_job: The gauges' job label.

    Raises:
        ParameterError: If the window is not positive or ``until`` is not a time.
        RegistryError: If the registry is unreachable or the experiment does not exist.
    """
    start, end = window(window_days, until)
    metrics = compute(read_history(tracking_uri, model_name, experiment_name), start, end)
    if report_path:
        Path(report_path).parent.mkdir(parents=True, exist_ok=True)
        Path(report_path).write_text(markdown(metrics), encoding="utf-8")
    if pushgateway_url:
        push_delivery_metrics(metrics, pushgateway_url, job=pushgateway_job)
    log.info("delivery metrics of %s: %s", model_name or "all models", metrics.figures())
    return metrics
