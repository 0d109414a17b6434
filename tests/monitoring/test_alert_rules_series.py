"""The series the rules select are the ones the exporters write: Pushgateway labels and names."""

import re

import pytest

from kfp_mlops.components.monitoring.alert_rules.core import build
from kfp_mlops.components.monitoring.monitor_model.pushgateway import (
    BASELINE_GAUGE,
    BASELINE_METRICS,
    GAUGES,
    push_metrics,
)
from kfp_mlops.components.serving import metrics as served

FIGURES = {"accuracy": 0.91, "precision": 0.93, "recall": 0.88, "max_psi": 0.02, "level": 1}
BASELINE = {"accuracy": 0.97, "precision": 0.96, "recall": 0.95, "f1": 0.95}


def test_pushed_series_carry_model_and_version_and_the_baseline(pushgateway):
    assert push_metrics(
        FIGURES, pushgateway.url, "monitoring", model="churn", version="3", baseline=BASELINE
    )
    series = pushgateway.series("monitoring")
    labels = frozenset({("model", "churn"), ("version", "3")})
    assert series[("model_monitor_accuracy", labels)] == pytest.approx(0.91)
    assert series[("model_monitor_max_feature_psi", labels)] == pytest.approx(0.02)
    for metric, baseline in BASELINE.items():
        assert series[(BASELINE_GAUGE.format(metric), labels)] == pytest.approx(baseline)
    # The gateway's own bookkeeping is per group (job and model): no version on it.
    assert ("push_time_seconds", frozenset({("model", "churn")})) in series


def test_a_new_versions_push_replaces_the_old_versions_figures(pushgateway):
    """One group per job and model: the figures of a version no longer served are gone, so
    they cannot keep an alert firing."""
    push_metrics(FIGURES, pushgateway.url, "monitoring", model="churn", version="3")
    push_metrics(FIGURES, pushgateway.url, "monitoring", model="other", version="1")
    push_metrics({"accuracy": 0.97}, pushgateway.url, "monitoring", model="churn", version="4")
    series = pushgateway.series("monitoring")
    versions = {dict(labels).get("version") for _, labels in series if ("model", "churn") in labels}
    assert versions == {"4", None}  # None: the group's push_time_seconds
    assert ("model_monitor_accuracy", frozenset({("model", "other"), ("version", "1")})) in series


def test_every_series_a_rule_selects_is_exported():
    exported = {name for _, name, _ in GAUGES}
    exported |= {BASELINE_GAUGE.format(m) for m in BASELINE_METRICS}  # what push_metrics pushes
    exported |= {served.REQUESTS_SERIES, served.ERRORS_SERIES, served.READY_SERIES}
    exported |= {f"{served.LATENCY_SERIES}_bucket"}
    rules = build("churn")
    used = set()
    for group in rules.groups:
        for rule in group["rules"]:
            used |= set(re.findall(r"([a-z_]+)\{", rule["expr"]))
    assert used and used <= exported, used - exported
