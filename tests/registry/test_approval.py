"""The approval gate against a real MLflow server: approved, rejected, timeout, bad input.

The approving person is the real CLI (``kfp-mlops approve``, in this process and as a
subprocess) or ``record_approval`` from a background thread while the gate polls.
"""

import json
import subprocess
import sys
import threading
import time

import pytest

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.registry import common
from kfp_mlops.components.registry.register_model.core import register
from kfp_mlops.components.registry.wait_for_approval.core import (
    APPROVAL_TAG,
    APPROVED_BY_TAG,
    REASON_TAG,
    read_approval,
    record_approval,
    wait_for_approval,
)
from kfp_mlops.pipelines.tooling.cli import main
from tests.mlflow_server import closed_port_uri


@pytest.fixture
def version(mlflow_server, fresh_name, make_model_dir, evaluation) -> str:
    """A freshly registered version of ``fresh_name``."""
    return register(
        make_model_dir(b"w", "m"), evaluation, tracking_uri=mlflow_server, name=fresh_name,
        blessed=True,
    ).version  # fmt: skip


def test_approval_given_while_waiting_lets_the_release_go_on(mlflow_server, fresh_name, version):
    def approve_later() -> None:
        time.sleep(1.0)
        record_approval(mlflow_server, fresh_name, version, by="alice", reason="looks good")

    thread = threading.Thread(target=approve_later)
    thread.start()
    try:
        result = wait_for_approval(
            mlflow_server, fresh_name, version, timeout_s=120, poll_interval_s=0.2
        )
    finally:
        thread.join()
    assert result.approved and result.state == "approved"
    assert result.by == "alice"
    assert result.reason == f"{fresh_name} v{version} approved by alice: looks good"
    tags = common.model_version(mlflow_server, fresh_name, version).tags
    assert tags[APPROVAL_TAG] == "approved" and tags[APPROVED_BY_TAG] == "alice"


def test_rejection_with_the_cli_stops_the_release_with_its_reason(
    mlflow_server, fresh_name, version, capsys
):
    code = main(
        ["approve", fresh_name, version, "--reject", "--by", "bob", "--reason", "p99 too high",
         "--tracking-uri", mlflow_server]
    )  # fmt: skip
    assert code == 0
    assert "rejected by bob: p99 too high" in capsys.readouterr().out
    result = wait_for_approval(mlflow_server, fresh_name, version, timeout_s=30, poll_interval_s=1)
    assert not result.approved and result.state == "rejected"
    assert "rejected by bob: p99 too high" in result.reason
    assert read_approval(mlflow_server, fresh_name, version) == ("rejected", "bob", "p99 too high")


def test_the_console_script_approves_with_the_login_name(mlflow_server, fresh_name, version):
    out = subprocess.run(
        [sys.executable, "-m", "kfp_mlops.pipelines.cli", "approve", fresh_name, version,
         "--tracking-uri", mlflow_server],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    state, by, _ = read_approval(mlflow_server, fresh_name, version)
    assert state == "approved" and by


def test_nobody_deciding_times_out_with_the_reason(mlflow_server, fresh_name, version):
    # A fake clock makes the bounded wait exact without sleeping for real.
    now = [0.0]
    slept = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    result = wait_for_approval(
        mlflow_server, fresh_name, version, timeout_s=90, poll_interval_s=30,
        clock=lambda: now[0], sleep=sleep,
    )  # fmt: skip
    assert result.state == "timeout" and not result.approved
    assert slept == [30, 30, 30]
    assert f"nobody approved {fresh_name} v{version} within 90 s" in result.reason
    assert f"kfp-mlops approve {fresh_name} {version}" in result.reason


def test_an_unknown_tag_value_is_waited_past_and_reported(mlflow_server, fresh_name, version):
    client = common.client(mlflow_server)
    client.set_model_version_tag(fresh_name, version, APPROVAL_TAG, "maybe")
    result = wait_for_approval(
        mlflow_server, fresh_name, version, timeout_s=0.5, poll_interval_s=0.1
    )
    assert result.state == "timeout"
    assert "holds 'maybe'" in result.reason


def test_a_pre_set_approval_counts(mlflow_server, fresh_name, version):
    record_approval(mlflow_server, fresh_name, version, by="carol")
    result = wait_for_approval(mlflow_server, fresh_name, version, timeout_s=5, poll_interval_s=1)
    assert result.approved and result.waited_s < 5
    tags = common.model_version(mlflow_server, fresh_name, version).tags
    assert tags[REASON_TAG] == ""


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"timeout_s": 0}, "timeout_s 0 is not positive"),
        ({"poll_interval_s": -1}, "poll_interval_s -1 is not positive"),
        ({"version": " "}, "version is empty"),
    ],
)
def test_bad_parameters_are_named(mlflow_server, fresh_name, version, kw, match):
    args = {"version": version, "timeout_s": 10, "poll_interval_s": 1, **kw}
    with pytest.raises(ParameterError, match=match):
        wait_for_approval(mlflow_server, fresh_name, **args)


def test_an_unknown_version_or_registry_is_a_clear_error(mlflow_server, fresh_name, version):
    with pytest.raises(common.RegistryError, match="has no version '99'"):
        record_approval(mlflow_server, fresh_name, "99")
    with pytest.raises(common.RegistryError, match="has no version '99'"):
        wait_for_approval(mlflow_server, fresh_name, "99", timeout_s=5, poll_interval_s=1)
    uri = closed_port_uri()
    with pytest.raises(common.RegistryUnavailableError, match="unreachable"):
        wait_for_approval(uri, fresh_name, version, timeout_s=5, poll_interval_s=1)
    assert main(["approve", fresh_name, "99", "--tracking-uri", mlflow_server]) == 2


def test_the_cli_needs_a_registry(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["approve", "m", "1"]) == 2
    assert "--tracking-uri" in capsys.readouterr().err


@pytest.mark.slow
def test_the_component_stops_a_rejected_release_in_kfp_local(
    kfp_local, mlflow_server, fresh_name, version
):
    # The shape training_pipeline uses: the verdict gates a branch nested in a condition.
    from kfp import dsl

    from kfp_mlops.components.registry.wait_for_approval.component import wait_for_approval

    @dsl.component
    def ship(version: str) -> str:
        return version

    record_approval(mlflow_server, fresh_name, version, approve=False, by="dave", reason="no")

    @dsl.pipeline(name="approval-test")
    def pipe(require: bool = True):
        with dsl.If(require == True):  # noqa: E712
            gate = wait_for_approval(
                tracking_uri=mlflow_server, version=version, registered_model_name=fresh_name,
                timeout_s=30.0, poll_interval_s=1.0,
            )  # fmt: skip
            with dsl.If(gate.outputs["Output"] == True):  # noqa: E712
                ship(version=version)

    pipe()
    (task,) = kfp_local.glob("approval-test-*/wait-for-approval")
    assert json.loads((task / "executor_output.json").read_text())["parameterValues"] == {
        "Output": False
    }
    assert (task / "reason").read_text() == f"{fresh_name} v{version} rejected by dave: no"
    assert not list(kfp_local.glob("approval-test-*/ship"))  # production never ran
    (decision,) = kfp_local.glob("approval-test-*/wait-for-approval/decision")
    assert "❌ rejected" in decision.read_text()
