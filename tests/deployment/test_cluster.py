"""The cluster target against a loopback server answering like the Kubernetes API server.

The real ``kubernetes`` client builds and sends every request; the tests assert the verbs,
paths and bodies. Smoke tests and canary probes go to a real model server whose URL the fake
API server reports in the InferenceService status. No real cluster is involved.
"""

from __future__ import annotations

import contextlib

import pytest

from kfp_mlops.components.deployment.deploy_model import manifests as m
from kfp_mlops.components.deployment.deploy_model import processes
from kfp_mlops.components.deployment.deploy_model.core import deploy
from kfp_mlops.components.deployment.deploy_model.smoke import wait_ready
from tests.deployment.k8s_api import FakeKubeApi, FakeKubeServer

NS = "kubeflow-user"
BASE = f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices"


@pytest.fixture
def kube():
    api = FakeKubeApi()
    with FakeKubeServer(api) as server:
        yield api, server


def seed_previous(api: FakeKubeApi, version: str = "v000000000a") -> dict:
    spec = m.ServingSpec("clf", NS, version, f"pvc://models/clf/{version}")
    obj = api._store(m.inference_service(spec), 1)
    api.objects[(NS, "clf")] = obj
    return obj


def run(inputs, server, model="v1", **kw):
    root, frame = inputs
    kw.setdefault("ready_timeout_s", 1.0)
    return deploy(
        str(root / model),
        str(root / "preprocessor.json"),
        frame,
        target="cluster",
        model_name="clf",
        namespace=NS,
        storage_uri="pvc://models",
        api_client=server.api_client(),
        poll_interval_s=0.05,
        probe_requests=20,
        max_p95_ms=10_000,
        **kw,
    )


def test_first_deploy_that_never_gets_ready_is_removed(file_inputs, kube):
    api, server = kube
    api.ready = False
    result = run(file_inputs, server)
    assert result.outcome.decision == "rolled_back"
    assert "not ready after 1 s" in result.outcome.reason
    assert "Revision failed: container crashed" in result.outcome.reason
    assert api.calls() == [("POST", BASE), ("DELETE", f"{BASE}/clf")]
    created = api.requests[[r.method for r in api.requests].index("POST")].body
    assert created["metadata"]["annotations"][m.ANNOTATION_VERSION] == result.outcome.version
    assert "canaryTrafficPercent" not in created["spec"]["predictor"]
    assert api.objects == {}


def test_canary_that_never_gets_ready_restores_the_previous_spec(file_inputs, kube):
    api, server = kube
    previous = seed_previous(api)
    api.ready = False
    result = run(file_inputs, server)
    assert result.outcome.decision == "rolled_back"
    assert result.outcome.live == "v000000000a"
    assert api.calls() == [("PUT", f"{BASE}/clf"), ("PATCH", f"{BASE}/clf"), ("PUT", f"{BASE}/clf")]
    put_new, patch, put_old = (r for r in api.requests if r.method != "GET")
    assert put_new.body["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert put_new.body["metadata"]["resourceVersion"] == previous["metadata"]["resourceVersion"]
    assert patch.content_type == "application/merge-patch+json"
    assert patch.body == {"spec": {"predictor": {"canaryTrafficPercent": 0}}}
    assert put_old.body["spec"] == previous["spec"]
    live = api.objects[(NS, "clf")]
    assert live["metadata"]["annotations"][m.ANNOTATION_VERSION] == "v000000000a"
    with pytest.raises(Exception, match="rolled back"):
        result.outcome.raise_if_failed()


def test_missing_credentials_is_a_clear_error(file_inputs, monkeypatch, tmp_path):
    from kfp_mlops.components.common.errors import ParameterError
    from kfp_mlops.components.deployment.deploy_model.targets import ClusterTarget

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ParameterError, match="no Kubernetes credentials"):
        ClusterTarget("clf", NS, kubeconfig=str(tmp_path / "missing-kubeconfig"))


@contextlib.contextmanager
def served(model_dir, preprocessor, log):
    """A real model server of ``model_dir`` on loopback (its URL), stopped afterwards."""
    proc = processes.start_server(str(model_dir), str(preprocessor), "clf", log)
    try:
        wait_ready(proc.url, "clf", 240, alive=lambda: processes.exit_message(proc.pid, str(log)))
        yield proc.url
    finally:
        processes.stop(proc.pid)


@pytest.fixture(scope="module")
def model_server(models, tmp_path_factory):
    """A real server (TFLite: starts fast) that the fake status URLs point to."""
    with served(models.tflite, models.preprocessor, tmp_path_factory.mktemp("srv") / "log") as url:
        yield url


def model_inputs(models):
    return models.root, models.raw.assign(target=models.classes[0])


@pytest.mark.slow
def test_canary_steps_then_promotes(models, model_server, kube):
    api, server = kube
    api.server_url = model_server
    seed_previous(api)
    result = run(model_inputs(models), server, model="tflite", ready_timeout_s=30)
    assert result.outcome.decision == "promoted", result.outcome.reason
    assert result.outcome.smoke.ok
    assert [s.percent for s in result.outcome.steps] == [10, 50, 100]
    patches = [
        r.body["spec"]["predictor"]["canaryTrafficPercent"]
        for r in api.requests
        if r.method == "PATCH"
    ]
    assert patches == [10, 50, 100, None]  # null removes the field: latest revision takes all
    assert api.calls()[0] == ("PUT", f"{BASE}/clf")
    live = api.objects[(NS, "clf")]
    assert "canaryTrafficPercent" not in live["spec"]["predictor"]
    assert live["metadata"]["annotations"][m.ANNOTATION_VERSION] == result.outcome.version


@pytest.mark.slow
def test_blue_green_uses_a_preview_service(models, model_server, kube):
    api, server = kube
    api.server_url = model_server
    seed_previous(api)
    result = run(
        model_inputs(models), server, model="tflite", strategy="blue-green", ready_timeout_s=30
    )
    assert result.outcome.decision == "promoted", result.outcome.reason
    assert api.calls() == [
        ("POST", BASE),
        ("PUT", f"{BASE}/clf"),
        ("DELETE", f"{BASE}/clf-preview"),
    ]
    preview = api.requests[[r.method for r in api.requests].index("POST")].body
    assert preview["metadata"]["name"] == "clf-preview"
    args = preview["spec"]["predictor"]["containers"][0]["args"]
    assert args[args.index("--model-name") + 1] == "clf"  # same model name behind both services
    assert set(api.objects) == {(NS, "clf")}


@pytest.mark.slow
def test_rolling_with_a_failing_smoke_test_restores_previous(models, kube, tmp_path):
    api, server = kube
    log = tmp_path / "nan.log"
    proc = processes.start_server(str(models.tflite_nan), str(models.preprocessor), "clf", log)
    try:
        wait_ready(proc.url, "clf", 240)
        api.server_url = proc.url  # the new revision answers NaN -> 500
        previous = seed_previous(api)
        result = run(
            model_inputs(models), server, model="tflite_nan", strategy="rolling", ready_timeout_s=30
        )
    finally:
        processes.stop(proc.pid)
    assert result.outcome.decision == "rolled_back"
    assert "non-finite" in result.outcome.reason
    assert api.calls() == [("PUT", f"{BASE}/clf"), ("PUT", f"{BASE}/clf")]
    assert api.objects[(NS, "clf")]["spec"] == previous["spec"]
