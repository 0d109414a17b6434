"""The GitOps target: kustomize-ready files that a GitOps controller (Argo CD, Flux) applies.

With a Git clone (``git_repo``) every deployment is a commit of exactly the files written
(and pushed when the clone has the remote), followed by a commit of its deployment-status
file; a rollback is a ``git revert`` of the commit that deployed the live version.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.deployment.deploy_model import manifests as m
from kfp_mlops.components.deployment.deploy_model import validation
from kfp_mlops.components.deployment.deploy_model.targets.base import Release, Target
from kfp_mlops.components.deployment.deploy_model.targets.git import GitError, GitRepo

log = logging.getLogger(__name__)

#: Folder (under ``<root>/<name>/``) of the deployment-status files, one per version.
STATUS_DIR = "status"


class GitOpsTarget(Target):
    """Kustomize-ready manifests under ``<root>/<name>/`` for a GitOps controller.

    Layout: ``base/`` (the new version's InferenceService and release ConfigMap, with a
    ``kustomization.yaml``), and for ``canary`` one overlay per step below 100 %
    (``overlays/canary-10`` patches ``canaryTrafficPercent: 10``), for ``blue-green`` an
    ``overlays/preview`` that deploys the new version as ``<name>-preview`` (its own file).
    Apply the overlays in order, then ``base``. A manifest of the files written is kept in
    ``.kfp-mlops-files.json``: files from an earlier run that are no longer produced are
    removed, every other file in the directory is left alone. Output is deterministic.

    With ``git_repo`` (a local clone; ``root`` defaults to it and must lie inside it), a
    promoted version is committed, its status file ``<name>/status/<version>.json`` (model,
    version, environment, strategy, status, timestamp, commit, deploy_commit) is committed
    after it, and both are pushed when the clone has ``remote``. The clone is fast-forwarded
    from the remote first.

    Args:
        root: Folder the trees go to (``<root>/<name>/``).
        name: Service name.
        steps: Canary traffic steps.
        git_repo: Local clone to commit to; empty: only write files.
        environment: Environment recorded in the status files (e.g. staging, production).
        remote: Remote pushed to when the clone has it.
    """

    kind = "gitops"
    live_checks = False
    INDEX = ".kfp-mlops-files.json"

    def __init__(
        self,
        root: str,
        name: str,
        steps: list[int] | None = None,
        git_repo: str = "",
        environment: str = "production",
        remote: str = "origin",
    ) -> None:
        if not root and not git_repo:
            raise ParameterError(
                "target=gitops needs gitops_dir", "set gitops_dir to a checkout of your repo"
            )
        self.repo = GitRepo(git_repo) if git_repo else None
        self.root = Path(root or git_repo)
        if self.repo is not None:
            self.repo.relative(self.root)  # inside the clone, or a clear error
        self.name = name
        self.steps = steps or [10, 50, 100]
        self.folder = self.root / name
        self.environment = environment
        self.remote = remote
        self.written: list[str] = []
        self.removed: list[str] = []
        self.commits: list[str] = []
        self._strategy = ""
        self._synced = False

    # git helpers
    def _sync(self) -> None:
        if self.repo is not None and not self._synced and self.repo.has_remote(self.remote):
            self.repo.pull(self.remote)
        self._synced = True

    def push(self) -> None:
        """Push to the remote, when there is a clone and it has the remote."""
        if self.repo is not None and self.repo.has_remote(self.remote):
            self.repo.push(self.remote)

    def _rel(self, *parts: str) -> str:
        assert self.repo is not None
        return self.repo.relative(self.folder.joinpath(*parts))

    def status_path(self, version: str) -> Path:
        """The deployment-status file of ``version``."""
        return self.folder / STATUS_DIR / f"{version}.json"

    def status(self, version: str) -> dict[str, Any] | None:
        """The deployment-status record of ``version``, if one was written."""
        path = self.status_path(version)
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def _write_status(self, records: list[dict[str, Any]], message: str) -> str:
        """Write (and commit) status records; ``commit`` in each is the commit they describe."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        paths = []
        for record in records:
            data = {
                **record,
                "model": self.name,
                "environment": self.environment,
                "timestamp": stamp,
            }
            path = self.status_path(record["version"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            paths.append(self._rel(STATUS_DIR, path.name))
        return self.repo.commit(paths, message) if self.repo is not None else ""

    def live(self) -> Release | None:
        """The version in ``base/`` now, if any (after fast-forwarding the clone)."""
        self._sync()
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
        self._strategy = strategy
        files = self.files(release, strategy)
        index = self.folder / self.INDEX
        old: list[str] = []
        if index.exists():
            old = json.loads(index.read_text(encoding="utf-8")).get("files", [])
        self.removed = sorted(set(old) - set(files))
        for rel in self.removed:
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
        """``base/`` holds the new version; with a clone, commit it, its status, and push."""
        if self.repo is None:
            return
        paths = [self._rel(p) for p in [*self.written, *self.removed, self.INDEX]]
        sha = self.repo.commit(
            paths,
            f"deploy {self.name} {release.version} ({self._strategy}, {self.environment})",
        )
        self.commits.append(sha)
        record = {
            "version": release.version,
            "strategy": self._strategy,
            "status": "written",
            "commit": sha,
            "deploy_commit": sha,
        }
        self.commits.append(self._write_status([record], f"status {self.name} {release.version}"))
        self.push()

    def revert(self, current: str, wanted: str) -> str:
        """Restore ``wanted``'s tree: a ``git revert`` of the commit that deployed ``current``.

        The restored tree is checked (its version, the InferenceService's schema) before the
        revert is committed; on any problem the revert is aborted and nothing changes.

        Returns:
            The revert commit.

        Raises:
            GitError: Without a clone, without a recorded deploy commit of ``current``, on a
                conflict, or when the revert does not restore ``wanted``.
        """
        if self.repo is None:
            raise GitError("revert needs a git clone", "pass git_repo")
        deployed = (self.status(current) or {}).get("deploy_commit", "")
        if not deployed or not self.repo.is_ancestor(deployed):
            raise GitError(
                f"no deploy commit of {self.name} {current} is recorded in "
                f"{self.status_path(current)} (or it is not in the history of HEAD)",
                "restore the previous tree by hand, or deploy the previous version again",
            )
        self.repo.revert(deployed)
        try:
            restored = self.live()
            problems = self.check_tree()
            if restored is None or restored.version != wanted or problems:
                raise GitError(
                    f"reverting {deployed[:12]} gives {restored.version if restored else 'no'} "
                    f"tree for {self.name}, not {wanted}{': ' if problems else ''}"
                    f"{'; '.join(problems)}",
                    "the history holds other changes: restore the previous version by hand",
                )
        except Exception:
            self.repo.abort_revert()
            raise
        sha = self.repo.commit_revert(
            f"rollback {self.name} {current} -> {wanted} ({self.environment})\n\n"
            f"This reverts commit {deployed}."
        )
        self.commits.append(sha)
        before = self.status(wanted) or {}
        records = [
            {**(self.status(current) or {}), "version": current, "status": "rolled_back"},
            {**before, "version": wanted, "status": "restored"},
        ]
        for record in records:
            record.update(commit=sha, strategy=record.get("strategy", "rollback"))
            record.setdefault("deploy_commit", "")
        self.commits.append(self._write_status(records, f"status {self.name} {wanted} restored"))
        self.push()
        return sha

    def check_tree(self) -> list[str]:
        """Problems of the tree in ``base/`` (empty when its InferenceService is valid)."""
        path = self.folder / "base" / "inferenceservice.yaml"
        if not path.is_file():
            return [f"{path} is missing"]
        return validation.validate_inference_service(m.from_yaml(path.read_text("utf-8"))[0])

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
