"""monitor_model's Pushgateway client against a real Pushgateway (Debian's binary on loopback)."""

import logging
import time
import urllib.request

import pytest

from kfp_mlops.components.monitoring.monitor_model.pushgateway import (
    COLUMN_MISSING_GAUGE,
    GAUGES,
    LATENCY_GAUGE,
    push_metrics,
)
from tests.conftest import free_port
from tests.monitoring.helpers import flip_labels, recent_window, run, run_on_files

NO_LABELS = frozenset()


def test_figures_read_back_from_the_gateway(champion, pushgateway):
    result = run(champion, flip_labels(recent_window(champion.reference)))
    summary = result.summary()
    before = time.time()
    assert push_metrics(summary, pushgateway.url, job="churn-model") is True

    series = pushgateway.series("churn-model")
    for key, name, _ in GAUGES:
        if summary.get(key) is None:  # not computed here (no timestamp, age unknown, rmse)
            assert (name, NO_LABELS) not in series, name
        else:
            assert series[(name, NO_LABELS)] == pytest.approx(float(summary[key])), name
    assert ("model_monitor_data_age_hours", NO_LABELS) not in series
    assert series[("model_monitor_retrain", NO_LABELS)] == 1.0
    assert series[("model_monitor_level", NO_LABELS)] == 2.0  # flipped labels: critical
    for quantile, key in (("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99")):
        value = series[(LATENCY_GAUGE, frozenset({("quantile", quantile)}))]
        assert value == pytest.approx(result.latency[key])
    stamp = series[("model_monitor_last_run_timestamp_seconds", NO_LABELS)]
    assert before - 1 <= stamp <= time.time() + 1
    assert series[("push_time_seconds", NO_LABELS)] > 0  # the gateway accepted the group
    assert not pushgateway.series("another-job")


def test_a_push_replaces_the_group_and_absent_figures_are_not_pushed(champion, pushgateway):
    labelled = run(champion, recent_window(champion.reference, rows=200), latency_samples=0)
    assert push_metrics(labelled.summary(), pushgateway.url, job="m") is True
    assert ("model_monitor_accuracy", NO_LABELS) in pushgateway.series("m")

    unlabelled = recent_window(champion.reference, rows=200).drop(columns=["target"])
    later = run(champion, unlabelled, latency_samples=0)
    assert push_metrics(later.summary(), pushgateway.url, job="m") is True
    series = pushgateway.series("m")
    names = {name for name, _ in series}
    # PUT replaces the whole group: the earlier accuracy is gone, not left stale.
    assert not names & {"model_monitor_accuracy", "model_monitor_f1", LATENCY_GAUGE}
    assert series[("model_monitor_rows", NO_LABELS)] == 200.0


def test_run_monitoring_pushes_and_records_it(champion, tmp_path, pushgateway):
    result = run_on_files(
        champion,
        tmp_path,
        recent_window(champion.reference, rows=200),
        pushgateway_url=pushgateway.url,
        pushgateway_job="monitoring",
        latency_samples=5,
    )
    assert result.pushed is True
    series = pushgateway.series("monitoring")
    assert series[("model_monitor_accuracy", NO_LABELS)] == pytest.approx(
        result.metrics["accuracy"]
    )
    assert series[("model_monitor_rows", NO_LABELS)] == 200.0


def test_data_quality_figures_are_pushed_per_column(champion, tmp_path, pushgateway):
    window = recent_window(champion.reference, rows=200)
    window.loc[:39, "worst_texture"] = float("nan")  # 20 %
    result = run_on_files(
        champion,
        tmp_path,
        window,
        pushgateway_url=pushgateway.url,
        pushgateway_job="quality",
        model_created_at="2020-01-01T00:00:00Z",
        latency_samples=0,
    )
    assert result.pushed is True
    series = pushgateway.series("quality")
    column = COLUMN_MISSING_GAUGE
    assert series[(column, frozenset({("column", "worst_texture")}))] == pytest.approx(0.2)
    assert series[(column, frozenset({("column", "mean_radius")}))] == 0.0
    assert len([n for n, _ in series if n == column]) == 30  # one series per feature column
    assert series[("model_monitor_max_column_missing_ratio", NO_LABELS)] == pytest.approx(0.2)
    assert series[("model_monitor_rows_with_missing", NO_LABELS)] == 40.0
    assert series[("model_monitor_incomplete_rows", NO_LABELS)] == 0.0  # imputed and scored
    assert series[("model_monitor_duplicate_ratio", NO_LABELS)] == 0.0
    assert series[("model_monitor_model_age_days", NO_LABELS)] > 6 * 365
    assert series[("model_monitor_retrain", NO_LABELS)] == 1.0


def test_a_gateway_that_rejects_the_push_warns_without_failing(champion, pushgateway, caplog):
    # Another group already holds model_monitor_accuracy as a counter: the real gateway
    # refuses a gauge of that name (HTTP 400); the stand-in accepted anything.
    body = b"# TYPE model_monitor_accuracy counter\nmodel_monitor_accuracy 1\n"
    request = urllib.request.Request(
        pushgateway.url + "/metrics/job/other", data=body, method="PUT"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status in (200, 202)
    result = run(champion, recent_window(champion.reference, rows=200), latency_samples=0)
    with caplog.at_level(logging.WARNING):
        assert push_metrics(result.summary(), pushgateway.url, job="churn-model") is False
    assert any("could not push monitoring metrics" in r.message for r in caplog.records)
    series = pushgateway.series("churn-model")
    assert not [name for name, _ in series if name.startswith("model_monitor_")]
    assert series[("push_failure_time_seconds", NO_LABELS)] > 0  # the gateway logged the refusal


def test_unreachable_pushgateway_warns_without_failing(champion, caplog):
    result = run(champion, recent_window(champion.reference, rows=200), latency_samples=0)
    url = f"http://127.0.0.1:{free_port()}"
    with caplog.at_level(logging.WARNING):
        assert push_metrics(result.summary(), url, timeout=2) is False
    assert any("could not push monitoring metrics" in r.message for r in caplog.records)
