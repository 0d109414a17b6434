"""End-to-end runs of the pipelines through kfp.local: the real components, no mocks.

One module-scoped training run makes a champion (registered, deployed on loopback,
promoted); the retraining tests then run against it, in order:
no drift -> no retraining; drift -> a better model is promoted; drift with a bar the new
model cannot clear -> nothing is promoted and the champion keeps serving; the rollback
pipeline restores the first champion; the DORA report is computed from these runs.
"""

import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from kfp_mlops.pipelines.tooling.local_runner import run_local

pytestmark = [pytest.mark.slow, pytest.mark.trainer]

MODEL = "kfp-mlops-classifier"
# Lenient latency limits, as the unit tests pass: a loaded CI machine must not turn a
# blessed model into a rejected one, or a healthy canary into a rollback.
LENIENT_LATENCY = {
    "max_latency_p50_ms": 1e9,
    "max_latency_p95_ms": 1e9,
    "max_latency_p99_ms": 1e9,
    "canary_max_p95_ms": 1e9,
}
# Small but real: 2 Horovod workers, a short Optuna search, int8 quantization.
FAST = {"tune_trials": 2, "tune_epochs": 3, "epochs": 12, "num_workers": 2, **LENIENT_LATENCY}


def _task(run, prefix):
    matches = [t for t in run.tasks if t.task == prefix or t.task.startswith(prefix + "-")]
    return matches[0] if matches else None


def _champion(root):
    from kfp_mlops.components.registry.common import CHAMPION, alias_version

    version = alias_version(f"sqlite:///{root / 'mlflow.db'}", MODEL, CHAMPION)
    return None if version is None else str(version.version)


def _predict_through_router(root, rows):
    state = json.loads((root / "serving" / MODEL / "state.json").read_text())
    url = f"http://127.0.0.1:{state['router']['port']}/v1/models/{MODEL}:predict"
    body = json.dumps({"instances": rows}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
        return response.status, json.loads(response.read())


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, breast_cancer):
    """A pipeline root with a champion made by training_pipeline; servers stopped at the end."""
    from kfp_mlops.components.deployment.deploy_model.targets import stop_local

    root = tmp_path_factory.mktemp("e2e")
    run = run_local("training_pipeline", dict(FAST), pipeline_root=str(root))
    # Drifted copy of the data: five features rescaled by 1.3 and shifted by one std, same
    # labels; it stays inside the retraining suite's widened ranges (validation_margin 0.9).
    drifted = breast_cancer.copy()
    for col in ["mean_radius", "mean_texture", "mean_area", "worst_area", "worst_radius"]:
        drifted[col] = drifted[col] * 1.3 + drifted[col].std()
    drifted.to_csv(root / "drifted.csv", index=False)
    try:
        yield root, run
    finally:
        stop_local(str(root / "serving"), MODEL)


def test_training_pipeline_trains_gates_registers_deploys_and_promotes(workspace, breast_cancer):
    root, run = workspace
    assert _task(run, "validate-data").parameters["Output"] is True
    train = _task(run, "train-model")
    assert train.metrics["workers"] == 2
    assert train.metrics["val_accuracy"] > 0.9
    assert (Path(train.artifacts["model"]) / "model.h5").exists()
    assert _task(run, "quantize-model").metrics["gzipped_size_ratio"] > 1.2  # int8 < float32
    assert _task(run, "evaluate-model").parameters["Output"] is True
    version = _task(run, "register-model").parameters["Output"]
    assert _task(run, "promote-model") is not None
    assert _champion(root) == version
    outcome = json.loads(open(_task(run, "record-outcome").artifacts["outcome"]).read())
    assert outcome["state"] == "SUCCEEDED"
    # The promoted model answers through the local router.
    rows = breast_cancer.drop(columns=["target"]).head(3).to_dict(orient="records")
    status, answer = _predict_through_router(root, rows)
    assert status == 200 and len(answer["predictions"]) == 3


def test_retraining_without_drift_does_not_retrain(workspace):
    root, _ = workspace
    before = _champion(root)
    run = run_local("retraining_pipeline", dict(FAST), pipeline_root=str(root))
    assert _task(run, "monitor-model").parameters["Output"] is False
    assert _task(run, "train-model") is None
    assert _champion(root) == before


def test_drift_retrains_and_promotes_only_a_better_model(workspace, breast_cancer):
    root, _ = workspace
    before = _champion(root)
    params = {**FAST, "current_source": str(root / "drifted.csv")}
    run = run_local("retraining_pipeline", params, pipeline_root=str(root))
    monitor = _task(run, "monitor-model")
    assert monitor.parameters["Output"] is True
    assert monitor.metrics["drifted_features"] >= 3
    evaluation = _task(run, "evaluate-model")
    assert evaluation.parameters["Output"] is True  # beats the champion on the drifted data
    assert _champion(root) == _task(run, "register-model").parameters["Output"] != before

    # A bar no model can clear: the retrained model is not promoted, the champion serves on.
    champion = _champion(root)
    # Any model fails this bar, so the cheapest training shows it (saves CI minutes).
    strict = {**params, "min_improvement": 0.5, "tune_trials": 1, "tune_epochs": 2, "epochs": 4}
    run = run_local("retraining_pipeline", strict, pipeline_root=str(root))
    assert _task(run, "evaluate-model").parameters["Output"] is False
    assert _task(run, "register-model") is None and _task(run, "deploy-model") is None
    assert _champion(root) == champion
    rows = breast_cancer.drop(columns=["target"]).head(2)
    status, answer = _predict_through_router(root, rows.to_dict(orient="records"))
    assert status == 200 and np.asarray(answer["predictions"]).shape[0] == 2


def test_rollback_pipeline_restores_the_previous_champion(workspace, breast_cancer):
    """The retrained champion is rolled back: the first one is champion again and serves."""
    root, run = workspace
    first = _task(run, "register-model").parameters["Output"]
    assert _champion(root) != first  # the drift test promoted a retrained model
    lenient = {"max_p95_ms": 1e9, "ready_timeout_s": 240.0}
    rolled = run_local("rollback_pipeline", lenient, pipeline_root=str(root))
    assert _task(rolled, "rollback-model").parameters["Output"] == first
    assert _champion(root) == first
    rows = breast_cancer.drop(columns=["target"]).head(2).to_dict(orient="records")
    status, answer = _predict_through_router(root, rows)
    assert status == 200 and len(answer["predictions"]) == 2


def test_delivery_metrics_from_these_pipeline_runs(workspace):
    """The DORA report of the five real runs above, through the CLI a team would use:
    training (promoted), retraining without drift (nothing to ship), retraining on drift
    (promoted, later rolled back), the strict retraining (gated out, not a deployment and not
    a failure) and the rollback (an incident still open: no deployment came after it)."""
    import subprocess
    import sys

    root, _ = workspace
    cmd = [sys.executable, "-m", "kfp_mlops.pipelines.cli", "delivery-metrics",
           "--tracking-uri", f"sqlite:///{root / 'mlflow.db'}", "--model", MODEL,
           "--days", "1", "--json"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout[done.stdout.index("{") :])
    assert figures["runs"] == 5 and figures["failed_runs"] == 0 and figures["rollbacks"] == 1
    assert figures["deployments"] == 2 and figures["versions_registered"] == 2
    # The drift retraining's version was rolled back: one failed change of two attempts.
    assert figures["failed_changes"] == 1 and figures["change_failure_rate"] == 0.5
    assert figures["incidents"] == 1 and figures["open_incidents"] == 1
    assert "mean_time_to_restore_seconds" not in figures  # nothing restored it yet
    assert figures["deployment_frequency_per_day"] == 2.0  # two deployments in a 1-day window
    # Lead time: from each run's start (no data or commit time given) to its deployment;
    # a real run of this pipeline takes minutes, never more than the test's own duration.
    assert 30 < figures["lead_time_median_seconds"] < 3600
