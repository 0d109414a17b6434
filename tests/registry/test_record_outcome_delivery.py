"""record_outcome's trigger, times, shipped version and notifications, on a real MLflow server.

Versions are registered, promoted and rolled back by the real registry cores; the webhook is
a real loopback HTTP receiver (tests/common/test_notify.py's WebhookReceiver).
"""

import json
import logging
from types import SimpleNamespace

import pytest

from kfp_mlops.components.registry import common
from kfp_mlops.components.registry.promote_model.core import promote
from kfp_mlops.components.registry.record_outcome.core import from_status, record
from kfp_mlops.components.registry.register_model.core import register
from kfp_mlops.components.registry.rollback_model.core import rollback
from tests.common.test_notify import WebhookReceiver
from tests.conftest import free_port


@pytest.fixture
def receiver():
    server = WebhookReceiver()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def ship(mlflow_server, fresh_name, make_model_dir, evaluation):
    """Register a version tagged with a pipeline run id (and promote it if asked)."""

    def make(run_id: str, promoted: bool) -> str:
        model_dir = make_model_dir(run_id.encode(), name=run_id)
        version = register(
            model_dir,
            evaluation,
            tracking_uri=mlflow_server,
            name=fresh_name,
            blessed=True,
            pipeline_run_id=run_id,
        ).version
        if promoted:
            promote(mlflow_server, fresh_name, version)
        return version

    return make


def status(state: str, job: str, error: str = "") -> SimpleNamespace:
    return SimpleNamespace(state=state, pipeline_job_resource_name=job, error_message=error)


def outcome_run(uri: str, run_id: str):
    return common.client(uri).get_run(run_id)


def test_a_promoting_run_is_recorded_with_its_version_times_and_trigger(
    mlflow_server, fresh_name, ship, receiver, tmp_path
):
    version = ship("run-promote", promoted=True)
    outcome = from_status(
        status("SUCCEEDED", "training-pipeline-a"),
        trigger="Schedule",
        start_time="2026-01-02T10:00:00Z",
        end_time="2026-01-02T11:30:00+00:00",
        pipeline_run_id="run-promote",
        model_name=fresh_name,
        data_snapshot_time="2026-01-02T08:00:00Z",
    )
    done = record(outcome, str(tmp_path / "o.json"), mlflow_server, webhook_url=receiver.url)
    assert (done.model_version, done.champion_version, done.promoted) == (version, version, True)
    assert done.rolled_back is False and done.notification == "sent"
    saved = json.loads((tmp_path / "o.json").read_text())
    assert saved["trigger"] == "schedule" and saved["end_time"] == "2026-01-02T11:30:00Z"
    run = outcome_run(mlflow_server, done.mlflow_run_id)
    tags = run.data.tags
    assert tags["kfp.trigger"] == "schedule" and tags["model.name"] == fresh_name
    assert tags["model.version"] == version and tags["model.promoted"] == "true"
    assert tags["kfp.start_time"] == "2026-01-02T10:00:00Z"
    assert tags["change.data_snapshot_time"] == "2026-01-02T08:00:00Z"
    assert run.data.metrics["duration_seconds"] == 5400.0
    # MLflow's own run times are the pipeline's, so the UI sorts the history correctly.
    assert run.info.start_time == 1767348000000 and run.info.end_time == 1767353400000
    [message] = receiver.received
    assert message["text"].startswith(":rocket:")
    assert f"*{fresh_name}* v{version} is the new champion" in message["text"]
    fields = {
        f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in message["blocks"][1]["fields"]
    }
    assert fields["*Trigger*"] == "schedule" and fields["*Duration*"] == "5400 s"


def test_a_failed_run_notifies_with_the_error_and_records_the_unpromoted_version(
    mlflow_server, fresh_name, ship, receiver, tmp_path
):
    champion = ship("run-ok", promoted=True)
    failed = ship("run-canary", promoted=False)
    outcome = from_status(
        status("FAILED", "retraining-pipeline-b", "deploy-model: canary p95 above 100 ms"),
        trigger="drift",
        pipeline_run_id="run-canary",
        model_name=fresh_name,
    )
    done = record(outcome, str(tmp_path / "o.json"), mlflow_server, webhook_url=receiver.url)
    assert (done.model_version, done.champion_version) == (failed, champion)
    assert done.promoted is False and done.start_time == ""  # start unknown: not invented
    assert outcome_run(mlflow_server, done.mlflow_run_id).info.status == "FAILED"
    [message] = receiver.received
    assert message["text"] == (
        ":x: Pipeline run `retraining-pipeline-b` FAILED (drift): "
        "deploy-model: canary p95 above 100 ms"
    )


def test_a_rollback_run_names_the_demoted_and_restored_versions(
    mlflow_server, fresh_name, ship, receiver, tmp_path
):
    good = ship("run-1", promoted=True)
    bad = ship("run-2", promoted=True)
    rollback(mlflow_server, fresh_name)
    outcome = from_status(
        status("SUCCEEDED", "rollback-pipeline-c"), trigger="rollback", model_name=fresh_name
    )
    done = record(outcome, str(tmp_path / "o.json"), mlflow_server, webhook_url=receiver.url)
    assert done.rolled_back is True and done.promoted is False
    assert (done.model_version, done.rolled_back_version) == (good, bad)
    tags = outcome_run(mlflow_server, done.mlflow_run_id).data.tags
    assert tags["model.rolled_back"] == "true" and tags["model.rolled_back_version"] == bad
    [message] = receiver.received
    assert message["text"] == (
        f":rewind: *{fresh_name}* rolled back: v{bad} -> v{good} now serves (`rollback-pipeline-c`)"
    )


def test_a_run_that_changed_nothing_sends_nothing(
    mlflow_server, fresh_name, ship, receiver, tmp_path
):
    ship("run-old", promoted=True)
    outcome = from_status(
        status("SUCCEEDED", "monitoring-pipeline-d"),
        trigger="schedule",
        pipeline_run_id="run-without-version",
        model_name=fresh_name,
    )
    done = record(outcome, str(tmp_path / "o.json"), mlflow_server, webhook_url=receiver.url)
    assert done.model_version == "" and done.promoted is False
    assert done.notification == "not needed" and receiver.received == []


def test_unreachable_webhook_is_logged_and_the_outcome_still_recorded(
    mlflow_server, fresh_name, tmp_path, caplog
):
    url = f"http://127.0.0.1:{free_port()}/hooks/secret-token"
    outcome = from_status(status("FAILED", "job-e", "boom"), model_name=fresh_name)
    with caplog.at_level(logging.WARNING):
        done = record(outcome, str(tmp_path / "o.json"), mlflow_server, webhook_url=url)
    assert done.notification == "failed"
    assert "could not send the notification" in caplog.text and "secret-token" not in caplog.text
    saved = json.loads((tmp_path / "o.json").read_text())
    assert saved["state"] == "FAILED" and saved["notification"] == "failed"
    run = outcome_run(mlflow_server, saved["mlflow_run_id"])
    assert run.data.tags["kfp.state"] == "FAILED" and run.data.tags["kfp.error_message"] == "boom"


def test_a_bad_time_is_recorded_as_unknown_not_raised(tmp_path, caplog):
    outcome = from_status(status("SUCCEEDED", "job-f"), start_time="yesterday-ish")
    with caplog.at_level(logging.WARNING):
        done = record(outcome, str(tmp_path / "o.json"), webhook_url="")
    assert done.start_time == "" and done.end_time.endswith("Z")
    assert "start_time 'yesterday-ish' is not a time" in caplog.text
    # An unresolved KFP placeholder (kfp.local does not fill the create time) is just unknown.
    placeholder = from_status(
        status("SUCCEEDED", "job-g"), start_time="{{$.pipeline_job_create_time_utc}}"
    )
    assert record(placeholder, str(tmp_path / "p.json"), webhook_url="").start_time == ""


@pytest.mark.slow
def test_exit_handler_of_a_failed_kfp_local_run_records_and_notifies(
    kfp_local, mlflow_server, fresh_name, receiver, monkeypatch, tmp_path
):
    from kfp import dsl

    from kfp_mlops.components.data.load_dataset.component import load_dataset
    from kfp_mlops.components.registry.record_outcome.component import record_outcome
    from kfp_mlops.pipelines.k8s import with_notification_secret

    # On a cluster the Secret fills this variable; kfp.local's subprocess inherits it.
    monkeypatch.setenv("KFP_MLOPS_WEBHOOK_URL", receiver.url)

    @dsl.pipeline(name="outcome-notify")
    def pipe(tracking_uri: str, name: str):
        exit_task = record_outcome(
            tracking_uri=tracking_uri,
            registered_model_name=name,
            trigger="schedule",
            pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            pipeline_job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        )
        with dsl.ExitHandler(with_notification_secret(exit_task)):
            load_dataset(source=str(tmp_path / "missing.csv"))

    with pytest.raises(RuntimeError):
        pipe(tracking_uri=mlflow_server, name=fresh_name)
    [outcome_file] = list(kfp_local.glob("outcome-notify-*/record-outcome/outcome"))
    saved = json.loads(outcome_file.read_text())
    assert saved["state"] == "FAILED" and saved["trigger"] == "schedule"
    assert saved["pipeline_job"] == outcome_file.parent.parent.name  # outcome-notify-<time>
    assert saved["notification"] == "sent" and saved["model_name"] == fresh_name
    # kfp.local cannot fill the create-time placeholder: the start comes from the run's name.
    assert saved["start_time"] and saved["start_time"] <= saved["end_time"]
    run = outcome_run(mlflow_server, saved["mlflow_run_id"])
    assert run.data.tags["kfp.state"] == "FAILED" and run.data.tags["kfp.trigger"] == "schedule"
    [message] = receiver.received
    assert message["text"] == (
        f":x: Pipeline run `{saved['pipeline_job']}` FAILED (schedule): {saved['error_message']}"
    )
