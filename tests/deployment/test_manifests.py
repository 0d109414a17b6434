"""Kubernetes names, InferenceService manifests and their offline validation."""

from __future__ import annotations

import copy
import re

import pytest

from kfp_mlops.components.common import crd
from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.versions import SERVING_IMAGE
from kfp_mlops.components.deployment.deploy_model import manifests as m
from kfp_mlops.components.deployment.deploy_model import validation as v
from tests.deployment.crds import CRD_DIR, needs_crds

DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("breast-cancer", "breast-cancer"),
        ("Breast Cancer.Classifier_v2", "breast-cancer-classifier-v2"),
        ("Modèle Été", "modele-ete"),
        ("--a--b--", "a-b"),
        ("2024-model", "m-2024-model"),
    ],
)
def test_k8s_name_sanitizes(raw, expected):
    assert m.k8s_name(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["模型", "🚀🚀", "x" * 300, "A.B.C." * 60, "ÄÖÜ-" * 40, "..", "0", "a" * 63 + "-b"],
)
def test_k8s_name_is_always_valid(raw):
    for limit in (63, m.MAX_ISVC_NAME):
        name = m.k8s_name(raw, limit)
        assert DNS1035.match(name), name
        assert len(name) <= limit


def test_k8s_name_truncation_keeps_distinct_names_distinct():
    a, b = m.k8s_name("x" * 300 + "a"), m.k8s_name("x" * 300 + "b")
    assert a != b
    assert len(a) == 63
    assert re.search(r"-[0-9a-f]{8}$", a)
    assert m.k8s_name("x" * 300 + "a") == a  # deterministic


def test_k8s_name_without_usable_characters_gets_a_stable_hash_name():
    assert m.k8s_name("模型") == m.k8s_name("模型")
    assert m.k8s_name("模型") != m.k8s_name("模型2")
    assert m.k8s_name("模型").startswith("m-")


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_k8s_name_empty_is_a_clear_error(raw):
    with pytest.raises(ParameterError, match="empty"):
        m.k8s_name(raw)


def spec(**changes) -> m.ServingSpec:
    base = {
        "name": "breast-cancer",
        "namespace": "kubeflow-user",
        "version": "v0123456789",
        "storage_uri": "gs://bucket/models/breast-cancer/v0123456789",
    }
    return m.ServingSpec(**{**base, **changes})


def test_custom_predictor_manifest():
    isvc = m.inference_service(spec(canary_traffic_percent=10, min_replicas=2, max_replicas=4))
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    assert isvc["kind"] == "InferenceService"
    assert isvc["metadata"]["name"] == "breast-cancer"
    assert isvc["metadata"]["annotations"][m.ANNOTATION_VERSION] == "v0123456789"
    pred = isvc["spec"]["predictor"]
    assert pred["canaryTrafficPercent"] == 10
    assert (pred["minReplicas"], pred["maxReplicas"]) == (2, 4)
    (container,) = pred["containers"]
    assert container["image"] == SERVING_IMAGE
    assert container["command"] == ["python", "-m", "kfp_mlops.components.serving"]
    args = container["args"]
    assert args[args.index("--model-name") + 1] == "breast-cancer"
    assert args[args.index("--http-port") + 1] == "8080"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["STORAGE_URI"] == "gs://bucket/models/breast-cancer/v0123456789"
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert v.validate_inference_service(isvc) == []


def test_model_format_manifest_and_no_canary_field_by_default():
    isvc = m.inference_service(spec(runtime="tensorflow"))
    pred = isvc["spec"]["predictor"]
    assert "canaryTrafficPercent" not in pred
    assert "containers" not in pred
    assert pred["model"]["modelFormat"] == {"name": "tensorflow"}
    assert pred["model"]["storageUri"].endswith("/saved_model")
    assert v.validate_inference_service(isvc) == []


def test_manifests_are_deterministic_yaml():
    a = m.to_yaml(m.inference_service(spec()))
    b = m.to_yaml(m.inference_service(spec()))
    assert a == b
    assert m.from_yaml(a)[0]["metadata"]["name"] == "breast-cancer"


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"name": "Bad_Name"}, "not a valid InferenceService name"),
        ({"namespace": "Kube Flow"}, "namespace"),
        ({"storage_uri": "/local/path"}, "storage_uri"),
        ({"runtime": "onnx"}, "runtime"),
        ({"min_replicas": 3, "max_replicas": 1}, "replicas"),
        ({"canary_traffic_percent": 120}, "canaryTrafficPercent"),
        ({"memory_limit": "2GB"}, "memory_limit '2GB' is not a Kubernetes quantity"),
        ({"cpu_request": "half"}, "cpu_request 'half' is not a Kubernetes quantity"),
    ],
)
def test_spec_rejects_bad_fields(changes, match):
    with pytest.raises(ParameterError, match=match):
        m.inference_service(spec(**changes))


def test_release_configmap_validates_with_kubernetes_schemas():
    isvc = m.inference_service(spec())
    cm = m.release_configmap(spec(), isvc, "canary")
    assert v.validate_core(cm) == []
    assert m.from_yaml(cm["data"]["inferenceservice.yaml"])[0] == isvc
    bad = copy.deepcopy(cm)
    bad["data"]["n"] = 3  # ConfigMap data values must be strings
    assert v.validate_core(bad) and "data/n" in v.validate_core(bad)[0]


def _bad(mutate) -> dict:
    isvc = m.inference_service(spec())
    mutate(isvc)
    return isvc


# Every InferenceService shape the library renders: canary steps, tag routing off, the
# blue-green preview (another name, the main service's model name), KServe's TF runtime.
SHAPES = {
    "custom": {},
    "canary-10": {"canary_traffic_percent": 10},
    "canary-0-no-tags": {"canary_traffic_percent": 0, "tag_routing": False},
    "preview": {"name": "breast-cancer-preview", "model_name": "breast-cancer"},
    "tensorflow": {"runtime": "tensorflow", "min_replicas": 0},
}


@needs_crds
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_rendered_shape_passes_the_published_crd(shape):
    isvc = m.inference_service(spec(**SHAPES[shape]))
    assert v.validate_with_crd(isvc, CRD_DIR) == []
    assert v.validate_inference_service(isvc, CRD_DIR) == []


def test_unknown_field_is_caught_by_the_sdk_and_the_crd():
    isvc = _bad(lambda d: d["spec"]["predictor"].update(canaryTraficPercent=10))
    sdk = v.validate_with_sdk(isvc)
    assert any("canaryTraficPercent: unknown field of V1beta1PredictorSpec" in p for p in sdk)
    if CRD_DIR is not None:
        assert v.validate_with_crd(isvc, CRD_DIR) == [
            "InferenceService (CRD) $.spec.predictor.canaryTraficPercent: unknown field "
            "(did you mean 'canaryTrafficPercent'?)"
        ]


@needs_crds
@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (  # a hand edit of the autoscaler: the SDK's setters take any string
            lambda d: d["spec"]["predictor"].update(scaleMetric="gpu"),
            "$.spec.predictor.scaleMetric: 'gpu' is not one of "
            "['cpu', 'memory', 'concurrency', 'rps']",
        ),
        (  # a quantity the API server refuses: the SDK models quantities as plain strings
            lambda d: d["spec"]["predictor"]["containers"][0]["resources"]["limits"].update(
                memory="2GB"
            ),
            "$.spec.predictor.containers[0].resources.limits.memory: '2GB' does not match "
            "the schema's pattern",
        ),
        (  # kubernetes-validate does not check label values; the API server does
            lambda d: d["metadata"]["labels"].update(bad="has spaces"),
            "$.metadata.labels.bad: 'has spaces' is not a valid label value "
            "(<= 63, [A-Za-z0-9_.-])",
        ),
    ],
)
def test_the_crd_catches_bugs_the_sdk_and_core_schemas_miss(mutate, problem):
    isvc = _bad(mutate)
    assert v.validate_with_sdk(isvc) == []
    assert (
        v.validate_core({"apiVersion": "v1", "kind": "ConfigMap", "metadata": isvc["metadata"]})
        == []
    )
    assert v.validate_with_crd(isvc, CRD_DIR) == [f"InferenceService (CRD) {problem}"]
    with pytest.raises(v.ManifestError, match=re.escape(problem[:40])):
        v.validate_all([isvc], CRD_DIR)


def test_wrong_types_are_caught_by_every_layer():
    def mutate(d):
        d["spec"]["predictor"]["minReplicas"] = "1"
        d["spec"]["predictor"]["containers"][0]["ports"][0]["containerPort"] = "8080"

    problems = v.validate_inference_service(_bad(mutate))
    assert any(
        p.startswith("InferenceService.spec.predictor.minReplicas: expected int") for p in problems
    )
    assert any(p.startswith("predictor container") and "containerPort" in p for p in problems)
    if CRD_DIR is not None:  # the autouse fixture set KFP_MLOPS_CRD_DIR
        crd_problem = "$.spec.predictor.minReplicas: expected integer, got string '1'"
        assert f"InferenceService (CRD) {crd_problem}" in problems


def test_sdk_catches_unknown_kubernetes_container_fields():
    isvc = _bad(lambda d: d["spec"]["predictor"]["containers"][0].update(imagePullPolicyy="Always"))
    assert any("unknown field of V1Container" in p for p in v.validate_with_sdk(isvc))


def test_a_crd_folder_that_is_named_must_exist(tmp_path, monkeypatch):
    isvc = m.inference_service(spec())
    with pytest.raises(ParameterError, match="does not exist"):
        v.validate_all([isvc], tmp_path / "missing")
    monkeypatch.setenv(crd.CRD_DIR_ENV, str(tmp_path))  # a folder without KServe's CRD
    with pytest.raises(ParameterError, match="no CRD for InferenceService"):
        v.validate_all([isvc])


def test_validate_all_raises_one_error_listing_problems():
    def mutate(d):
        d["spec"]["transformr"] = {}  # misspelled
        d["spec"]["predictor"]["minReplicas"] = "1"

    with pytest.raises(v.ManifestError, match="transformr.*minReplicas|minReplicas.*transformr"):
        v.validate_all([_bad(mutate)])
    v.validate_all([m.inference_service(spec())])  # valid: no exception
