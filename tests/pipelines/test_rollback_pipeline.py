"""``rollback_pipeline`` through kfp.local on the local target, after two shipped versions.

The two versions are built cheaply (the deployment tests' small Keras models, served as
TFLite), registered, deployed on real loopback servers and promoted as training_pipeline
does; the pipeline run must leave v1 serving through the router and champion again, with
the recovery time in the task's Metrics and an MLflow run, and the exit task's outcome.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kfp_mlops.components.common import model_dir as bundle
from kfp_mlops.components.deployment.deploy_model.core import deploy
from kfp_mlops.components.deployment.deploy_model.smoke import request
from kfp_mlops.components.deployment.deploy_model.targets import stop_local
from kfp_mlops.components.registry import common
from kfp_mlops.components.registry.promote_model.core import promote
from kfp_mlops.components.registry.register_model.core import register
from kfp_mlops.components.registry.rollback_model import record
from kfp_mlops.pipelines.tooling.local_runner import run_local
from tests.deployment.conftest import models  # noqa: F401 - the fixture, reused here
from tests.registry.conftest import EVALUATION

NAME = "rb-pipeline"


@pytest.fixture(scope="module")
def mlflow(tmp_path_factory):
    from tests.mlflow_server import start_mlflow_server, stop_mlflow_server

    url, process = start_mlflow_server(tmp_path_factory.mktemp("mlflow"))
    try:
        yield url
    finally:
        stop_mlflow_server(process)


def _bundle(folder: Path, keras: Path, tflite: Path) -> Path:
    folder.mkdir()
    (folder / "model.h5").write_bytes((keras / "model.h5").read_bytes())
    (folder / "model.tflite").write_bytes((tflite / "model.tflite").read_bytes())
    return folder


def _ship(mlflow: str, folder: Path, models, state_dir: Path) -> str:  # noqa: F811
    version = register(
        str(folder),
        EVALUATION,
        tracking_uri=mlflow,
        name=NAME,
        blessed=True,
        preprocessor_path=str(models.preprocessor),
    ).version
    outcome = deploy(
        str(folder),
        str(models.preprocessor),
        models.raw.assign(target=models.classes[0]),
        target="local",
        model_name=NAME,
        state_dir=str(state_dir),
        max_p95_ms=10_000,
        probe_requests=20,
        ready_timeout_s=240,
    ).outcome
    assert outcome.ok, outcome.reason
    promote(mlflow, NAME, version)
    return version


@pytest.mark.slow
def test_rollback_pipeline_restores_v1_on_the_local_target(mlflow, models, tmp_path):  # noqa: F811
    serving = tmp_path / "serving"
    v1 = _bundle(tmp_path / "v1", models.good, models.tflite)
    v2 = _bundle(tmp_path / "v2", models.good_v2, models.tflite_v2)
    try:
        assert [_ship(mlflow, f, models, serving) for f in (v1, v2)] == ["1", "2"]
        run = run_local(
            "rollback_pipeline",
            {
                "tracking_uri": mlflow,
                "registered_model_name": NAME,
                "ready_timeout_s": 240.0,
                "max_p95_ms": 10_000.0,
            },
            pipeline_root=str(tmp_path),
        )
        (task,) = [t for t in run.tasks if t.task.startswith("rollback-model")]
        assert task.parameters["Output"] == "1"
        assert task.metrics["recovery_time_s"] > 0
        report = Path(task.artifacts["report"]).read_text()
        assert "v2 -> v1" in report and "| predict (V1) | pass |" in report

        state = json.loads((serving / NAME / "state.json").read_text())
        restored = bundle.version_of(v1, models.preprocessor)
        assert state["live"]["version"] == restored
        router = f"http://127.0.0.1:{state['router']['port']}"
        answer = request(
            router, "POST", f"/v1/models/{NAME}:predict", {"instances": models.rows(2)}
        )
        assert (answer.status, answer.headers.get("x-served-by")) == (200, restored)
        assert common.alias_version(mlflow, NAME, common.CHAMPION).version == "1"

        client = common.client(mlflow)
        runs = client.search_runs(
            [client.get_experiment_by_name("kfp-mlops").experiment_id],
            filter_string=f"tags.`{record.EVENT_TAG}` = 'rollback'",
        )
        (rollback_run,) = runs
        # The Metrics artifact rounds to milliseconds.
        recovery = rollback_run.data.metrics["recovery_time_s"]
        assert recovery == pytest.approx(task.metrics["recovery_time_s"], abs=1e-3)
        (outcome,) = [t for t in run.tasks if t.task.startswith("record-outcome")]
        assert "SUCCEEDED" in outcome.parameters["Output"]
    finally:
        stop_local(str(serving), NAME)
