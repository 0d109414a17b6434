"""Rollback end to end against a real MLflow server, per target.

Each test ships two versions as training_pipeline does (register, deploy, promote), then
rolls back: the previous version must serve again (local: real servers behind the router;
cluster: the loopback Kubernetes API stand-in with real model servers behind its status
URLs; gitops: test_rollback_gitops.py) and only then be champion. A previous version that
fails its smoke test leaves the current one serving and the alias where it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from kfp_mlops.components.common import model_dir as bundle
from kfp_mlops.components.common.errors import UserError
from kfp_mlops.components.deployment.deploy_model import manifests as m
from kfp_mlops.components.deployment.deploy_model import processes
from kfp_mlops.components.deployment.deploy_model.core import deploy
from kfp_mlops.components.deployment.deploy_model.smoke import DeploymentError, request
from kfp_mlops.components.deployment.deploy_model.targets import stop_local
from kfp_mlops.components.deployment.deploy_model.targets.cluster import history_of
from kfp_mlops.components.registry import common
from kfp_mlops.components.registry.promote_model.core import promote
from kfp_mlops.components.registry.register_model.core import register
from kfp_mlops.components.registry.rollback_model import record
from kfp_mlops.components.registry.rollback_model.core import (
    ROLLED_BACK_TAG,
    NoPreviousVersionError,
)
from kfp_mlops.components.registry.rollback_model.redeploy import Settings, rollback_and_redeploy
from tests.deployment.k8s_api import FakeKubeApi, FakeKubeServer
from tests.deployment.test_cluster import served
from tests.registry.conftest import EVALUATION

NS = "kubeflow-user"


@pytest.fixture(scope="module")
def mlflow(tmp_path_factory):
    from tests.mlflow_server import start_mlflow_server, stop_mlflow_server

    url, process = start_mlflow_server(tmp_path_factory.mktemp("mlflow"))
    try:
        yield url
    finally:
        stop_mlflow_server(process)


@pytest.fixture(scope="module")
def bundles(models, tmp_path_factory) -> SimpleNamespace:
    """Model directories as train + quantize leave them: model.h5 and model.tflite (served)."""
    root = tmp_path_factory.mktemp("bundles")
    made = {}
    for name, keras, tflite in [
        ("v1", models.good, models.tflite),
        ("v2", models.good_v2, models.tflite_v2),
        ("nan", models.nan, models.tflite_nan),
    ]:
        folder = root / name
        folder.mkdir()
        (folder / "model.h5").write_bytes((keras / "model.h5").read_bytes())
        (folder / "model.tflite").write_bytes((tflite / "model.tflite").read_bytes())
        made[name] = folder
    return SimpleNamespace(**made)


def ship(mlflow: str, name: str, folder: Path, preprocessor: Path, deployer=None) -> str:
    """Register ``folder``, deploy it with ``deployer`` (if any), promote it; the version."""
    version = register(
        str(folder),
        EVALUATION,
        tracking_uri=mlflow,
        name=name,
        blessed=True,
        preprocessor_path=str(preprocessor),
    ).version
    if deployer is not None:
        outcome = deployer(folder).outcome
        assert outcome.ok, outcome.reason
    promote(mlflow, name, version)
    return version


def champion(mlflow: str, name: str) -> str:
    return common.alias_version(mlflow, name, common.CHAMPION).version


def rollback_runs(mlflow: str, name: str) -> list:
    client = common.client(mlflow)
    experiment = client.get_experiment_by_name("kfp-mlops")
    return client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{record.EVENT_TAG}` = 'rollback' "
        f"and tags.`kfp-mlops.model` = '{name}'",
    )


# local ------------------------------------------------------------------------------------


def local_deployer(models, state_dir: Path, name: str):
    def run(folder: Path):
        return deploy(
            str(folder),
            str(models.preprocessor),
            models.raw.assign(target=models.classes[0]),
            target="local",
            model_name=name,
            state_dir=str(state_dir),
            max_p95_ms=10_000,
            probe_requests=20,
            ready_timeout_s=240,
        )

    return run


def state(state_dir: Path, name: str) -> dict:
    return json.loads((state_dir / name / "state.json").read_text())


def served_by(state_dir: Path, name: str, rows) -> tuple[int, str | None]:
    url = f"http://127.0.0.1:{state(state_dir, name)['router']['port']}"
    r = request(url, "POST", f"/v1/models/{name}:predict", {"instances": rows}, timeout=30)
    return r.status, r.headers.get("x-served-by")


def local_settings(state_dir: Path) -> Settings:
    return Settings(target="local", state_dir=str(state_dir), ready_timeout_s=240, max_p95_ms=1e4)


@pytest.mark.slow
def test_local_rollback_serves_the_previous_version_then_moves_the_alias(
    mlflow, models, bundles, tmp_path
):
    name = "rb-local"
    deployer = local_deployer(models, tmp_path, name)
    try:
        ship(mlflow, name, bundles.v1, models.preprocessor, deployer)
        v1 = state(tmp_path, name)["live"]["version"]
        ship(mlflow, name, bundles.v2, models.preprocessor, deployer)
        before = state(tmp_path, name)["live"]
        assert served_by(tmp_path, name, models.rows(2)) == (200, before["version"])

        result = rollback_and_redeploy(mlflow, name, local_settings(tmp_path))

        assert (result.registry.version, result.registry.demoted) == ("1", "2")
        assert (result.serving_before, result.serving_now) == (before["version"], v1)
        assert result.decision == "promoted" and result.outcome.smoke.ok
        now = state(tmp_path, name)
        assert now["live"]["version"] == v1
        # The server runs from files kept in the state folder, not from a temporary download.
        assert Path(now["live"]["model_dir"]).is_relative_to(tmp_path / name / "releases")
        assert now["routes"] == [{"port": now["live"]["port"], "version": v1, "weight": 100}]
        assert not processes.is_alive(before["pid"])  # v2's server is gone
        assert served_by(tmp_path, name, models.rows(3)) == (200, v1)
        assert champion(mlflow, name) == "1"
        tags = common.model_version(mlflow, name, "2").tags
        assert tags[ROLLED_BACK_TAG] == "1"
        restored = common.model_version(mlflow, name, "1").tags
        assert float(restored[record.RECOVERY_TAG]) == pytest.approx(result.recovery_time_s, 1e-3)
        (run,) = rollback_runs(mlflow, name)
        assert run.data.tags["kfp.state"] == "SUCCEEDED"
        assert run.data.metrics["recovery_time_s"] == pytest.approx(result.recovery_time_s)
        assert run.info.end_time >= run.info.start_time
        assert result.metrics()["recovery_time_s"] > 0
    finally:
        stop_local(str(tmp_path), name)


@pytest.mark.slow
def test_local_previous_version_failing_its_smoke_test_changes_nothing(
    mlflow, models, bundles, tmp_path
):
    name = "rb-local-broken"
    # v1 (NaN outputs) was champion once but is not deployed; v2 serves.
    ship(mlflow, name, bundles.nan, models.preprocessor)
    try:
        ship(mlflow, name, bundles.v1, models.preprocessor, local_deployer(models, tmp_path, name))
        before = state(tmp_path, name)["live"]

        with pytest.raises(DeploymentError, match="still serves and the champion alias did not"):
            rollback_and_redeploy(mlflow, name, local_settings(tmp_path))

        after = state(tmp_path, name)
        assert after["live"]["version"] == before["version"]
        assert after["live"]["pid"] == before["pid"]  # never stopped
        assert after["candidate"] is None
        assert served_by(tmp_path, name, models.rows(2)) == (200, before["version"])
        assert champion(mlflow, name) == "2"
        assert ROLLED_BACK_TAG not in common.model_version(mlflow, name, "2").tags
        (run,) = rollback_runs(mlflow, name)
        assert run.data.tags["kfp.state"] == "FAILED"
        assert "non-finite" in run.data.tags["kfp-mlops.reason"]
    finally:
        stop_local(str(tmp_path), name)


@pytest.mark.slow
def test_no_previous_version_changes_nothing(mlflow, models, bundles, tmp_path):
    name = "rb-only-one"
    try:
        ship(mlflow, name, bundles.v1, models.preprocessor, local_deployer(models, tmp_path, name))
        before = (tmp_path / name / "state.json").read_bytes()
        with pytest.raises(NoPreviousVersionError, match="no 'previous_champion' tag") as info:
            rollback_and_redeploy(mlflow, name, local_settings(tmp_path))
        assert isinstance(info.value, UserError)
        assert "nothing was changed" in str(info.value)
        assert (tmp_path / name / "state.json").read_bytes() == before
        assert champion(mlflow, name) == "1"
        assert served_by(tmp_path, name, models.rows(1))[0] == 200
        assert rollback_runs(mlflow, name) == []
    finally:
        stop_local(str(tmp_path), name)


def test_nothing_deployed_locally_is_a_clear_error(mlflow, file_inputs, tmp_path):
    root, _ = file_inputs
    name = "rb-nothing"
    for folder in ("v1", "v2"):
        ship(mlflow, name, root / folder, root / "preprocessor.json")
    with pytest.raises(UserError, match="no local deployment of 'rb-nothing'"):
        rollback_and_redeploy(mlflow, name, local_settings(tmp_path))
    assert champion(mlflow, name) == "2"
    assert not (tmp_path / name).exists()  # no router was started


# cluster ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_servers(models, bundles, tmp_path_factory):
    """Real servers of both versions (TFLite: fast to start); version -> URL."""
    logs = tmp_path_factory.mktemp("servers")
    with (
        served(bundles.v1, models.preprocessor, logs / "v1.log") as one,
        served(bundles.v2, models.preprocessor, logs / "v2.log") as two,
    ):
        yield {
            bundle.version_of(bundles.v1, models.preprocessor): one,
            bundle.version_of(bundles.v2, models.preprocessor): two,
        }


def cluster_deployer(models, server, name: str):
    def run(folder: Path):
        return deploy(
            str(folder),
            str(models.preprocessor),
            models.raw.assign(target=models.classes[0]),
            target="cluster",
            model_name=name,
            namespace=NS,
            storage_uri="pvc://models",
            api_client=server.api_client(),
            poll_interval_s=0.05,
            probe_requests=20,
            max_p95_ms=10_000,
            ready_timeout_s=30,
        )

    return run


def cluster_settings(server) -> Settings:
    return Settings(
        target="cluster",
        namespace=NS,
        api_client=server.api_client(),
        poll_interval_s=0.05,
        ready_timeout_s=30,
        max_p95_ms=1e4,
    )


@pytest.fixture
def shipped_cluster(mlflow, models, bundles, two_servers):
    """v1 then v2 deployed through the API stand-in and promoted.

    The servers answer to the model name ``clf``, so every test registers under that name
    (the versions keep counting up); yields (api, server, name, registry versions).
    """
    api = FakeKubeApi(servers=dict(two_servers))
    name = "clf"
    with FakeKubeServer(api) as server:
        versions = [
            ship(mlflow, name, folder, models.preprocessor, cluster_deployer(models, server, name))
            for folder in (bundles.v1, bundles.v2)
        ]
        yield api, server, name, versions


@pytest.mark.slow
def test_cluster_rollback_reapplies_the_recorded_spec(mlflow, models, bundles, shipped_cluster):
    api, server, name, versions = shipped_cluster
    v1, v2 = (bundle.version_of(f, models.preprocessor) for f in (bundles.v1, bundles.v2))
    first = next(r.body for r in api.requests if r.method == "POST")  # v1, as first applied
    live = api.objects[(NS, name)]
    assert [e["version"] for e in history_of(live)] == [v1]
    api.requests.clear()

    result = rollback_and_redeploy(mlflow, name, cluster_settings(server))

    assert (result.serving_before, result.serving_now, result.decision) == (v2, v1, "promoted")
    assert result.outcome.smoke.ok and result.outcome.smoke.url == api.servers[v1]
    base = f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices/{name}"
    assert api.calls() == [("PUT", base), ("PATCH", base), ("PATCH", base)]
    put = next(r.body for r in api.requests if r.method == "PUT")
    # v1's spec exactly as it was first applied, as a 0 % canary beside v2.
    assert put["spec"]["predictor"].pop("canaryTrafficPercent") == 0
    assert put["spec"] == first["spec"]
    assert [r.body for r in api.requests if r.method == "PATCH"] == [
        {"spec": {"predictor": {"canaryTrafficPercent": 100}}},
        {"spec": {"predictor": {"canaryTrafficPercent": None}}},
    ]
    now = api.objects[(NS, name)]
    assert now["metadata"]["annotations"][m.ANNOTATION_VERSION] == v1
    assert [e["version"] for e in history_of(now)] == [v2]  # a rollforward stays possible
    assert champion(mlflow, name) == versions[0]


@pytest.mark.slow
def test_cluster_failed_smoke_test_restores_the_current_spec(
    mlflow, models, bundles, shipped_cluster
):
    api, server, name, versions = shipped_cluster
    v1 = bundle.version_of(bundles.v1, models.preprocessor)
    current = json.loads(json.dumps(api.objects[(NS, name)]))
    api.servers[v1] = "http://127.0.0.1:9"  # v1's revision does not answer

    with pytest.raises(DeploymentError, match="still serves"):
        rollback_and_redeploy(mlflow, name, cluster_settings(server))

    now = api.objects[(NS, name)]
    assert now["spec"] == current["spec"]
    assert now["metadata"]["annotations"] == current["metadata"]["annotations"]
    assert champion(mlflow, name) == versions[1]
