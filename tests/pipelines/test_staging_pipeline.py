"""training_pipeline through staging, end to end in kfp.local: real servers, real registry.

staging deploy -> integration test on the live staging endpoint -> approval (given by a
person through ``kfp-mlops approve``, played by a background thread once the integration
test is done) -> production deploy -> promote. Both environments end up serving side by
side. Latency limits are lenient: a loaded machine must never decide the verdict.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kfp_mlops.components.deployment.deploy_model.smoke import request
from kfp_mlops.pipelines.tooling.local_runner import run_local

MODEL = "kfp-mlops-classifier"
LENIENT_LATENCY = {
    "max_latency_p50_ms": 1e9,
    "max_latency_p95_ms": 1e9,
    "max_latency_p99_ms": 1e9,
    "canary_max_p95_ms": 1e9,
}
FAST = {"tune_trials": 2, "tune_epochs": 3, "epochs": 12, "num_workers": 2, **LENIENT_LATENCY}


def _approve_after_integration_test(root: Path, stop: threading.Event, said: list) -> None:
    """Once the integration test is done, approve the registered version with the real CLI.

    A person's terminal is a separate process, so the CLI runs as one; this thread imports
    nothing heavy (importing MLflow beside kfp.local's own threads is slow on a loaded box),
    it only reads the version register_model wrote.
    """
    while not stop.wait(1.0):
        if not any(root.glob("*/integration-test*/executor_output.json")):
            continue
        (registered,) = root.glob("*/register-model*/executor_output.json")
        version = json.loads(registered.read_text())["parameterValues"]["Output"]
        cmd = [sys.executable, "-m", "kfp_mlops.pipelines.cli", "approve", MODEL, str(version),
               "--by", "e2e-reviewer", "--pipeline-root", str(root)]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        said.append((version, done.returncode, done.stderr[-2000:]))
        return


def _environment(report_path: str) -> str:
    text = Path(report_path).read_text()
    return "staging" if "| environment | staging |" in text else "production"


def _router(root: Path, sub: str) -> str:
    state = json.loads((root / sub / MODEL / "state.json").read_text())
    return f"http://127.0.0.1:{state['router']['port']}"


def test_release_settings_are_pipeline_parameters_and_staging_is_off_by_default():
    import dataclasses

    from kfp_mlops.pipelines.stages_release import ReleaseSettings
    from kfp_mlops.pipelines.training import training_pipeline

    inputs = training_pipeline.component_spec.inputs
    assert {f.name for f in dataclasses.fields(ReleaseSettings)} <= set(inputs)
    assert inputs["staging"].default is False and inputs["require_approval"].default is False


def test_the_staging_branch_is_wired_to_the_staging_endpoint_and_the_gates():
    from kfp_mlops.pipelines.training import training_pipeline
    from tests.pipelines.test_stages import _tasks

    tasks = _tasks(training_pipeline.pipeline_spec)
    by_env = {}
    for name, task in tasks.items():
        if name.startswith("deploy-model"):
            env = task.inputs.parameters.get("environment")
            by_env.setdefault(env.runtime_value.constant.string_value if env else "", []).append(
                name
            )
    # One deploy of the single-environment branch (default environment) and one staging;
    # production appears in the approved and in the no-approval branch.
    assert {k: len(v) for k, v in by_env.items()} == {"": 1, "staging": 1, "production": 2}
    (staging,) = by_env["staging"]
    check = tasks["integration-test"].inputs.parameters
    assert check["endpoint_url"].task_output_parameter.producer_task == staging
    assert check["endpoint_url"].task_output_parameter.output_parameter_key == "endpoint"
    for name in ("min_accuracy", "max_rmse", "max_latency_p95_ms"):
        assert check[name].component_input_parameter.startswith("pipelinechannel--" + name)
    ns = tasks[staging].inputs.parameters["namespace"].component_input_parameter
    assert ns.startswith("pipelinechannel--staging_namespace")
    wait = tasks["wait-for-approval"].inputs.parameters
    assert wait["timeout_s"].component_input_parameter.startswith(
        "pipelinechannel--approval_timeout_s"
    )


@pytest.fixture(scope="module")
def staged_run(tmp_path_factory):
    from kfp_mlops.components.deployment.deploy_model.targets import stop_local

    root = tmp_path_factory.mktemp("staging_e2e")
    stop, said = threading.Event(), []
    reviewer = threading.Thread(target=_approve_after_integration_test, args=(root, stop, said))
    reviewer.start()
    params = {
        **FAST,
        "staging": True,
        "require_approval": True,
        "approval_timeout_s": 900.0,
        "approval_poll_interval_s": 1.0,
        "min_accuracy": 0.9,
    }
    try:
        run = run_local("training_pipeline", params, pipeline_root=str(root))
        yield root, run, said
    finally:
        stop.set()
        reviewer.join()
        stop_local(str(root / "serving"), MODEL)
        stop_local(str(root / "serving" / "_staging"), MODEL)


def _tasks(run, prefix: str) -> list:
    return [t for t in run.tasks if t.task == prefix or t.task.startswith(prefix + "-")]


@pytest.mark.slow
@pytest.mark.trainer
@pytest.mark.timeout(3000)  # about 20 minutes on a loaded 2-core machine
def test_staging_integration_approval_production(staged_run, breast_cancer):
    from kfp_mlops.components.registry.common import alias_version
    from kfp_mlops.components.registry.wait_for_approval.core import read_approval

    root, run, said = staged_run
    uri = f"sqlite:///{root / 'mlflow.db'}"
    (register,) = _tasks(run, "register-model")
    version = register.parameters["Output"]
    assert [s[:2] for s in said] == [(version, 0)], said  # approved through the CLI

    deploys = {_environment(t.artifacts["report"]): t for t in _tasks(run, "deploy-model")}
    assert set(deploys) == {"staging", "production"} and len(_tasks(run, "deploy-model")) == 2
    # OutputPath parameters are files in the task's folder (not in executor_output.json).
    endpoint = {env: (run.run_dir / t.task / "endpoint").read_text() for env, t in deploys.items()}
    assert endpoint["staging"] == _router(root, "serving/_staging")
    assert endpoint["production"] == _router(root, "serving")

    (check,) = _tasks(run, "integration-test")
    assert check.parameters["Output"] is True
    assert check.metrics["passed"] == 1.0 and check.metrics["answered"] == 1.0
    assert check.metrics["accuracy"] >= 0.9 and check.metrics["v1_v2_agreement"] == 1.0
    assert check.metrics["rows"] > 50
    (approval,) = _tasks(run, "wait-for-approval")
    assert approval.parameters["Output"] is True
    reason = (run.run_dir / approval.task / "reason").read_text()
    assert f"{MODEL} v{version} approved by e2e-reviewer" == reason
    assert read_approval(uri, MODEL, version)[:2] == ("approved", "e2e-reviewer")

    assert len(_tasks(run, "promote-model")) == 1
    assert str(alias_version(uri, MODEL, "champion").version) == version
    assert str(alias_version(uri, MODEL, "staging").version) == version
    outcome = json.loads(open(_tasks(run, "record-outcome")[0].artifacts["outcome"]).read())
    assert outcome["state"] == "SUCCEEDED"

    # Both environments serve the model, each through its own router.
    rows = breast_cancer.drop(columns=["target"]).head(3).to_dict(orient="records")
    for url in endpoint.values():
        r = request(url, "POST", f"/v1/models/{MODEL}:predict", {"instances": rows}, timeout=30)
        assert r.status == 200 and len(r.body["predictions"]) == 3
