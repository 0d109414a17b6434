"""The alerting rules: PromQL on the series the model server and the monitoring job export.

Series names come from their one owner (``components/serving/metrics.py`` for the server,
``monitor_model/pushgateway.py`` for the monitoring job), so a renamed series breaks the
tests here instead of silently making an alert match nothing. Each alert's annotations say
what happened and what to do (the runbook's troubleshooting table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kfp_mlops.components.monitoring.alert_rules.thresholds import (
    DRIFT_METRICS,
    RuleOptions,
    Thresholds,
)
from kfp_mlops.components.monitoring.monitor_model.pushgateway import (
    BASELINE_GAUGE,
    GAUGE_NAMES,
)
from kfp_mlops.components.serving import metrics as served

WARNING, CRITICAL = "warning", "critical"
_ROLLBACK = "if a new version started it, roll back (`kfp-mlops rollback <model>`)"
_ACTIONS = {
    "latency": "check the predictor's CPU and memory and the request sizes; scale out "
    "(maxReplicas) or serve the quantized TFLite model; " + _ROLLBACK,
    "errors": "read the server log for the error type in model_errors_total: "
    "invalid_input means clients send rows the model does not accept (compare with "
    "/v2/models/<model>), inference_error a broken model; " + _ROLLBACK,
    "ready": "the model did not load: the server log says why (missing or corrupt file, "
    "preprocessor mismatch); redeploy a good version; " + _ROLLBACK,
    "quality": "open the latest monitoring report (drift, data quality, labels); retrain "
    "with the retraining pipeline on recent data, or roll back to the previous champion",
    "drift": "compare the drifted features with upstream changes (the monitoring report "
    "lists PSI per feature); fix the data source, or retrain on recent data",
    "age": "retrain the model on recent data (the retraining pipeline), then promote it",
}


@dataclass(frozen=True)
class Alert:
    """One alerting rule before rendering."""

    name: str
    expr: str
    severity: str
    summary: str
    description: str
    action: str

    def rule(self, options: RuleOptions) -> dict[str, Any]:
        """The rule as Prometheus reads it."""
        labels = {"severity": self.severity, "model": options.model}
        if options.version:
            labels["version"] = options.version
        annotations = {
            "summary": self.summary,
            "description": self.description,
            "action": self.action,
        }
        if options.runbook_url:
            annotations["runbook_url"] = options.runbook_url
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": options.for_duration,
            "labels": labels,
            "annotations": annotations,
        }


def _num(value: float) -> str:
    return f"{value:g}"


def selector(options: RuleOptions, **matchers: str) -> str:
    """``{model="m",version="v",...}``; a matcher value starting with ``~`` is a regex."""
    parts = [f'model="{options.model}"']
    if options.version:
        parts.append(f'version="{options.version}"')
    for label, value in matchers.items():
        parts.append(f'{label}=~"{value[1:]}"' if value.startswith("~") else f'{label}="{value}"')
    return "{" + ",".join(parts) + "}"


_WHO = "{{ $labels.model }} {{ $labels.version }}"


def serving_alerts(t: Thresholds, o: RuleOptions) -> list[Alert]:
    """Latency percentiles, error rate and readiness, from the model server's metrics."""
    predict = selector(o, endpoint="~" + "|".join(served.PREDICT_ENDPOINTS))
    buckets = f"rate({served.LATENCY_SERIES}_bucket{predict}[{o.rate_window}])"
    alerts = []
    for quantile, limit, severity in (
        (0.5, t.latency_p50_ms, WARNING),
        (0.95, t.latency_p95_ms, WARNING),
        (0.99, t.latency_p99_ms, CRITICAL),
    ):
        p = f"p{round(quantile * 100)}"
        alerts.append(
            Alert(
                name=f"ModelLatency{p.upper()}High",
                expr=f"histogram_quantile({quantile}, sum by (le, model, version) ({buckets}))"
                f" * 1000 > {_num(limit)}",
                severity=severity,
                summary=f'{_WHO}: {p} latency {{{{ $value | printf "%.1f" }}}} ms is above '
                f"{_num(limit)} ms",
                description=f"The {p} of the model server's prediction latency over "
                f"{o.rate_window} is above the runbook's {_num(limit)} ms.",
                action=_ACTIONS["latency"],
            )
        )
    errors = f"sum by (model, version) (rate({served.ERRORS_SERIES}{predict}[{o.rate_window}]))"
    requests = f"sum by (model, version) (rate({served.REQUESTS_SERIES}{predict}[{o.rate_window}]))"
    alerts.append(
        Alert(
            name="ModelErrorRateHigh",
            expr=f"{errors} / {requests} > {_num(t.error_rate)}",
            severity=CRITICAL,
            summary=f"{_WHO}: {{{{ $value | humanizePercentage }}}} of predictions fail "
            f"(limit {_num(t.error_rate * 100)} %)",
            description=f"Failed prediction requests (model_errors_total, any type) over "
            f"{o.rate_window} are above {_num(t.error_rate * 100)} % of all predictions.",
            action=_ACTIONS["errors"],
        )
    )
    alerts.append(
        Alert(
            name="ModelNotReady",
            expr=f"{served.READY_SERIES}{selector(o)} == 0",
            severity=CRITICAL,
            summary=f"{_WHO} is not ready on {{{{ $labels.instance }}}}",
            description="The model server runs but its model is not loaded: readiness "
            "answers 503 and predictions fail.",
            action=_ACTIONS["ready"],
        )
    )
    return alerts


def _gauge(key: str, o: RuleOptions) -> str:
    return GAUGE_NAMES[key] + selector(o)


def monitoring_alerts(t: Thresholds, o: RuleOptions) -> list[Alert]:
    """Quality against the baseline, precision, recall, drift tiers and the model's age."""
    baseline = (
        _num(o.baseline_accuracy)
        if o.baseline_accuracy
        else BASELINE_GAUGE.format("accuracy") + selector(o)
    )
    ratio = f"{_gauge('accuracy', o)} / {baseline}"
    warn, crit = t.accuracy_warning_ratio, t.accuracy_critical_ratio
    drift = _gauge(DRIFT_METRICS[o.drift_metric], o)
    low, high = t.drift_warning, t.drift_critical
    of_baseline = '{{ $value | printf "%.3f" }} x its baseline'
    return [
        Alert(
            "ModelAccuracyWarning",
            f"({ratio} < {_num(warn)}) >= {_num(crit)}",
            WARNING,
            f"{_WHO}: accuracy is {of_baseline} (warning below {_num(warn)} x)",
            f"The monitoring job's accuracy on labelled recent rows is below {_num(warn)} x "
            "the champion's baseline.",
            _ACTIONS["quality"],
        ),
        Alert(
            "ModelAccuracyCritical",
            f"{ratio} < {_num(crit)}",
            CRITICAL,
            f"{_WHO}: accuracy is {of_baseline} (critical below {_num(crit)} x)",
            f"The monitoring job's accuracy on labelled recent rows is below {_num(crit)} x "
            "the champion's baseline.",
            _ACTIONS["quality"],
        ),
        *_error_alerts(t, o),
        _floor("Precision", _gauge("precision", o), t.min_precision),
        _floor("Recall", _gauge("recall", o), t.min_recall),
        Alert(
            "ModelDriftWarning",
            f"({drift} >= {_num(low)}) <= {_num(high)}",
            WARNING,
            f'{_WHO}: drift score {{{{ $value | printf "%.3f" }}}} '
            f"({_num(low)}-{_num(high)}: warning)",
            f"The drift score ({o.drift_metric}) is in the runbook's warning tier.",
            _ACTIONS["drift"],
        ),
        Alert(
            "ModelDriftCritical",
            f"{drift} > {_num(high)}",
            CRITICAL,
            f'{_WHO}: drift score {{{{ $value | printf "%.3f" }}}} (above {_num(high)}: critical)',
            f"The drift score ({o.drift_metric}) is in the runbook's critical tier.",
            _ACTIONS["drift"],
        ),
        Alert(
            "ModelTooOld",
            f"{_gauge('model_age_days', o)} > {_num(t.max_model_age_days)}",
            WARNING,
            f'{_WHO} is {{{{ $value | printf "%.0f" }}}} days old '
            f"(limit {_num(t.max_model_age_days)})",
            f"The champion was trained more than {_num(t.max_model_age_days)} days ago.",
            _ACTIONS["age"],
        ),
    ]


def _error_alerts(t: Thresholds, o: RuleOptions) -> list[Alert]:
    """A regressor's RMSE above its baseline, mirroring the accuracy ratios (as monitoring).

    A classifier pushes no ``model_monitor_rmse``, so these never fire for one.
    """
    ratio = f"{_gauge('rmse', o)} / {BASELINE_GAUGE.format('rmse')}{selector(o)}"
    warn = round(2 - t.accuracy_warning_ratio, 9)  # 0.95 -> 1.05: 5 % worse either way
    crit = round(2 - t.accuracy_critical_ratio, 9)
    of_baseline = '{{ $value | printf "%.3f" }} x its baseline'
    what = "The monitoring job's RMSE on labelled recent rows (a regression model) is above"
    return [
        Alert(
            "ModelRmseWarning",
            f"({ratio} > {_num(warn)}) <= {_num(crit)}",
            WARNING,
            f"{_WHO}: RMSE is {of_baseline} (warning above {_num(warn)} x)",
            f"{what} {_num(warn)} x the champion's baseline.",
            _ACTIONS["quality"],
        ),
        Alert(
            "ModelRmseCritical",
            f"{ratio} > {_num(crit)}",
            CRITICAL,
            f"{_WHO}: RMSE is {of_baseline} (critical above {_num(crit)} x)",
            f"{what} {_num(crit)} x the champion's baseline.",
            _ACTIONS["quality"],
        ),
    ]


def _floor(metric: str, series: str, limit: float) -> Alert:
    return Alert(
        f"Model{metric}Low",
        f"{series} < {_num(limit)}",
        WARNING,
        f'{_WHO}: {metric.lower()} {{{{ $value | printf "%.3f" }}}} is below {_num(limit)}',
        f"The monitoring job's {metric.lower()} on labelled recent rows is below {_num(limit)}.",
        _ACTIONS["quality"],
    )
