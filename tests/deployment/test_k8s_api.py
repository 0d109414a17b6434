"""The Kubernetes API stand-in catches the bugs it exists for: admission, lag, per-version URLs.

Each test drives the cluster target (the real ``kubernetes`` client) against
:class:`~tests.deployment.k8s_api.FakeKubeApi` and shows what a careless client would get
wrong: a body the API server refuses, a status read before the controller caught up, a smoke
test that reaches the previous revision instead of the canary.
"""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException

from kfp_mlops.components.deployment.deploy_model import manifests as m
from kfp_mlops.components.deployment.deploy_model.smoke import ReadyTimeout
from kfp_mlops.components.deployment.deploy_model.targets import ClusterTarget, Release
from tests.deployment.crds import needs_crds
from tests.deployment.k8s_api import FakeKubeApi, FakeKubeServer
from tests.deployment.test_cluster import NS, model_inputs, run, served
from tests.deployment.test_cluster import model_server as model_server  # the fixture

OLD, NEW = "v000000000a", "v000000000b"


def serving_spec(version: str, **changes) -> m.ServingSpec:
    return m.ServingSpec("clf", NS, version, f"pvc://models/clf/{version}", **changes)


@pytest.fixture
def kube():
    api = FakeKubeApi()
    with FakeKubeServer(api) as server:
        target = ClusterTarget("clf", NS, server.api_client(), poll_interval_s=0.02)
        yield api, target


@needs_crds
def test_an_invalid_body_is_refused_with_422_naming_the_field(kube):
    api, target = kube
    body = m.inference_service(serving_spec(NEW))
    body["spec"]["predictor"]["scaleMetric"] = "gpu"  # not in the CRD's enum
    with pytest.raises(ApiException) as caught:
        target._upsert(body)
    assert caught.value.status == 422
    assert (
        "$.spec.predictor.scaleMetric: 'gpu' is not one of"
        in json.loads(caught.value.body)["message"]
    )
    assert api.objects == {}


@needs_crds
def test_an_unknown_field_is_refused_under_strict_and_dropped_otherwise(kube):
    api, target = kube
    body = m.inference_service(serving_spec(NEW))
    body["spec"]["predictor"]["canaryTraficPercent"] = 10  # misspelled
    with pytest.raises(ApiException) as caught:
        target._upsert(body)  # the cluster target asks for fieldValidation=Strict
    assert caught.value.status == 400
    message = json.loads(caught.value.body)["message"]
    assert message == 'strict decoding error: unknown field "spec.predictor.canaryTraficPercent"'
    # Without Strict (the API server's default) the field silently disappears.
    target.api.create_namespaced_custom_object(m.GROUP, m.VERSION, NS, m.PLURAL, body)
    stored = api.objects[(NS, "clf")]
    assert "canaryTraficPercent" not in stored["spec"]["predictor"]
    assert "canaryTrafficPercent" not in stored["spec"]["predictor"]


def _ready_only(obj: dict) -> bool:
    """The careless check: Ready=True, whatever generation it describes."""
    conditions = obj.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_the_old_status_lingers_after_a_write_and_the_target_waits_it_out(kube):
    api, target = kube
    api.seed(m.inference_service(serving_spec(OLD)))
    assert target.live().version == OLD
    api.ready = False  # the new generation never becomes ready
    target.start(Release("clf", NEW, spec=serving_spec(NEW)), "canary")
    stale = target._get("clf")
    assert stale["metadata"]["generation"] == 2
    assert stale["status"]["observedGeneration"] == 1
    assert _ready_only(stale)  # a Ready-only wait would have gone on with the old revision
    with pytest.raises(ReadyTimeout, match="not ready after"):
        target.wait_ready(Release("clf", NEW), 0.5)


def test_a_traffic_step_waits_until_the_controller_applied_it(kube):
    api, target = kube
    api.seed(m.inference_service(serving_spec(OLD)))
    target.live()
    release = Release("clf", NEW, spec=serving_spec(NEW))
    target.start(release, "canary")
    target.wait_ready(release, 5)
    target.set_traffic(release, 10)
    # The first read after the step already shows the new split: the step waited for it.
    traffic = target._get("clf")["status"]["components"]["predictor"]["traffic"]
    assert [(t["tag"], t["percent"]) for t in traffic] == [("latest", 10), ("prev", 90)]


def test_latest_and_prev_tags_reach_each_revision_s_own_server(kube):
    api, target = kube
    api.servers = {OLD: "http://127.0.0.1:1001", NEW: "http://127.0.0.1:1002"}
    api.seed(m.inference_service(serving_spec(OLD)))
    target.live()
    release = Release("clf", NEW, spec=serving_spec(NEW))
    target.start(release, "canary")
    target.wait_ready(release, 5)
    assert target.endpoint(release) == "http://127.0.0.1:1002"  # the canary alone
    assert target.route_url() == "http://127.0.0.1:1001"  # at 0 % clients reach the old one


@pytest.fixture(scope="module")
def nan_server(models, tmp_path_factory):
    """A real server of a model whose answers are NaN (the broken canary)."""
    with served(
        models.tflite_nan, models.preprocessor, tmp_path_factory.mktemp("nan") / "log"
    ) as url:
        yield url


@pytest.mark.slow
def test_a_broken_canary_is_smoke_tested_on_its_own_revision(
    models, model_server, nan_server, monkeypatch
):
    """latest = the NaN model, prev = the good one: only the canary's own URL shows the fault."""

    def deploy_with(api: FakeKubeApi):
        api.server_url = nan_server  # the new version (its name is computed by deploy)
        api.servers = {OLD: model_server}
        api.seed(m.inference_service(serving_spec(OLD)))
        with FakeKubeServer(api) as server:
            return run(model_inputs(models), server, model="tflite_nan", ready_timeout_s=30)

    result = deploy_with(FakeKubeApi())
    assert result.outcome.decision == "rolled_back"
    assert "non-finite" in result.outcome.reason
    assert result.outcome.smoke.url == nan_server
    # The bug this exists for: a smoke test through the service URL tests the old revision.
    monkeypatch.setattr(ClusterTarget, "endpoint", lambda self, release: self.route_url())
    careless = deploy_with(FakeKubeApi())
    assert careless.outcome.smoke.ok
    assert careless.outcome.smoke.url == model_server
