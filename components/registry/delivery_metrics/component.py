"""KFP wrapper of :mod:`kfp_mlops.components.registry.delivery_metrics.runner`."""

from kfp import dsl
from kfp.dsl import Markdown, Metrics, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def delivery_metrics(
    tracking_uri: str,
    metrics: Output[Metrics],
    report: Output[Markdown],
    registered_model_name: str = "kfp-mlops-classifier",
    experiment_name: str = "kfp-mlops",
    window_days: float = 30.0,
    until: str = "",
    pushgateway_url: str = "",
) -> str:
    """DORA metrics of a model: deployment frequency, lead time, change failure rate, MTTR.

    Computed from the outcomes record_outcome wrote to MLflow and the registry's version
    history (rolled_back_to tags). The report gives each formula and the runs behind it.

    Args:
        tracking_uri: MLflow server URL.
        metrics: The figures (deployment_frequency_per_day, lead_time_median_seconds,
            change_failure_rate, mean_time_to_restore_seconds, counts); absent ones omitted.
        report: Markdown report: figures, Google DORA definitions, deployments, incidents.
        registered_model_name: Registered model; empty = every model's outcomes.
        experiment_name: Experiment the outcomes were recorded in; empty searches all.
        window_days: Length of the window, in days.
        until: End of the window, ISO 8601; empty = now.
        pushgateway_url: Prometheus Pushgateway for dora_* gauges; empty = none. A failing
            gateway is logged, not raised.

    Returns:
        One line with the four figures.
    """
    from kfp_mlops.components.common.kfp_outputs import log_finite
    from kfp_mlops.components.registry.delivery_metrics.report import duration
    from kfp_mlops.components.registry.delivery_metrics.runner import measure

    result = measure(
        tracking_uri,
        registered_model_name,
        experiment_name=experiment_name,
        window_days=window_days,
        until=until or None,
        report_path=report.path,
        pushgateway_url=pushgateway_url,
    )
    log_finite(metrics, result.figures())
    cfr = result.change_failure_rate
    return (
        f"{result.deployments} deployments ({result.deployment_frequency_per_day:.3f}/day), "
        f"lead time {duration(result.lead_time_median_s)}, "
        f"change failure rate {'n/a' if cfr is None else f'{cfr:.0%}'}, "
        f"MTTR {duration(result.mttr_s)}"
    )
