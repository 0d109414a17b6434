import json
from types import SimpleNamespace

import pytest

from kfp_mlops.components.registry.record_outcome.core import Outcome, from_status, record


def test_from_status_reads_kfp_final_status_fields():
    status = SimpleNamespace(
        state="FAILED",
        pipeline_job_resource_name="training-pipeline-123",
        pipeline_task_name="train-and-deploy",
        error_code=9,
        error_message="validate-data failed",
    )
    outcome = from_status(status)
    assert outcome.state == "FAILED" and not outcome.succeeded
    assert outcome.summary() == "training-pipeline-123: FAILED (validate-data failed)"
    assert from_status(SimpleNamespace()).state == "UNKNOWN"


def test_record_writes_json_and_an_mlflow_run(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    outcome = record(
        Outcome(state="SUCCEEDED", pipeline_job="job-1"), str(tmp_path / "o.json"), uri, "exp"
    )
    saved = json.loads((tmp_path / "o.json").read_text())
    assert saved["state"] == "SUCCEEDED" and saved["mlflow_run_id"] == outcome.mlflow_run_id
    run = MlflowClient(uri).get_run(outcome.mlflow_run_id)
    assert run.data.tags["kfp.state"] == "SUCCEEDED"
    assert run.data.metrics["pipeline_succeeded"] == 1.0
    assert run.info.status == "FINISHED"
    failed = record(
        Outcome(state="FAILED", pipeline_job="job-2", error_message="boom"),
        str(tmp_path / "f.json"),
        uri,
    )
    assert MlflowClient(uri).get_run(failed.mlflow_run_id).info.status == "FAILED"


def test_unreachable_mlflow_is_reported_not_raised(tmp_path):
    from tests.conftest import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    outcome = record(Outcome(state="FAILED", pipeline_job="job"), str(tmp_path / "o.json"), uri)
    saved = json.loads((tmp_path / "o.json").read_text())
    assert saved["mlflow_run_id"] == ""
    assert "unreachable" in saved["mlflow_error"] and uri in saved["mlflow_error"]
    assert outcome.state == "FAILED"


@pytest.mark.slow
def test_exit_handler_records_a_failed_run_in_kfp_local(kfp_local, tmp_path):
    from kfp import dsl

    from kfp_mlops.components.data.load_dataset.component import load_dataset
    from kfp_mlops.components.registry.record_outcome.component import record_outcome

    @dsl.pipeline(name="outcome-test")
    def pipe():
        exit_task = record_outcome()
        with dsl.ExitHandler(exit_task):
            load_dataset(source=str(tmp_path / "missing.csv"))

    with pytest.raises(RuntimeError):
        pipe()
    [outcome_file] = list(kfp_local.glob("outcome-test-*/record-outcome/outcome"))
    saved = json.loads(outcome_file.read_text())
    assert saved["state"] == "FAILED"
