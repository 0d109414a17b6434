"""KFP wrapper of :mod:`kfp_mlops.components.monitoring.alert_rules.core`."""

from kfp import dsl
from kfp.dsl import Artifact, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def alert_rules(
    prometheus_rule: Output[Artifact],
    rules_file: Output[Artifact],
    model_name: str = "kfp-mlops-classifier",
    model_version: str = "",
    namespace: str = "monitoring",
    latency_p50_ms: float = 10.0,
    latency_p95_ms: float = 50.0,
    latency_p99_ms: float = 100.0,
    error_rate: float = 0.01,
    accuracy_warning_ratio: float = 0.95,
    accuracy_critical_ratio: float = 0.90,
    min_precision: float = 0.90,
    min_recall: float = 0.85,
    drift_warning: float = 0.05,
    drift_critical: float = 0.15,
    max_model_age_days: float = 7.0,
    thresholds_json: str = "",
    drift_metric: str = "max_feature_psi",
    baseline_accuracy: float = 0.0,
    for_duration: str = "5m",
    rate_window: str = "5m",
    runbook_url: str = "",
    rule_labels_json: str = "",
) -> str:
    """Write Prometheus alerting rules for a served model from the runbook's thresholds.

    Serving alerts (from the model server's /metrics): latency p50/p95/p99, error rate
    (model_errors_total over requests), model not ready. Monitoring alerts (from the
    monitoring job's Pushgateway series): accuracy below the warning/critical share of the
    baseline, precision and recall floors, drift score tiers, model age. Every alert is
    labelled severity, model and version, and its annotations say what to do. Impossible
    thresholds (p95 below p50, negative values, an error rate above 1, critical above
    warning) and unknown names fail the task before anything is written.

    Args:
        prometheus_rule: A monitoring.coreos.com/v1 PrometheusRule (YAML) for the
            Prometheus Operator: kubectl apply -f it.
        rules_file: The same groups as a plain Prometheus rules file (YAML).
        model_name: The model label of the series: the serving name of the model.
        model_version: Only this version; empty: every version of the model.
        namespace: Namespace of the PrometheusRule.
        latency_p50_ms: p50 prediction latency above which to warn (ms).
        latency_p95_ms: p95 prediction latency above which to warn (ms).
        latency_p99_ms: p99 prediction latency above which to page (ms, critical).
        error_rate: Share of failed predictions above which to page (0.01 = 1 %).
        accuracy_warning_ratio: Warn when accuracy falls below this share of the baseline
            (a regressor's RMSE: above 2 minus it, 0.95 -> 1.05 x).
        accuracy_critical_ratio: Page when accuracy falls below this share of the baseline
            (a regressor's RMSE: above 2 minus it, 0.90 -> 1.10 x).
        min_precision: Warn when precision falls below this.
        min_recall: Warn when recall falls below this.
        drift_warning: Drift score from which to warn (up to drift_critical).
        drift_critical: Drift score above which to page.
        max_model_age_days: Warn when the champion is older than this (days).
        thresholds_json: JSON object overriding the thresholds above by name.
        drift_metric: The drift score: max_feature_psi or prediction_psi.
        baseline_accuracy: The champion's accuracy; 0: the pushed baseline series.
        for_duration: How long a condition holds before the alert fires (e.g. 5m).
        rate_window: Window of the serving rates and percentiles (e.g. 5m).
        runbook_url: Link added to every alert; empty: none.
        rule_labels_json: JSON object of extra PrometheusRule labels, e.g.
            {"release": "kube-prometheus-stack"} for the Operator's ruleSelector.

    Returns:
        The PrometheusRule's name.
    """
    from kfp_mlops.components.monitoring.alert_rules.core import build, labels_from_json
    from kfp_mlops.components.monitoring.alert_rules.thresholds import RuleOptions, Thresholds

    given = {k: v for k, v in locals().items() if k in Thresholds.names()}
    rules = build(
        model_name,
        Thresholds.from_json(thresholds_json, **given),
        RuleOptions(
            model=model_name,
            version=model_version,
            for_duration=for_duration,
            rate_window=rate_window,
            drift_metric=drift_metric,
            baseline_accuracy=baseline_accuracy,
            runbook_url=runbook_url,
        ),
        namespace=namespace,
        labels=labels_from_json(rule_labels_json),
    )
    rules.write(rules_file.path, prometheus_rule.path)
    prometheus_rule.metadata.update({"name": rules.object_name, "alerts": rules.alert_names})
    rules_file.metadata["alerts"] = rules.alert_names
    return rules.object_name
