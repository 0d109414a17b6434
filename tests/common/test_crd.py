"""Tests of the CRD validator: structural rules on a small CRD, CEL rules and the published CRDs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kfp_mlops.components.common import crd
from kfp_mlops.components.common.errors import ParameterError

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = crd.locate_crd_dir(ROOT.parent / "shared" / "schemas" / "crds")
needs_crds = pytest.mark.skipif(
    CRD_DIR is None,
    reason=f"the published CRDs are absent (../shared/schemas/crds; or set {crd.CRD_DIR_ENV})",
)
needs_cel = pytest.mark.skipif(not crd.cel_available(), reason="cel-python is not installed")

# A small CRD exercising each extension the validator honours.
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["replicas"],
            "x-kubernetes-validations": [
                {"rule": "self.replicas <= self.maxReplicas", "message": "replicas above max"},
                {"rule": "self.replicas == oldSelf.replicas", "message": "immutable"},
            ],
            "properties": {
                "replicas": {"type": "integer", "format": "int32", "minimum": 0},
                "maxReplicas": {"type": "integer", "default": 5},
                "port": {
                    "x-kubernetes-int-or-string": True,
                    "anyOf": [{"type": "integer"}, {"type": "string"}],
                },
                "mode": {"type": "string", "enum": ["fast", "safe"]},
                "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object"}},
                },
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                    },
                },
            },
        },
    },
}
_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "names": {"kind": "Widget", "plural": "widgets"},
        "versions": [
            {"name": "v1", "served": True, "schema": {"openAPIV3Schema": _SCHEMA}},
            {"name": "v0", "served": False, "schema": {"openAPIV3Schema": {"type": "object"}}},
        ],
    },
}


@pytest.fixture
def crd_dir(tmp_path: Path) -> Path:
    """A folder holding the small Widget CRD."""
    (tmp_path / "example.com_widgets.yaml").write_text(yaml.safe_dump(_CRD), encoding="utf-8")
    return tmp_path


def _widget(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "labels": {"app": "x"}},
        "spec": {"replicas": 1, **spec},
    }


def test_valid_object_has_no_problems(crd_dir: Path) -> None:
    obj = _widget(
        port="http",
        mode="safe",
        env={"A": "1"},
        template={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}},
        ports=[{"name": "a", "port": 1}, {"name": "b", "port": 1}],
    )
    assert crd.validate_in_dir(obj, crd_dir) == []
    assert crd.validate_in_dir(_widget(port=8080), crd_dir) == []


def test_unknown_field_is_rejected_with_its_path_and_a_suggestion(crd_dir: Path) -> None:
    problems = crd.validate_in_dir(_widget(replica=2, ports=[{"name": "a", "prot": 1}]), crd_dir)
    assert "$.spec.replica: unknown field (did you mean 'replicas'?)" in problems
    assert "$.spec.ports[0].prot: unknown field (did you mean 'port'?)" in problems
    assert len(problems) == 2


def test_wrong_types_and_values_are_named(crd_dir: Path) -> None:
    obj = _widget(port=1.5, mode="slow", env={"A": 1})
    obj["spec"]["replicas"] = "3"
    problems = crd.validate_in_dir(obj, crd_dir)
    assert "$.spec.replicas: expected integer, got string '3'" in problems
    assert "$.spec.port: expected an integer or a string, got number" in problems
    assert "$.spec.mode: 'slow' is not one of ['fast', 'safe']" in problems
    assert "$.spec.env.A: expected string, got integer 1" in problems


def test_bounds_required_and_list_map_keys(crd_dir: Path) -> None:
    obj = _widget(ports=[{"name": "a"}, {"name": "a"}, {"port": 2}])
    del obj["spec"]["replicas"]
    problems = crd.validate_in_dir(obj, crd_dir)
    assert "$.spec.replicas: required field is missing" in problems
    assert any(p.startswith("$.spec.ports[1]: duplicate entry") for p in problems)
    assert "$.spec.ports[2].name: required field is missing" in problems
    problems = crd.validate_in_dir(_widget(replicas=2**31), crd_dir)
    assert f"$.spec.replicas: {2**31} is out of the int32 range" in problems
    assert "$.spec.replicas: -1 is below the minimum 0" in crd.validate_in_dir(
        _widget(replicas=-1), crd_dir
    )


def test_preserve_unknown_subtree_accepts_extras(crd_dir: Path) -> None:
    obj = _widget(config={"anything": {"deep": [1, "x"]}, "more": True})
    assert crd.validate_in_dir(obj, crd_dir) == []


def test_embedded_resource_needs_kind_and_valid_metadata(crd_dir: Path) -> None:
    obj = _widget(template={"metadata": {"name": "Bad_Name", "colour": "red"}, "spec": {}})
    problems = crd.validate_in_dir(obj, crd_dir)
    assert "$.spec.template.apiVersion: required field is missing" in problems
    assert "$.spec.template.kind: required field is missing" in problems
    assert "$.spec.template.metadata.name: 'Bad_Name' is not a lowercase RFC 1123 subdomain" in (
        problems
    )
    assert any(p.startswith("$.spec.template.metadata.colour: unknown field") for p in problems)


def test_root_metadata_is_checked_as_object_meta(crd_dir: Path) -> None:
    obj = _widget()
    obj["metadata"]["labels"] = {"app": 3}
    obj["metadata"]["nmae"] = "w"
    problems = crd.validate_in_dir(obj, crd_dir)
    assert "$.metadata.labels.app: expected string, got integer 3" in problems
    assert "$.metadata.nmae: unknown field (did you mean 'name'?)" in problems


def test_version_and_kind_must_be_served(crd_dir: Path) -> None:
    with pytest.raises(ParameterError, match="not served"):
        crd.validate_in_dir({**_widget(), "apiVersion": "example.com/v0"}, crd_dir)
    with pytest.raises(ParameterError, match="no CRD for Gadget"):
        crd.validate_in_dir({**_widget(), "kind": "Gadget"}, crd_dir)


def test_defaults_are_applied_before_validation_without_touching_the_input(crd_dir: Path) -> None:
    obj = _widget()
    crd.validate_in_dir(obj, crd_dir)
    assert "maxReplicas" not in obj["spec"]
    assert crd.apply_defaults(copy.deepcopy(obj), _SCHEMA)["spec"]["maxReplicas"] == 5


@needs_cel
def test_cel_rule_violation_is_reported_and_transition_rules_skipped(crd_dir: Path) -> None:
    assert crd.validate_in_dir(_widget(replicas=5), crd_dir) == []  # maxReplicas defaults to 5
    assert crd.validate_in_dir(_widget(replicas=6), crd_dir) == ["$.spec: replicas above max"]
    assert crd.validate_in_dir(_widget(replicas=6), crd_dir, cel=False) == []


def _train_job(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "job-1", "namespace": "ml"},
        "spec": {"runtimeRef": {"name": "horovod"}, **spec},
    }


@needs_crds
def test_published_trainjob_crd_structure() -> None:
    assert crd.validate_in_dir(_train_job(trainer={"numNodes": 2}), CRD_DIR) == []
    problems = crd.validate_in_dir(_train_job(trainer={"numNodes": "2", "nodes": 1}), CRD_DIR)
    assert "$.spec.trainer.numNodes: expected integer, got string '2'" in problems
    assert any(p.startswith("$.spec.trainer.nodes: unknown field") for p in problems)


@needs_crds
@needs_cel
def test_published_trainjob_crd_cel_rules() -> None:
    obj = _train_job(trainer={"numProcPerNode": 0}, managedBy="someone")
    obj["metadata"]["name"] = "a" * 64
    problems = crd.validate_in_dir(obj, CRD_DIR)
    assert "$.spec.trainer.numProcPerNode: numProcPerNode must be greater than or equal to 1" in (
        problems
    )
    assert any(p.startswith("$.spec.managedBy: ManagedBy must be") for p in problems)
    assert "$: metadata.name must be no more than 63 characters" in problems


@needs_crds
def test_published_inferenceservice_crd_rejects_a_misspelled_predictor_field() -> None:
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "m", "namespace": "ml"},
        "spec": {"predictor": {"minReplicas": 1, "containers": [{"name": "c", "image": "i"}]}},
    }
    assert crd.validate_in_dir(isvc, CRD_DIR) == []
    isvc["spec"]["predictor"]["canaryTraficPercent"] = 10
    problems = crd.validate_in_dir(isvc, CRD_DIR)
    assert problems == [
        "$.spec.predictor.canaryTraficPercent: unknown field (did you mean 'canaryTrafficPercent'?)"
    ]


def test_labels_are_checked_as_the_api_server_does(crd_dir: Path) -> None:
    obj = _widget()
    obj["metadata"]["labels"] = {"app": "has spaces", "Bad Key": "x", "example.com/ok": "v-1.2_3"}
    problems = crd.validate_in_dir(obj, crd_dir)
    assert problems == [
        "$.metadata.labels.app: 'has spaces' is not a valid label value (<= 63, [A-Za-z0-9_.-])",
        "$.metadata.labels['Bad Key']: the key is not a qualified name ([prefix/]name, name <= 63)",
    ]


def test_configured_dir_prefers_the_argument_then_the_variable(
    crd_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(crd.CRD_DIR_ENV, raising=False)
    assert crd.configured_dir() is None
    monkeypatch.setenv(crd.CRD_DIR_ENV, str(crd_dir))
    assert crd.configured_dir() == crd_dir
    other = tmp_path / "other"
    other.mkdir()
    assert crd.configured_dir(other) == other
    with pytest.raises(ParameterError, match="does not exist"):
        crd.configured_dir(tmp_path / "missing")
