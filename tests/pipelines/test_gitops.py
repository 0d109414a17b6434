"""compiled/k8s: Pipeline + PipelineVersion objects for Argo CD / Flux (KFP Kubernetes storage)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from kfp import compiler
from kfp.compiler.compiler_utils import KubernetesManifestOptions

from kfp_mlops.pipelines.tooling import catalog, gitops_manifests

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "compiled" / "k8s"
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def docs_of(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


@pytest.mark.parametrize("name", sorted(catalog.PIPELINES))
def test_each_pipeline_has_a_pipeline_and_a_version_holding_its_compiled_spec(name):
    pipe, version = docs_of(K8S / f"{name}.yaml")
    compiled = docs_of(ROOT / "compiled" / f"{name}.yaml")
    assert pipe["apiVersion"] == version["apiVersion"] == "pipelines.kubeflow.org/v2beta1"
    assert (pipe["kind"], version["kind"]) == ("Pipeline", "PipelineVersion")
    assert DNS1123_LABEL.match(pipe["metadata"]["name"])
    assert DNS1123_SUBDOMAIN.match(version["metadata"]["name"])
    assert len(version["metadata"]["name"]) <= 253
    assert version["spec"]["pipelineName"] == pipe["metadata"]["name"]
    assert version["spec"]["pipelineSpec"] == compiled[0]
    assert version["spec"]["platformSpec"] == compiled[1]
    # The namespace is the kustomization's (or an overlay's) to set.
    assert "namespace" not in pipe["metadata"] and "namespace" not in version["metadata"]
    annotations = version["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/sync-options"] == "Prune=false"
    assert annotations["kustomize.toolkit.fluxcd.io/prune"] == "disabled"


def test_kustomization_lists_exactly_the_pipeline_files():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kust["kind"] == "Kustomization"
    assert kust["resources"] == sorted(f"{n}.yaml" for n in catalog.PIPELINES)
    on_disk = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert on_disk == kust["resources"]


def test_version_name_follows_the_spec_not_the_kfp_release():
    pipe_spec = docs_of(ROOT / "compiled" / "training_pipeline.yaml")
    spec, platform = pipe_spec[0], pipe_spec[1]
    base = gitops_manifests.version_name("training_pipeline", spec, platform)
    assert base.startswith("training-pipeline-")
    other_release = {**spec, "sdkVersion": "kfp-9.9.9"}
    assert gitops_manifests.version_name("training_pipeline", other_release, platform) == base
    changed = {**spec, "pipelineInfo": {**spec["pipelineInfo"], "description": "changed"}}
    assert gitops_manifests.version_name("training_pipeline", changed, platform) != base
    assert gitops_manifests.version_name("training_pipeline", spec, {}) != base


def test_our_manifests_match_what_the_kfp_sdk_writes(tmp_path):
    """Same documents as kfp's own ``kubernetes_manifest_format`` (plus our labels/names)."""
    func = catalog.pipelines()["data_validation_pipeline"]
    ours_pipe, ours_version = gitops_manifests.manifests(
        "data_validation_pipeline", ROOT / "compiled" / "data_validation_pipeline.yaml"
    )
    sdk_file = tmp_path / "sdk.yaml"
    compiler.Compiler().compile(
        func,
        str(sdk_file),
        kubernetes_manifest_options=KubernetesManifestOptions(
            pipeline_name=ours_pipe["metadata"]["name"],
            pipeline_version_name=ours_version["metadata"]["name"],
            include_pipeline_manifest=True,
        ),
        kubernetes_manifest_format=True,
    )
    sdk_pipe, sdk_version = docs_of(sdk_file)
    assert sdk_pipe["kind"] == "Pipeline" and sdk_version["kind"] == "PipelineVersion"
    assert sdk_version["metadata"]["name"] == ours_version["metadata"]["name"]
    for key in ("pipelineName", "pipelineSpec", "platformSpec", "description"):
        left = {**sdk_version["spec"][key]} if isinstance(sdk_version["spec"][key], dict) else None
        if left is not None:
            left.pop("sdkVersion", None)
            right = {**ours_version["spec"][key]}
            right.pop("sdkVersion", None)
            assert left == right, key
        else:
            assert sdk_version["spec"][key] == ours_version["spec"][key], key


@pytest.mark.parametrize("bad", ["9lives", "has space", "x" * 64, "ümlaut"])
def test_names_that_cannot_be_kubernetes_names_are_refused(bad):
    with pytest.raises(ValueError, match="cannot become a Kubernetes name"):
        gitops_manifests.resource_name(bad)
