"""Every GitOps tree rendered with the real ``kubectl kustomize``, and what comes out validated.

The trees ``deploy_model`` writes (target gitops: base, each canary overlay, the blue-green
preview) and ``compiled/k8s/`` (Pipeline + PipelineVersion objects) are what Argo CD or Flux
would build; a tree that only looks right as YAML (a patch kustomize cannot parse, a file
outside an overlay's root) fails here the way it would fail in the controller.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kfp_mlops.components.common.k8s import from_yaml, validate_core
from kfp_mlops.components.deployment.deploy_model import validation as v
from kfp_mlops.components.deployment.deploy_model.core import deploy
from kfp_mlops.pipelines.tooling import gitops_manifests

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed (make system-deps installs it)"
)
ROOT = Path(__file__).resolve().parents[2]
NAME = "breast-cancer"


def _build(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(KUBECTL), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def kustomize(folder: Path) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize <folder>`` builds (fails the test with its stderr)."""
    out = _build(folder)
    assert out.returncode == 0, out.stderr
    return from_yaml(out.stdout)


def kustomize_error(folder: Path) -> str:
    """The error of a build that must fail."""
    out = _build(folder)
    assert out.returncode != 0, out.stdout
    return out.stderr


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    assert len({d["kind"] for d in docs}) == len(docs), [d["kind"] for d in docs]
    return {d["kind"]: d for d in docs}


def write_tree(file_inputs, out: Path, strategy: str) -> Path:
    root, frame = file_inputs
    result = deploy(
        str(root / "v1"),
        str(root / "preprocessor.json"),
        frame,
        target="gitops",
        strategy=strategy,
        gitops_dir=str(out),
        model_name="Breast Cancer",
        storage_uri="pvc://models/serving",
        traffic_steps="10,50,100",
    )
    assert result.outcome.decision == "written"
    return out / NAME


def assert_valid(docs: dict[str, dict[str, Any]]) -> None:
    """The InferenceService per the CRD (when present) + SDK + core; the ConfigMap per k8s."""
    assert v.validate_inference_service(docs["InferenceService"]) == []
    if "ConfigMap" in docs:
        assert validate_core(docs["ConfigMap"]) == []


def test_canary_base_and_overlays_render_and_validate(file_inputs, tmp_path):
    folder = write_tree(file_inputs, tmp_path, "canary")
    base = by_kind(kustomize(folder / "base"))
    assert sorted(base) == ["ConfigMap", "InferenceService"]
    assert_valid(base)
    written = yaml.safe_load((folder / "base" / "inferenceservice.yaml").read_text())
    assert base["InferenceService"] == written
    assert "canaryTrafficPercent" not in base["InferenceService"]["spec"]["predictor"]
    overlays = sorted(p.name for p in (folder / "overlays").iterdir())
    assert overlays == ["canary-010", "canary-050"]
    for overlay in overlays:
        percent = int(overlay.split("-")[1])
        docs = by_kind(kustomize(folder / "overlays" / overlay))
        assert_valid(docs)
        isvc = copy.deepcopy(docs["InferenceService"])
        assert isvc["spec"]["predictor"].pop("canaryTrafficPercent") == percent
        assert isvc == base["InferenceService"]  # the patch sets the share and nothing else
        assert docs["ConfigMap"] == base["ConfigMap"]


def test_blue_green_preview_renders_as_its_own_service(file_inputs, tmp_path):
    folder = write_tree(file_inputs, tmp_path, "blue-green")
    base = by_kind(kustomize(folder / "base"))
    assert_valid(base)
    preview = by_kind(kustomize(folder / "overlays" / "preview"))
    assert sorted(preview) == ["InferenceService"]
    assert_valid(preview)
    isvc = preview["InferenceService"]
    assert isvc["metadata"]["name"] == f"{NAME}-preview"
    (container,) = isvc["spec"]["predictor"]["containers"]
    args = container["args"]
    assert args[args.index("--model-name") + 1] == NAME  # clients keep the model's URL
    main = base["InferenceService"]["spec"]["predictor"]["containers"][0]
    assert container["env"] == main["env"]  # the same model files
    assert container["image"] == main["image"]


def test_kustomize_refuses_the_tree_bugs_it_exists_for(file_inputs, tmp_path):
    folder = write_tree(file_inputs, tmp_path, "canary")
    # A JSON 6902 patch must be a list of operations; a bare mapping does not parse.
    overlay = folder / "overlays" / "canary-010" / "kustomization.yaml"
    doc = yaml.safe_load(overlay.read_text())
    doc["patches"][0]["patch"] = yaml.safe_dump(
        {"op": "add", "path": "/spec/predictor/canaryTrafficPercent", "value": 10}
    )
    overlay.write_text(yaml.safe_dump(doc))
    assert "unable to parse SM or JSON patch" in kustomize_error(overlay.parent)
    # An overlay may not load a file outside its own root (kustomize's load restrictor).
    bad = folder / "overlays" / "preview-by-file"
    bad.mkdir()
    (bad / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": ["../../base/inferenceservice.yaml"], "nameSuffix": "-p"})
    )
    assert "is not in or below" in kustomize_error(bad)


def _pipeline_objects(docs: list[dict[str, Any]]) -> tuple[dict, dict]:
    pipelines = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Pipeline"}
    versions = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PipelineVersion"}
    assert len(pipelines) + len(versions) == len(docs)
    return pipelines, versions


def _ir(spec: dict[str, Any]) -> tuple[Any, Any]:
    """The IR and platform spec as protobuf messages, parsed strictly (unknown fields fail)."""
    ir = json_format.ParseDict(spec["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    platform = pipeline_spec_pb2.PlatformSpec()
    if spec.get("platformSpec"):
        json_format.ParseDict(spec["platformSpec"], platform)
    return ir, platform


def test_compiled_k8s_renders_to_valid_pipeline_objects():
    folder = ROOT / "compiled" / "k8s"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    written = [d for f in kustomization["resources"] for d in from_yaml((folder / f).read_text())]
    docs = kustomize(folder)
    pipelines, versions = _pipeline_objects(docs)
    assert len(pipelines) == len(kustomization["resources"]) == len(versions)
    for doc in docs:
        assert doc["apiVersion"] == gitops_manifests.API_VERSION
        meta = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc["metadata"]}
        assert validate_core(meta) == []  # names, labels and annotations as Kubernetes has them
    _, on_disk = _pipeline_objects(written)
    for name, version in versions.items():
        spec = version["spec"]
        assert spec["pipelineName"] in pipelines
        # kustomize rewrites 42.0 as 42: the same protobuf number, so the same pipeline.
        assert _ir(spec) == _ir(on_disk[name]["spec"])
        # Content-addressed: the name is the digest of the spec as written.
        original = on_disk[name]["spec"]
        assert name == gitops_manifests.version_name(
            spec["pipelineName"], original["pipelineSpec"], original.get("platformSpec")
        )


def test_compiled_k8s_takes_its_namespace_from_an_overlay(tmp_path):
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    base = os.path.relpath(ROOT / "compiled" / "k8s", overlay)  # kustomize wants it relative
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": [base], "namespace": "kubeflow"})
    )
    docs = kustomize(overlay)
    assert docs and {d["metadata"].get("namespace") for d in docs} == {"kubeflow"}
    assert all("namespace" not in d["metadata"] for d in kustomize(ROOT / "compiled" / "k8s"))
