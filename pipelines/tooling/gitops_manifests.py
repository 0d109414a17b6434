"""Kubernetes-native pipeline manifests for GitOps: ``Pipeline`` + ``PipelineVersion`` objects.

A Kubeflow Pipelines backend installed in Kubernetes native API mode keeps pipelines as custom
resources of ``pipelines.kubeflow.org/v2beta1``, so Argo CD or Flux can apply them like any
other object.
For every compiled pipeline this writes ``compiled/k8s/<pipeline>.yaml`` with the same two
documents ``kfp``'s own ``kubernetes_manifest_format`` writes (``spec.pipelineSpec`` is the
compiled IR, ``spec.platformSpec`` its Kubernetes settings), plus ``kustomization.yaml``.

Each PipelineVersion is named after a digest of its spec, so a changed pipeline becomes a new
version instead of an edit of one that runs may already reference; the GitOps tools are told
not to prune old versions (Argo CD ``Prune=false``, Flux ``prune: disabled``). No namespace
is written: the kustomization (or an overlay) sets it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

API_VERSION = "pipelines.kubeflow.org/v2beta1"
#: Keep superseded versions: recurring runs and past runs refer to them.
KEEP_ANNOTATIONS = {
    "argocd.argoproj.io/sync-options": "Prune=false",
    "kustomize.toolkit.fluxcd.io/prune": "disabled",
}
LABELS = {"app.kubernetes.io/part-of": "kfp-mlops"}
_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def resource_name(pipeline: str) -> str:
    """The Pipeline object's name: the catalog name as a DNS-1123 label."""
    name = pipeline.lower().replace("_", "-")
    if not _LABEL.match(name) or len(name) > 63:
        raise ValueError(f"pipeline name {pipeline!r} cannot become a Kubernetes name")
    return name


def _without_sdk_version(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    spec.pop("sdkVersion", None)
    return spec


def version_name(pipeline: str, spec: dict[str, Any], platform: dict[str, Any] | None) -> str:
    """``<pipeline>-<digest>``: the digest of the spec (the compiling kfp release excluded)."""
    canonical = json.dumps([_without_sdk_version(spec), platform or {}], sort_keys=True)
    return f"{resource_name(pipeline)}-{hashlib.sha256(canonical.encode()).hexdigest()[:10]}"


def manifests(pipeline: str, compiled_yaml: str | Path) -> list[dict[str, Any]]:
    """The Pipeline and PipelineVersion objects of one compiled pipeline file."""
    docs = [d for d in yaml.safe_load_all(Path(compiled_yaml).read_text(encoding="utf-8")) if d]
    spec, platform = docs[0], (docs[1] if len(docs) > 1 else None)
    name = resource_name(pipeline)
    info = spec.get("pipelineInfo", {})
    description = info.get("description", "")
    pipe: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Pipeline",
        "metadata": {"name": name, "labels": dict(LABELS)},
        "spec": {"description": description} if description else {},
    }
    version_spec: dict[str, Any] = {
        "pipelineName": name,
        "displayName": info.get("displayName", pipeline),
        "pipelineSpec": spec,
    }
    if description:
        version_spec["description"] = description
    if platform:
        version_spec["platformSpec"] = platform
    version = {
        "apiVersion": API_VERSION,
        "kind": "PipelineVersion",
        "metadata": {
            "name": version_name(pipeline, spec, platform),
            "labels": {**LABELS, "app.kubernetes.io/name": name},
            "annotations": dict(KEEP_ANNOTATIONS),
        },
        "spec": version_spec,
    }
    return [pipe, version]


def write(pipeline: str, compiled_yaml: str | Path, out: str | Path) -> Path:
    """Write ``out`` (``compiled/k8s/<pipeline>.yaml``) from a compiled pipeline file."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump_all(manifests(pipeline, compiled_yaml), sort_keys=True, width=100)
    path.write_text(text, encoding="utf-8")
    return path


def kustomization(pipelines: list[str]) -> dict[str, Any]:
    """A kustomization listing every pipeline's manifest file."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [f"{p}.yaml" for p in sorted(pipelines)],
    }


def write_kustomization(pipelines: list[str], out_dir: str | Path) -> Path:
    """Write ``<out_dir>/kustomization.yaml``."""
    path = Path(out_dir) / "kustomization.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(kustomization(pipelines), sort_keys=False), encoding="utf-8")
    return path
