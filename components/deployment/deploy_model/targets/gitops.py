"""The GitOps target: kustomize-ready files that a GitOps controller (Argo CD, Flux) applies."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.deployment.deploy_model import manifests as m
from kfp_mlops.components.deployment.deploy_model.targets.base import Release, Target


class GitOpsTarget(Target):
    """Kustomize-ready manifests under ``<root>/<name>/`` for a GitOps controller.

    Layout: ``base/`` (the new version's InferenceService and release ConfigMap, with a
    ``kustomization.yaml``), and for ``canary`` one overlay per step below 100 %
    (``overlays/canary-10`` patches ``canaryTrafficPercent: 10``), for ``blue-green`` an
    ``overlays/preview`` that deploys the new version as ``<name>-preview`` (its own file).
    Apply the overlays in order, then ``base``. A manifest of the files written is kept in
    ``.kfp-mlops-files.json``: files from an earlier run that are no longer produced are
    removed, every other file in the directory is left alone. Output is deterministic.
    """

    kind = "gitops"
    live_checks = False
    INDEX = ".kfp-mlops-files.json"

    def __init__(self, root: str, name: str, steps: list[int] | None = None) -> None:
        if not root:
            raise ParameterError(
                "target=gitops needs gitops_dir", "set gitops_dir to a checkout of your repo"
            )
        self.root = Path(root)
        self.name = name
        self.steps = steps or [10, 50, 100]
        self.folder = self.root / name
        self.written: list[str] = []

    def live(self) -> Release | None:
        """The version in ``base/`` now, if any."""
        path = self.folder / "base" / "inferenceservice.yaml"
        if not path.exists():
            return None
        doc = m.from_yaml(path.read_text(encoding="utf-8"))[0]
        version = doc["metadata"].get("annotations", {}).get(m.ANNOTATION_VERSION, "unknown")
        return Release(self.name, version)

    def files(self, release: Release, strategy: str) -> dict[str, str]:
        """Relative path -> content of every file for ``release``."""
        if release.spec is None:
            raise ParameterError("the gitops target needs a ServingSpec", "pass release.spec")
        isvc = m.inference_service(dataclasses.replace(release.spec, canary_traffic_percent=None))
        files = {
            "base/inferenceservice.yaml": m.to_yaml(isvc),
            "base/release-configmap.yaml": m.to_yaml(
                m.release_configmap(release.spec, isvc, strategy)
            ),
            "base/kustomization.yaml": _kustomization(
                ["inferenceservice.yaml", "release-configmap.yaml"]
            ),
        }
        if strategy == "canary":
            for percent in self.steps:
                if percent < 100:
                    overlay = _canary_overlay(release.spec.name, percent)
                    files[f"overlays/canary-{percent:03d}/kustomization.yaml"] = overlay
        elif strategy == "blue-green":
            # A whole file, not a nameSuffix on base: kustomize refuses files outside an
            # overlay's root, and the preview keeps the main service's model name (as the
            # cluster target's preview does) under a name that fits MAX_ISVC_NAME.
            preview = dataclasses.replace(
                release.spec,
                name=m.preview_name(release.spec.name),
                model_name=release.spec.model_name or release.spec.name,
                canary_traffic_percent=None,
            )
            files["overlays/preview/inferenceservice.yaml"] = m.to_yaml(
                m.inference_service(preview)
            )
            files["overlays/preview/kustomization.yaml"] = _kustomization(["inferenceservice.yaml"])
        return files

    def start(self, release: Release, strategy: str) -> None:
        """Write the files (validated by the caller) and drop stale ones we wrote before."""
        files = self.files(release, strategy)
        index = self.folder / self.INDEX
        old: list[str] = []
        if index.exists():
            old = json.loads(index.read_text(encoding="utf-8")).get("files", [])
        for rel in sorted(set(old) - set(files)):
            path = self.folder / rel
            if path.is_file():
                path.unlink()
                for parent in path.parents:  # prune folders we emptied, up to ours
                    if parent == self.folder or any(parent.iterdir()):
                        break
                    parent.rmdir()
        for rel, content in sorted(files.items()):
            path = self.folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        index.write_text(
            json.dumps({"files": sorted(files), "version": release.version}, indent=1) + "\n",
            encoding="utf-8",
        )
        self.written = sorted(files)

    def wait_ready(self, release: Release, timeout_s: float) -> None:
        """Nothing runs here: readiness is the controller's business."""

    def endpoint(self, release: Release) -> str | None:
        """Not reachable from here."""
        return None

    def route_url(self) -> str | None:
        """Not reachable from here."""
        return None

    def set_traffic(self, release: Release, percent: int) -> None:
        """The overlay for each step was written by :meth:`start`."""

    def promote(self, release: Release) -> None:
        """``base/`` already holds the new version."""

    def rollback(self, release: Release, previous: Release | None) -> None:
        """Nothing was applied; the files stay for inspection."""


def _kustomization(resources: list[str], **fields: Any) -> str:
    return m.to_yaml(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": resources,
            **fields,
        }
    )


def _canary_overlay(name: str, percent: int) -> str:
    """``base`` with ``canaryTrafficPercent`` set: a JSON 6902 patch (a list of operations)."""
    operations = [{"op": "add", "path": "/spec/predictor/canaryTrafficPercent", "value": percent}]
    patch = {"target": {"kind": m.KIND, "name": name}, "patch": json.dumps(operations)}
    return _kustomization(["../../base"], patches=[patch])
