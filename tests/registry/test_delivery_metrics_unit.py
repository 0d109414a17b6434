"""delivery_metrics' rules on hand-made records: edge cases the real history does not cover."""

from datetime import datetime, timedelta, timezone

import pytest

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.registry.delivery_metrics.core import compute, window
from kfp_mlops.components.registry.delivery_metrics.history import (
    History,
    OutcomeRecord,
    VersionRecord,
)
from kfp_mlops.components.registry.delivery_metrics.report import duration, markdown

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
HOUR = 3600.0


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def run(job: str, end: float, state: str = "SUCCEEDED", **fields) -> OutcomeRecord:
    return OutcomeRecord(run_id=job, pipeline_job=job, state=state, end=h(end), **fields)


def metrics(outcomes, versions=(), days: float = 10):
    return compute(History("m", list(outcomes), list(versions)), h(0), h(24 * days))


def test_failures_before_one_recovery_are_one_incident_and_an_open_one_is_not_averaged():
    m = metrics(
        [
            run("fail-a", 10, "FAILED"),
            run("fail-b", 20, "FAILED"),
            run("nothing", 25),  # succeeded without shipping: restores nothing
            run("deploy", 30, promoted=True, model_version="1", start=h(29)),
            run("rollback", 40, trigger="rollback", rolled_back=True, model_version="0"),
        ]
    )
    first, second = m.incidents
    assert (first.seconds, first.restored_by, first.cause) == (
        20 * HOUR,
        "deploy",
        "failed run (FAILED): fail-a",
    )
    assert second.restored is None and second.cause == "rollback: rollback"
    assert m.mttr_s == 20 * HOUR and m.open_incidents == 1
    # A failure that shipped no version is not a change failure.
    assert (m.deployments, m.deployment_attempts, m.failed_changes) == (1, 1, 0)


def test_lead_time_falls_back_to_the_version_registration():
    versions = [VersionRecord("7", created=h(2))]
    m = metrics([run("deploy", 5, promoted=True, model_version="7")], versions)
    [lead] = m.lead_times
    assert (lead.seconds, lead.measured_from) == (3 * HOUR, "version registration")


def test_a_version_tagged_rolled_back_in_the_registry_is_a_failed_change():
    versions = [VersionRecord("1", h(0)), VersionRecord("2", h(1), rolled_back_to="1")]
    m = metrics(
        [
            run("d1", 2, promoted=True, model_version="1"),
            run("d2", 3, promoted=True, model_version="2"),
        ],
        versions,
    )
    assert m.change_failure_rate == 0.5


def test_no_history_gives_zero_frequency_and_no_other_figures():
    m = metrics([])
    assert m.deployment_frequency_per_day == 0.0
    assert m.change_failure_rate is None and m.lead_time_median_s is None and m.mttr_s is None
    assert set(m.figures()) >= {"deployments", "deployment_frequency_per_day", "window_days"}
    assert "change_failure_rate" not in m.figures()
    text = markdown(m)
    assert "| Change failure rate | n/a | 0 failed / 0 attempts |" in text
    assert "No deployment in the window." in text and "No failed run or rollback" in text


def test_window_and_durations():
    start, end = window(7, "2026-03-08T00:00:00Z")
    assert (start, end) == (datetime(2026, 3, 1, tzinfo=timezone.utc), h(24 * 7))
    with pytest.raises(ParameterError, match="window_days must be positive"):
        window(-1)
    with pytest.raises(ParameterError, match="until 'soon' is not a time"):
        window(7, "soon")
    assert [duration(s) for s in (None, 12, 3600, 90061)] == ["n/a", "12 s", "1 h", "1 d 1 h 1 min"]
