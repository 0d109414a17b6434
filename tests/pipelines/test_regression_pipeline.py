"""A user's own model on a regression task through the whole training_pipeline (kfp.local):
validate -> split -> tune (the module's search_space) -> train (2 Horovod workers) -> prune
-> int8 -> evaluate (RMSE gate) -> register -> deploy (real servers on loopback) -> promote,
then monitoring_pipeline on the promoted regressor (RMSE/MAE against the registry's baseline)."""

import json
import urllib.request
from pathlib import Path

import pytest

from kfp_mlops.pipelines.tooling.local_runner import run_local

pytestmark = [pytest.mark.slow, pytest.mark.trainer]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "user_model" / "wide_and_deep.py"
MODEL = "diabetes-regressor"
PARAMS = {
    "source": "builtin:diabetes",
    "reference_source": "builtin:diabetes",
    "model_fn": str(EXAMPLE),
    "registered_model_name": MODEL,
    "tune_trials": 1,
    "tune_epochs": 3,
    # 309 training rows in global batches of 64 with 4 accumulated batches per update make
    # about one optimizer update per epoch: a small table needs many epochs (cheap here).
    "epochs": 150,
    "num_workers": 2,
    # Lenient latency limits: a loaded CI machine must not flip the verdict.
    "max_latency_p50_ms": 1e9,
    "max_latency_p95_ms": 1e9,
    "max_latency_p99_ms": 1e9,
    "canary_max_p95_ms": 1e9,
}


def _task(run, prefix):
    return next(t for t in run.tasks if t.task == prefix or t.task.startswith(prefix + "-"))


def test_user_model_regression_runs_the_whole_training_pipeline(tmp_path):
    from sklearn.datasets import load_diabetes

    from kfp_mlops.components.deployment.deploy_model.targets import stop_local

    run = run_local("training_pipeline", dict(PARAMS), pipeline_root=str(tmp_path))
    try:
        split = _task(run, "split-and-preprocess")
        assert split.parameters["Output"] == 0  # no classes: a regression task
        train = _task(run, "train-model")
        assert train.metrics["workers"] == 2 and "val_rmse" in train.metrics
        described = json.loads((Path(train.artifacts["model"]) / "model_config.json").read_text())
        assert described["model_fn"] == str(EXAMPLE)
        assert described["task"]["task_type"] == "regression"
        evaluation = _task(run, "evaluate-model")
        assert evaluation.parameters["Output"] is True
        # In the target's units: the target's sd is ~77, so predicting the mean scores ~77;
        # the trained model does better.
        frame = load_diabetes(as_frame=True).frame
        assert evaluation.metrics["rmse"] < 0.95 * float(frame["target"].std())
        assert _task(run, "promote-model") is not None
        # The promoted model answers numbers in the target's units through the router.
        state = json.loads((tmp_path / "serving" / MODEL / "state.json").read_text())
        url = f"http://127.0.0.1:{state['router']['port']}/v1/models/{MODEL}:predict"
        rows = frame.drop(columns=["target"]).head(3).to_dict(orient="records")
        body = json.dumps({"instances": rows}).encode()
        req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as response:  # loopback only
            answer = json.loads(response.read())
        assert len(answer["predictions"]) == 3
        assert all(20 < p < 360 for p in answer["predictions"])

        # The monitoring pipeline judges the promoted regressor on RMSE/MAE, with the baseline
        # the registry holds (evaluation's figures, in the target's units).
        monitored = run_local(
            "monitoring_pipeline",
            {
                "current_source": "builtin:diabetes",
                "reference_source": "builtin:diabetes",
                "registered_model_name": MODEL,
            },
            pipeline_root=str(tmp_path),
        )
        monitor = _task(monitored, "monitor-model")
        assert "accuracy" not in monitor.metrics
        rmse = evaluation.metrics["rmse"]
        assert 0.5 * rmse < monitor.metrics["rmse"] < 1.5 * rmse and "mae" in monitor.metrics
        result = json.loads(Path(monitor.artifacts["result_json"]).read_text())
        assert [c["metric"] for c in result["checks"]] == ["rmse", "mae"]
        assert result["checks"][0]["baseline"] == pytest.approx(rmse, rel=1e-4)
    finally:
        stop_local(str(tmp_path / "serving"), MODEL)
