"""Contract tests of submit / schedule against a loopback stand-in of the KFP v2beta1 API.

No cluster: tests/kfp_api_server.py checks every request kfp.Client sends against the
contract derived from the installed kfp-server-api and answers from the same models.
"""

from __future__ import annotations

import json
import re

import pytest
import urllib3
import yaml

from kfp_mlops.components.common.versions import __version__
from kfp_mlops.pipelines.tooling import cli, kfp_client, kfp_connection
from kfp_mlops.pipelines.tooling.kfp_client import (
    ApiServerError,
    AuthError,
    SubmitError,
    UnreachableError,
    normalize_cron,
)
from tests.conftest import free_port
from tests.kfp_api_server import KfpApiServer, check_value, load_contract

PIPELINE = "data_validation_pipeline"
FAST = {"poll_interval_s": 0.01}


@pytest.fixture
def kfp_server():
    """A fresh stand-in server; the test fails if any request broke the contract."""
    with KfpApiServer() as server:
        yield server
    assert server.violations == []


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("kfp-mlops: error: ") and err.count("\n") == 1, err
    return err


# -- the contract itself -----------------------------------------------------------------------


def test_contract_is_derived_from_the_generated_client():
    ops = {op.name: op for op in load_contract()}
    create_run = ops["run_service_create_run"]
    assert (create_run.method, create_run.path) == ("POST", "/apis/v2beta1/runs")
    assert create_run.body_model == "V2beta1Run" and create_run.response_type == "V2beta1Run"
    upload = ops["upload_pipeline_version"]
    assert upload.path == "/apis/v2beta1/pipelines/upload_version"
    assert upload.files == ("uploadfile",) and "pipelineid" in upload.query_params
    assert ops["pipeline_service_list_pipelines"].query_params["page_size"] == "int"
    assert ops["recurring_run_service_create_recurring_run"].body_model == "V2beta1RecurringRun"


def test_contract_rejects_unknown_fields_and_wrong_types():
    good = {
        "display_name": "r",
        "pipeline_version_reference": {"pipeline_id": "p", "pipeline_version_id": "v"},
        "runtime_config": {"parameters": {"seed": 1, "source": "builtin:digits"}},
        "state": "RUNNING",
    }
    assert check_value(good, "V2beta1Run", "run") == []
    assert check_value({"pipelineVersionReference": {}}, "V2beta1Run", "run") == []  # JSON name
    assert check_value({"max_concurrency": 1}, "V2beta1RecurringRun", "rr") == []  # int64
    problems = check_value(
        {"pipeline_version_ref": {}, "display_name": 3, "state": "DONE"}, "V2beta1Run", "run"
    )
    assert any("'pipeline_version_ref' is not defined by V2beta1Run" in p for p in problems)
    assert any("run.display_name: expected str, got int" in p for p in problems)
    assert any("run.state: expected V2beta1RuntimeState" in p for p in problems)
    assert check_value({"max_concurrency": "one"}, "V2beta1RecurringRun", "rr") != []


def test_server_answers_400_and_records_a_request_that_breaks_the_contract():
    with KfpApiServer() as server:
        http = urllib3.PoolManager()
        bad = http.request(
            "POST",
            f"{server.url}/apis/v2beta1/experiments",
            body=json.dumps({"display_name": "e", "owner": "me"}),
            headers={"Content-Type": "application/json"},
        )
        unknown = http.request("GET", f"{server.url}/apis/v2beta1/experiments?colour=red")
        missing = http.request("GET", f"{server.url}/apis/v1beta1/pipelines")
    assert (bad.status, unknown.status, missing.status) == (400, 400, 400)
    assert "field 'owner' is not defined by V2beta1Experiment" in server.violations[0]
    assert "['colour'] not in the contract" in server.violations[1]
    assert "/apis/v1beta1/pipelines is not an operation of v2beta1" in server.violations[2]


# -- submit ----------------------------------------------------------------------------------


def test_submit_uploads_then_creates_a_run_with_the_version_and_params(kfp_server):
    result = kfp_client.submit(PIPELINE, kfp_server.url, params={"seed": 7, "drift_threshold": 0.2})

    ops = [c.operation for c in kfp_server.calls]
    assert ops.index("upload_pipeline") < ops.index("run_service_create_run")
    assert "upload_pipeline_version" not in ops
    (upload,) = kfp_server.calls_to("upload_pipeline")
    assert upload.query["name"] == PIPELINE
    spec = next(yaml.safe_load_all(upload.files["uploadfile"]))
    assert spec["pipelineInfo"]["name"] == "data-validation-pipeline"

    (run,) = kfp_server.calls_to("run_service_create_run")
    assert run.body["pipeline_version_reference"] == {
        "pipeline_id": result.pipeline_id,
        "pipeline_version_id": result.version_id,
    }
    assert run.body["runtime_config"]["parameters"] == {"seed": 7, "drift_threshold": 0.2}
    assert run.body["experiment_id"] == result.experiment_id
    assert kfp_server.experiments[result.experiment_id].display_name == "Default"
    assert kfp_server.versions[result.version_id].pipeline_id == result.pipeline_id
    assert result.upload == "new pipeline" and result.state is None
    assert result.url == f"{kfp_server.url}/#/runs/details/{result.run_id}"


def test_unchanged_code_reuses_the_first_version(kfp_server):
    first = kfp_client.submit(PIPELINE, kfp_server.url)
    again = kfp_client.submit(PIPELINE, kfp_server.url, experiment="nightly")
    assert again.upload == "existing version" and again.version_id == first.version_id
    assert kfp_server.calls_to("upload_pipeline_version") == []


def test_changed_code_uploads_a_version_and_the_next_submit_reuses_it(kfp_server):
    first = kfp_client.submit(PIPELINE, kfp_server.url)
    # What the cluster holds is now older code than ours.
    stored = kfp_server.versions[first.version_id].pipeline_spec
    stored.get("pipeline_spec", stored)["pipelineInfo"]["name"] = "old-code"
    second = kfp_client.submit(PIPELINE, kfp_server.url, experiment="nightly")
    third = kfp_client.submit(PIPELINE, kfp_server.url, experiment="nightly")

    assert len(kfp_server.calls_to("upload_pipeline")) == 1
    (version_upload,) = kfp_server.calls_to("upload_pipeline_version")
    assert version_upload.query["pipelineid"] == first.pipeline_id
    assert re.fullmatch(rf"{re.escape(__version__)}-[0-9a-f]{{12}}", version_upload.query["name"])
    assert (second.upload, third.upload) == ("new version", "existing version")
    assert first.pipeline_id == second.pipeline_id == third.pipeline_id
    assert second.version_id == third.version_id != first.version_id
    assert second.version_name == third.version_name == version_upload.query["name"]
    runs = kfp_server.calls_to("run_service_create_run")
    assert [r.body["pipeline_version_reference"]["pipeline_version_id"] for r in runs] == [
        first.version_id,
        second.version_id,
        third.version_id,
    ]
    assert len(kfp_server.calls_to("experiment_service_create_experiment")) == 2  # Default, nightly
    assert len(kfp_server.pipelines) == 1 and len(kfp_server.versions) == 2


def test_wait_returns_the_final_state_and_the_ui_link():
    with KfpApiServer(polls_until_done=2) as server:
        result = kfp_client.submit(PIPELINE, server.url, wait=True, **FAST)
    assert result.state == "SUCCEEDED"
    assert result.url == f"{server.url}/#/runs/details/{result.run_id}"
    assert len(server.calls_to("run_service_get_run")) == 3  # RUNNING, RUNNING, SUCCEEDED
    assert server.violations == []


def test_cli_submit_wait_exits_1_on_a_failed_run(capsys):
    with KfpApiServer(polls_until_done=1, final_state="FAILED") as server:
        code = cli.main(
            ["submit", PIPELINE, "--host", server.url, "--wait", "--poll-interval", "0.01"]
        )
    out = capsys.readouterr().out
    assert code == 1
    assert "final state: FAILED" in out and f"{server.url}/#/runs/details/" in out
    assert server.violations == []


def test_multi_user_needs_a_namespace_and_sends_it(monkeypatch, tmp_path):
    monkeypatch.setattr(kfp_connection, "_POD_NAMESPACE_FILE", tmp_path / "not-in-a-pod")
    with KfpApiServer(multi_user=True) as server:
        with pytest.raises(SubmitError, match=r"is multi-user; pass --namespace"):
            kfp_client.submit(PIPELINE, server.url)
        result = kfp_client.submit(PIPELINE, server.url, namespace="team-a")
    (upload,) = server.calls_to("upload_pipeline")
    assert upload.query["namespace"] == "team-a"
    assert server.experiments[result.experiment_id].namespace == "team-a"
    assert server.violations == []


# -- schedule --------------------------------------------------------------------------------


def test_schedule_creates_a_recurring_run_with_a_six_field_cron(kfp_server):
    result = kfp_client.schedule(
        PIPELINE, kfp_server.url, cron="30 2 * * 1-5", params={"seed": 3}, max_concurrency=2
    )
    (call,) = kfp_server.calls_to("recurring_run_service_create_recurring_run")
    assert call.body["trigger"] == {"cron_schedule": {"cron": "0 30 2 * * 1-5"}}
    assert call.body["pipeline_version_reference"]["pipeline_version_id"] == result.version_id
    assert call.body["runtime_config"]["parameters"] == {"seed": 3}
    assert call.body["max_concurrency"] == 2 and call.body["mode"] == "ENABLE"
    assert result.cron == "0 30 2 * * 1-5"
    assert result.url == f"{kfp_server.url}/#/recurringrun/details/{result.recurring_run_id}"
    # Rerunning the same command must not double the schedule.
    with pytest.raises(SubmitError, match="already has a recurring run named"):
        kfp_client.schedule(PIPELINE, kfp_server.url, cron="30 2 * * 1-5")
    assert len(kfp_server.recurring_runs) == 1


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("0 3 * * *", "0 0 3 * * *"),
        ("*/15 * * * *", "0 */15 * * * *"),
        ("0 0 9 ? * 2-6", "0 0 9 ? * 2-6"),
        ("0 3 1,15 jan-mar MON-FRI", "0 0 3 1,15 jan-mar MON-FRI"),
        ("  0   3 * * * ", "0 0 3 * * *"),
        ("@daily", "@daily"),
        ("@every 1h30m", "@every 1h30m"),
    ],
)
def test_normalize_cron_accepts_5_and_6_fields_and_descriptors(given, sent):
    assert normalize_cron(given) == sent


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "has 0 fields, expected 5 or 6"),
        ("0 3 * *", "has 4 fields, expected 5 or 6"),
        ("0 25 * * *", r"cron hour '25' in '0 25 \* \* \*': 25 is out of range 0-23"),
        ("0 3 * * 7", "cron day of week '7'.*out of range 0-6"),
        ("*/0 * * * *", "step '0' must be a positive number"),
        ("0 5-1 * * *", "range 5-1 runs backwards"),
        ("0 3 * foo *", "'foo' is not a number or a name"),
        ("0 3 ,1 * *", "empty item"),
        ("@sometimes", "unknown cron descriptor"),
    ],
)
def test_bad_cron_is_rejected_with_the_field_and_the_fix(given, message):
    with pytest.raises(SubmitError, match=message) as exc:
        normalize_cron(given)
    assert "write 5 fields" in str(exc.value)


def test_cli_bad_cron_fails_before_any_request(capsys):
    with KfpApiServer() as server:
        code = cli.main(["schedule", PIPELINE, "--cron", "0 25 * * *", "--host", server.url])
    assert code == 2
    assert "cron hour '25'" in one_line_error(capsys)
    assert server.calls == []


# -- bad input and refusals: one line, non-zero, no traceback ---------------------------------


def test_unreachable_host_is_one_line_naming_the_host_and_the_fix(capsys):
    host = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert cli.main(["submit", PIPELINE, "--host", host]) != 0
    err = one_line_error(capsys)
    assert f"cannot reach the Kubeflow Pipelines API at {host} (connection refused)" in err
    assert "kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80" in err


def test_401_is_one_line_auth_error_and_the_env_token_works(capsys, monkeypatch):
    monkeypatch.delenv(kfp_connection.TOKEN_ENV, raising=False)
    with KfpApiServer(token="s3cret") as server:
        assert cli.main(["submit", PIPELINE, "--host", server.url, "--token", "wrong"]) == 2
        err = one_line_error(capsys)
        assert f"authentication failed at {server.url} (401 Unauthorized" in err
        assert "pass --token (or set KF_PIPELINES_TOKEN)" in err and "namespace" in err
        assert "s3cret" not in err and "wrong" not in err

        monkeypatch.setenv(kfp_connection.TOKEN_ENV, "s3cret")
        assert cli.main(["submit", PIPELINE, "--host", server.url]) == 0
    assert len(server.calls_to("run_service_create_run")) == 1
    assert server.violations == []


def test_403_from_the_api_is_an_auth_error():
    with KfpApiServer(forbidden_namespaces=("team-b",)) as server:
        with pytest.raises(AuthError, match=r"authentication failed at .* \(403 Forbidden"):
            kfp_client.submit(PIPELINE, server.url, namespace="team-b")
    assert server.calls_to("run_service_create_run") == []


def test_errors_say_whose_fault_they_are():
    with KfpApiServer(failing_operations=("run_service_create_run",)) as server:
        with pytest.raises(ApiServerError, match=r"answered 500 Internal Server Error") as exc:
            kfp_client.submit(PIPELINE, server.url)
    assert exc.value.fault == "infrastructure" and "kubectl logs" in exc.value.fix
    with pytest.raises(UnreachableError) as unreachable:
        kfp_client.submit(PIPELINE, f"http://127.0.0.1:{free_port()}")
    assert unreachable.value.fault == "infrastructure"
    with KfpApiServer(token="t") as server, pytest.raises(AuthError) as auth:
        kfp_client.submit(PIPELINE, server.url, existing_token="wrong")
    assert auth.value.fault == "user"
    with pytest.raises(SubmitError) as bad_input:
        kfp_client.submit("no_such", "http://127.0.0.1:1")
    assert bad_input.value.fault == "user"


def test_login_redirect_is_an_auth_error():
    with KfpApiServer(login_redirect=True) as server:
        with pytest.raises(AuthError, match=r"redirected the API request to /dex/auth"):
            kfp_client.submit(PIPELINE, server.url)


def test_unknown_pipeline_and_parameter_list_the_known_ones(capsys, kfp_server):
    assert cli.main(["submit", "no_such", "--host", kfp_server.url]) == 2
    err = one_line_error(capsys)
    assert "unknown pipeline 'no_such'; known: data_validation_pipeline, " in err
    assert " monitoring_pipeline, " in err
    assert cli.main(["schedule", PIPELINE, "--cron", "@daily", "--host", kfp_server.url,
                     "-p", "nope=1"]) == 2  # fmt: skip
    err = one_line_error(capsys)
    assert "has no parameter(s) ['nope']; it takes: drift_threshold" in err
    assert cli.main(["submit", PIPELINE, "--host", "localhost:8080"]) == 2
    assert "host 'localhost:8080' is not an http(s) URL" in one_line_error(capsys)
    assert kfp_server.calls == []


def test_help_on_submit_and_schedule(capsys):
    for command in (["submit", "--help"], ["schedule", "--help"]):
        with pytest.raises(SystemExit) as exc:
            cli.main(command)
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert "--host" in out and "--param" in out and "--token" in out
    cli_help = cli.build_parser().format_help()
    assert "submit" in cli_help and "schedule" in cli_help
