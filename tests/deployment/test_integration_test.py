"""integration_test against real model servers on loopback, and deploy_model's environments.

The servers are the local target's real processes (TFLite models, so they start in
seconds); the test split is the one the shared preprocessor was fitted with. Quality
measured over HTTP must equal what evaluation computes offline on the same model and rows.
No server outlives the tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kfp_mlops.components.common.errors import ParameterError, ServiceUnavailableError
from kfp_mlops.components.deployment.deploy_model.core import deploy, environment_dir
from kfp_mlops.components.deployment.deploy_model.smoke import request
from kfp_mlops.components.deployment.deploy_model.targets import stop_local
from kfp_mlops.components.deployment.integration_test.core import (
    Thresholds,
    load_sample,
    run_integration_test,
)
from kfp_mlops.components.deployment.integration_test.report import metrics_of, report_markdown
from tests.conftest import free_port

pytestmark = pytest.mark.slow

NAME = "itest"
LENIENT = {"max_latency_p50_ms": 1e9, "max_latency_p95_ms": 1e9, "max_latency_p99_ms": 1e9}


def _deploy(models, state_dir: Path, folder: Path, **kw):
    return deploy(
        str(folder),
        str(models.preprocessor),
        models.raw.assign(target=models.classes[0]),
        target="local",
        model_name=NAME,
        state_dir=str(state_dir),
        max_p95_ms=10_000,  # a loaded machine must not fail the canary on latency
        probe_requests=20,
        ready_timeout_s=240,
        **kw,
    )


@pytest.fixture(scope="module")
def test_split(models, breast_cancer) -> Path:
    """The processed test split of the split the shared preprocessor comes from."""
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess

    split = split_and_preprocess(breast_cancer, target_column="target", seed=0)
    assert split.preprocessor.to_json() == json.loads(models.preprocessor.read_text())
    path = models.root / "test.parquet"
    split.test.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def live(models, tmp_path_factory):
    """v1 serving in production and v2 in staging, side by side; both stopped at the end."""
    state_dir = tmp_path_factory.mktemp("itest_state")
    try:
        prod = _deploy(models, state_dir, models.tflite)
        staging = _deploy(models, state_dir, models.tflite_v2, environment="staging")
        assert prod.outcome.decision == staging.outcome.decision == "promoted"
        yield state_dir, prod, staging
    finally:
        stop_local(str(state_dir), NAME)
        stop_local(environment_dir(str(state_dir), "staging"), NAME)


def test_staging_and_production_servers_coexist(live, models):
    state_dir, prod, staging = live
    assert prod.url and staging.url and prod.url != staging.url
    assert (state_dir / NAME / "state.json").exists()
    assert (state_dir / "_staging" / NAME / "state.json").exists()
    for result in (prod, staging):
        r = request(result.url, "POST", f"/v1/models/{NAME}:predict", {"instances": models.rows(2)})
        assert r.status == 200
        assert r.headers["x-served-by"] == result.outcome.version
    assert prod.outcome.version != staging.outcome.version
    assert "| environment | staging |" in _report(staging)


def _report(result) -> str:
    from kfp_mlops.components.deployment.deploy_model.report import report_markdown as deploy_md

    return deploy_md(result)


def _offline_accuracy(models, folder: Path, test_split: Path) -> float:
    """Evaluation's own computation on the same model and rows, without a server."""
    from kfp_mlops.components.common.task import TaskSpec
    from kfp_mlops.components.evaluation.evaluate_model.core import load_test
    from kfp_mlops.components.evaluation.evaluate_model.predictors import (
        load_predictor,
        predict_all,
        score,
    )

    features, labels, _ = load_test(str(test_split), str(models.preprocessor))
    predict_fn, _ = load_predictor(str(folder))
    task = TaskSpec.load(models.preprocessor)
    metrics, _ = score(predict_all(predict_fn, features), labels, task)
    return metrics.scalars["accuracy"]


def test_replay_over_v1_and_v2_matches_offline_evaluation(live, models, test_split):
    _, _, staging = live
    result = run_integration_test(
        str(test_split),
        str(models.preprocessor),
        staging.url,
        NAME,
        Thresholds(min_accuracy=0.5, **LENIENT),
        protocol="both",
        latency_requests=30,
    )
    assert result.passed, result.failures
    n = len(load_sample(str(test_split), str(models.preprocessor)).rows)
    assert result.rows == n and n > 50
    assert result.scalars["answered"] == 1.0
    assert result.scalars["v1_v2_agreement"] == 1.0
    expected = _offline_accuracy(models, models.tflite_v2, test_split)
    assert result.scalars["accuracy"] == pytest.approx(expected, abs=1e-9)
    for q in (50, 95, 99):
        assert result.scalars[f"latency_single_p{q}_ms"] > 0
    metrics = metrics_of(result)
    assert metrics["passed"] == 1.0 and metrics["rows"] == n
    text = report_markdown(result)
    assert "✅ passed" in text and staging.url in text


def test_gate_fails_on_quality_and_latency_limits_the_server_misses(live, models, test_split):
    _, prod, _ = live
    result = run_integration_test(
        str(test_split),
        str(models.preprocessor),
        prod.url,
        NAME,
        # No real request is answered in a nanosecond, and no accuracy exceeds 1.
        Thresholds(min_accuracy=1.0, max_latency_p50_ms=1e-6, max_latency_p95_ms=0,
                   max_latency_p99_ms=0),
        latency_requests=5,
        max_rows=40,
    )  # fmt: skip
    failed = {c.name for c in result.checks if not c.passed}
    assert "latency_single_p50_ms" in failed
    assert result.rows == 40
    accuracy = result.scalars["accuracy"]
    assert ("accuracy" in failed) == (accuracy < 1.0)
    assert not result.passed and metrics_of(result)["passed"] == 0.0
    assert "❌ failed" in report_markdown(result)


def test_a_wrong_model_name_is_named(live, models, test_split):
    # The real server does not serve that name: it never reports it ready.
    _, prod, _ = live
    with pytest.raises(ServiceUnavailableError, match="did not answer as ready"):
        run_integration_test(
            str(test_split), str(models.preprocessor), prod.url, "no-such-model",
            Thresholds(**LENIENT), ready_timeout_s=1,
        )  # fmt: skip


def test_unreachable_endpoint_is_an_infrastructure_error(models, test_split):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServiceUnavailableError, match=url):
        run_integration_test(
            str(test_split), str(models.preprocessor), url, NAME, ready_timeout_s=1
        )


@pytest.mark.parametrize(
    ("url", "kw", "match"),
    [
        ("", {}, "endpoint_url is empty"),
        ("127.0.0.1:8080", {}, "not an http"),
        ("http://127.0.0.1:1", {"protocol": "grpc"}, "protocol 'grpc'"),
        ("http://127.0.0.1:1", {"max_error_rate": 1.5}, "max_error_rate"),
        ("http://127.0.0.1:1", {"latency_requests": 0}, "latency_requests"),
    ],
)
def test_bad_parameters_are_named_before_any_request(models, test_split, url, kw, match):
    with pytest.raises(ParameterError, match=match):
        run_integration_test(str(test_split), str(models.preprocessor), url, NAME, **kw)


def test_unknown_environment_is_refused_before_anything_is_deployed(models, tmp_path):
    with pytest.raises(ParameterError, match="environment 'qa'"):
        _deploy(models, tmp_path / "state", models.tflite, environment="qa")
    assert not (tmp_path / "state").exists()


def test_staging_alias_needs_a_registry_before_deploying(models, tmp_path):
    with pytest.raises(ParameterError, match="tracking_uri is empty"):
        _deploy(
            models, tmp_path / "s", models.tflite, environment="staging", registered_version="1"
        )
    assert not (tmp_path / "s").exists()


def test_labels_come_back_with_the_raw_rows(models, test_split):
    sample = load_sample(str(test_split), str(models.preprocessor), max_rows=7)
    assert len(sample.rows) == len(sample.labels) == 7
    assert list(sample.rows[0]) == models.inputs
    assert set(np.unique(sample.labels)) <= {0, 1}


@pytest.fixture(scope="module")
def regressor(tmp_path_factory):
    """A small Keras regressor on diabetes (standardised target), its test split and
    preprocessor, and its offline RMSE in the target's units on that split."""
    from sklearn.datasets import load_diabetes

    from kfp_mlops.components.common.metrics import regression_metrics
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess

    tf = import_tf()
    frame = load_diabetes(as_frame=True).frame
    split = split_and_preprocess(frame, standardize_target=True, seed=0)
    x = split.train.drop(columns=["label"]).to_numpy()
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential(
        [tf.keras.Input(shape=(x.shape[1],)), tf.keras.layers.Dense(8, "relu"),
         tf.keras.layers.Dense(1)]
    )  # fmt: skip
    model.compile("adam", "mse")
    model.fit(x, split.train["label"].to_numpy(), epochs=20, verbose=0)
    root = tmp_path_factory.mktemp("itest_regressor")
    (root / "model").mkdir()
    model.save(str(root / "model" / "model.h5"), save_format="h5")
    split.preprocessor.save(str(root / "preprocessor.json"))
    split.test.to_parquet(root / "test.parquet")
    task = split.preprocessor.task_spec
    test_x = split.test.drop(columns=["label"]).to_numpy()
    predicted = task.decode_target(model.predict(test_x, verbose=0)[:, 0])
    truth = task.decode_target(split.test["label"].to_numpy())
    rmse = regression_metrics(np.asarray(truth), np.asarray(predicted)).scalars["rmse"]
    return root, frame, rmse


def test_regression_is_gated_on_rmse_in_the_target_units(regressor, tmp_path):
    root, frame, offline_rmse = regressor
    state_dir = tmp_path / "state"
    try:
        deployed = deploy(
            str(root / "model"), str(root / "preprocessor.json"), frame, target="local",
            model_name="reg", state_dir=str(state_dir), environment="staging",
            ready_timeout_s=240,
        )  # fmt: skip
        assert deployed.outcome.decision == "promoted", deployed.outcome.reason
        args = (str(root / "test.parquet"), str(root / "preprocessor.json"), deployed.url, "reg")
        ok = run_integration_test(
            *args, Thresholds(max_rmse=offline_rmse * 1.5, **LENIENT), protocol="both",
            latency_requests=10,
        )  # fmt: skip
        assert ok.passed, ok.failures
        assert ok.task_type == "regression" and "accuracy" not in ok.scalars
        assert ok.scalars["rmse"] == pytest.approx(offline_rmse, rel=1e-3)
        assert ok.scalars["v1_v2_agreement"] == 1.0
        strict = run_integration_test(
            *args, Thresholds(max_rmse=offline_rmse / 2, **LENIENT), latency_requests=5
        )
        assert [c.name for c in strict.checks if not c.passed] == ["rmse"]
    finally:
        stop_local(environment_dir(str(state_dir), "staging"), "reg")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A real MLflow server on loopback."""
    from tests.mlflow_server import start_mlflow_server, stop_mlflow_server

    url, process = start_mlflow_server(tmp_path_factory.mktemp("itest_mlflow"))
    try:
        yield url
    finally:
        stop_mlflow_server(process)


def test_a_staging_deployment_points_the_staging_alias_at_its_version(
    registry, file_inputs, tmp_path
):
    from kfp_mlops.components.registry import common
    from kfp_mlops.components.registry.register_model.core import register
    from tests.mlflow_server import closed_port_uri
    from tests.registry.conftest import EVALUATION

    root, frame = file_inputs
    name = "staging-alias"
    version = register(
        str(root / "v1"), dict(EVALUATION), tracking_uri=registry, name=name, blessed=True
    ).version
    common_kw = {
        "target": "gitops",
        "model_name": name,
        "storage_uri": "pvc://models",
        "environment": "staging",
        "registered_version": version,
    }
    with pytest.raises(common.RegistryUnavailableError, match="unreachable"):
        deploy(
            str(root / "v1"), str(root / "preprocessor.json"), frame,
            gitops_dir=str(tmp_path / "down"), tracking_uri=closed_port_uri(), **common_kw,
        )  # fmt: skip
    assert not (tmp_path / "down").exists()  # nothing written before the registry answered
    with pytest.raises(common.RegistryError, match="has no version '42'"):
        deploy(
            str(root / "v1"), str(root / "preprocessor.json"), frame,
            gitops_dir=str(tmp_path / "missing"), tracking_uri=registry,
            **{**common_kw, "registered_version": "42"},
        )  # fmt: skip
    assert not (tmp_path / "missing").exists()

    result = deploy(
        str(root / "v1"), str(root / "preprocessor.json"), frame,
        gitops_dir=str(tmp_path / "repo"), tracking_uri=registry, **common_kw,
    )  # fmt: skip
    assert result.outcome.decision == "written" and result.alias == "staging"
    assert result.url == ""  # the GitOps controller serves it: nothing to reach from here
    assert common.alias_version(registry, name, "staging").version == version
    assert common.alias_version(registry, name, "champion") is None  # production untouched
    assert (tmp_path / "repo" / "_staging" / name).is_dir()
    assert not (tmp_path / "repo" / name).exists()
    assert "| MLflow alias | `staging` |" in _report(result)
