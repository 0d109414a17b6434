"""Roll back end to end: the previous champion serves again, then the alias moves.

1. :func:`~.core.plan` finds the champion and the version it replaced (nothing changes
   when there is none: :class:`~.core.NoPreviousVersionError`).
2. The previous version's files come from the registry; their content version names what
   the serving target must run.
3. The target gets it back: ``local`` starts its server beside the live one, smoke-tests it
   and gives it all traffic; ``cluster`` re-applies the InferenceService spec that version
   ran with (recorded on the service) as a 0 % canary, smoke-tests it, then 100 %;
   ``gitops`` reverts the commit that deployed the live version (with ``git_repo``) or
   writes the previous tree again. A failed smoke test leaves the current version serving
   and the alias where it was.
4. ``champion`` moves back; the recovery time (start to healthy) is returned and recorded
   in MLflow (:mod:`.record`).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfp_mlops.components.common import model_dir as bundle
from kfp_mlops.components.common.errors import ParameterError, UserError
from kfp_mlops.components.deployment.deploy_model import manifests as m
from kfp_mlops.components.deployment.deploy_model import strategies, validation
from kfp_mlops.components.deployment.deploy_model.smoke import DeploymentError
from kfp_mlops.components.deployment.deploy_model.targets import (
    ClusterTarget,
    GitOpsTarget,
    LocalTarget,
    Release,
    Target,
)
from kfp_mlops.components.registry import common
from kfp_mlops.components.registry.rollback_model import core

log = logging.getLogger(__name__)

TARGETS = ("local", "cluster", "gitops", "none")


class NothingDeployedError(UserError):
    """The serving target runs no version of the model: there is nothing to roll back."""


@dataclass
class Settings:
    """Where the model serves and how the restored version is checked.

    Attributes:
        target: local, cluster, gitops, or none (only the alias moves).
        namespace: Kubernetes namespace (cluster, gitops).
        storage_uri: Model folder root of the cluster; used only when no spec of the
            previous version is recorded (cluster) or without git (gitops).
        state_dir: The local target's state folder.
        gitops_dir: GitOps folder (defaults to git_repo).
        git_repo: Local clone of the GitOps repository (rollback = git revert).
        git_remote: Remote pushed to when the clone has it.
        environment: Environment name recorded in GitOps status files.
        ready_timeout_s: How long the restored version may take to become ready.
        max_error_rate: Highest error rate of the restored version at 100 % traffic.
        max_p95_ms: Highest p95 latency (ms) of the restored version at 100 % traffic.
        probe_requests: Requests sent through the service once it has all traffic.
        backend: Server backend of the restored version (auto: tflite if present).
        api_client: Kubernetes ``ApiClient`` (cluster); default from the environment.
        kubeconfig: Kubeconfig path (cluster).
        poll_interval_s: Status poll interval (cluster).
    """

    target: str = "local"
    namespace: str = "kubeflow-user"
    storage_uri: str = ""
    state_dir: str = ""
    gitops_dir: str = ""
    git_repo: str = ""
    git_remote: str = "origin"
    environment: str = "production"
    ready_timeout_s: float = 120.0
    max_error_rate: float = 0.01
    max_p95_ms: float = 100.0
    probe_requests: int = 20
    backend: str = "auto"
    api_client: Any = None
    kubeconfig: str = ""
    poll_interval_s: float = 2.0

    def validate(self) -> strategies.Thresholds:
        """Check the settings before anything is read or changed; returns the thresholds."""
        if self.target not in TARGETS:
            raise ParameterError(
                f"target '{self.target}' is not supported", f"use one of {TARGETS}"
            )
        if self.ready_timeout_s <= 0:
            raise ParameterError(f"ready_timeout_s {self.ready_timeout_s} is not positive")
        if self.namespace != m.k8s_name(self.namespace):
            raise ParameterError(
                f"namespace '{self.namespace}' is not a valid Kubernetes namespace",
                f"use an existing namespace such as '{m.k8s_name(self.namespace)}'",
            )
        if self.target == "local" and not self.state_dir:
            raise ParameterError("target=local needs state_dir", "pass the deployment's state_dir")
        if self.target == "gitops" and not (self.gitops_dir or self.git_repo):
            raise ParameterError("target=gitops needs gitops_dir or git_repo")
        thresholds = strategies.Thresholds(self.max_error_rate, self.max_p95_ms)
        thresholds.validate()
        return thresholds


@dataclass
class Result:
    """What :func:`rollback_and_redeploy` did."""

    registry: core.Rollback
    target: str
    serving_before: str = ""
    serving_now: str = ""
    decision: str = ""
    reason: str = ""
    recovery_time_s: float = 0.0
    started_at: float = 0.0
    healthy_at: float = 0.0
    commit: str = ""
    outcome: strategies.Outcome | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """Figures for the KFP Metrics artifact."""
        return {
            "recovery_time_s": round(self.recovery_time_s, 3),
            "restored_version": float(self.registry.version),
            "demoted_version": float(self.registry.demoted),
        }


def smoke_rows(pre: dict[str, Any], n: int = 4) -> list[dict[str, Any]]:
    """Rows around the training data's centre, built from the preprocessor's statistics.

    Numeric columns take ``mean + k * scale`` for k spread over [-0.75, 0.75]; categorical
    columns cycle through their known categories.
    """
    numeric = list(pre.get("numeric_columns", []))
    means = list(pre.get("mean") or pre.get("fill_numeric") or [0.0] * len(numeric))
    scales = list(pre.get("scale") or [1.0] * len(numeric))
    rows = []
    for i in range(n):
        k = (i - (n - 1) / 2) * (1.5 / max(1, n - 1))
        row: dict[str, Any] = {
            c: round(float(mu) + k * float(sd), 6)
            for c, mu, sd in zip(numeric, means, scales, strict=False)
        }
        for column, cats in zip(
            pre.get("categorical_columns", []), pre.get("categories", []), strict=False
        ):
            row[column] = cats[i % len(cats)] if cats else ""
        rows.append(row)
    return rows


def download_version(tracking_uri: str, name: str, version: str, dst: Path) -> Path:
    """Download registered ``version``'s Model directory into ``dst``; returns its folder.

    Raises:
        ParameterError: If the version was registered without a preprocessor.
    """
    import mlflow

    uri = common.client(tracking_uri).get_model_version_download_uri(name, version)
    dst.mkdir(parents=True, exist_ok=True)
    path = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(dst), tracking_uri=tracking_uri
        )
    )
    if not (path / bundle.PREPROCESSOR_FILE).is_file():
        raise ParameterError(
            f"version {version} of '{name}' was registered without {bundle.PREPROCESSOR_FILE}",
            "register models with register_model's preprocessor input (training_pipeline does)",
        )
    return path


def _check_local_state(s: Settings, name: str) -> None:
    """Refuse early (no download, no router started) when nothing is deployed locally."""
    state = Path(s.state_dir) / name / "state.json"
    if not state.is_file() or not json.loads(state.read_text(encoding="utf-8")).get("live"):
        raise NothingDeployedError(
            f"no local deployment of '{name}' is recorded in {state}: nothing to roll back",
            "pass the state_dir the deployment used (run-local: <pipeline_root>/serving); "
            "nothing was changed",
        )


def _build_target(s: Settings, name: str) -> Target:
    if s.target == "local":
        return LocalTarget(s.state_dir, name)
    if s.target == "cluster":
        return ClusterTarget(name, s.namespace, s.api_client, s.kubeconfig, s.poll_interval_s)
    return GitOpsTarget(
        s.gitops_dir,
        name,
        [100],
        git_repo=s.git_repo,
        environment=s.environment,
        remote=s.git_remote,
    )


def _rendered(s: Settings, name: str, version: str, files: Path) -> Release:
    """A release of ``version`` rendered from settings (no recorded spec to re-apply)."""
    if not s.storage_uri:
        raise ParameterError(
            f"no spec of {name} {version} is recorded on the {s.target} target",
            "pass storage_uri (where the cluster reads models) to render it again",
        )
    uri = f"{s.storage_uri.rstrip('/')}/{name}/{version}"
    if uri.startswith("gs://"):
        from kfp_mlops.components.deployment.deploy_model.storage import upload_model

        upload_model(str(files), str(files / bundle.PREPROCESSOR_FILE), uri)
    spec = m.ServingSpec(
        name=name, namespace=s.namespace, version=version, storage_uri=uri, backend=s.backend
    )
    validation.validate_all([m.inference_service(spec)])
    return Release(
        name, version, str(files), str(files / bundle.PREPROCESSOR_FILE), s.backend, spec
    )


def _release(s: Settings, target: Target, name: str, version: str, files: Path) -> Release:
    """The release that puts ``version`` back on ``target``."""
    if isinstance(target, LocalTarget):
        keep = target.release_dir(version)
        if not keep.exists():  # the server reads these files for as long as it runs
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(files, keep)
        return Release(name, version, str(keep), str(keep / bundle.PREPROCESSOR_FILE), s.backend)
    if isinstance(target, ClusterTarget):
        return target.recorded(version) or _rendered(s, name, version, files)
    return _rendered(s, name, version, files)  # gitops without git: write the tree again


def _redeploy(
    s: Settings, thresholds: strategies.Thresholds, name: str, files: Path, result: Result
) -> None:
    """Put the version in ``files`` back on the target; fills ``result``; raises on failure."""
    pre = bundle.check_preprocessor(files / bundle.PREPROCESSOR_FILE)
    bundle.preflight(files, files / bundle.PREPROCESSOR_FILE, s.backend)
    version = bundle.version_of(files, files / bundle.PREPROCESSOR_FILE, s.backend)
    target = _build_target(s, name)
    live = target.live()
    if live is None:
        raise NothingDeployedError(
            f"the {s.target} target runs no version of '{name}'"
            f"{f' (state in {s.state_dir})' if s.target == 'local' else ''}: nothing to roll back",
            "check the target's settings (state_dir, namespace, gitops_dir); nothing was changed",
        )
    result.serving_before = live.version
    if isinstance(target, GitOpsTarget) and target.repo is not None:
        if live.version != version:
            result.commit = target.revert(live.version, version)
            result.decision, result.reason = "reverted", f"git revert -> {result.commit[:12]}"
        else:
            target.push()  # a rollback that was interrupted after its commit
            result.decision, result.reason = "unchanged", f"{version} is already in the tree"
        result.serving_now = version
        return
    release = _release(s, target, name, version, files)
    smoke = strategies.SmokeSpec(
        rows=smoke_rows(pre),
        classes=[str(c) for c in pre.get("classes", [])],
        inputs=list(pre.get("numeric_columns", [])) + list(pre.get("categorical_columns", [])),
        probe_requests=s.probe_requests,
    )
    outcome = strategies.run(target, release, "canary", smoke, [100], thresholds, s.ready_timeout_s)
    result.outcome, result.decision, result.reason = outcome, outcome.decision, outcome.reason
    result.serving_now = outcome.live or ""
    if not outcome.ok:
        raise DeploymentError(
            f"rollback of '{name}' to {version} failed on the {s.target} target and was "
            f"abandoned: {live.version} still serves and the champion alias did not move "
            f"({outcome.reason})",
            "see the report; roll back to a known-good version with promote_model + deploy_model",
        )


def rollback_and_redeploy(
    tracking_uri: str,
    name: str,
    settings: Settings | None = None,
    experiment_name: str = "kfp-mlops",
) -> Result:
    """Serve the previous champion again on the same target, then move ``champion`` back.

    Args:
        tracking_uri: MLflow server.
        name: Registered model name (its Kubernetes-safe form is the service name, as
            ``deploy_model`` uses it).
        settings: Target and checks; target ``none`` only moves the alias.
        experiment_name: MLflow experiment of the rollback's run record.

    Raises:
        ParameterError: On bad settings, before anything is read or changed.
        NoPreviousVersionError: Without a previous champion (nothing changed).
        NothingDeployedError: If the target serves nothing (nothing changed).
        DeploymentError: If the restored version fails its checks (the current version
            still serves; the alias did not move).
    """
    from kfp_mlops.components.registry.rollback_model import record

    s = settings or Settings()
    thresholds = s.validate()
    started, started_at = time.monotonic(), time.time()
    planned = core.plan(tracking_uri, name)
    result = Result(planned, s.target, started_at=started_at)
    service = m.k8s_name(name, m.MAX_ISVC_NAME)
    log.info("rolling back %s v%s -> v%s on %s", name, planned.demoted, planned.version, s.target)
    if s.target == "local":
        _check_local_state(s, service)
    if s.target != "none":
        with tempfile.TemporaryDirectory(prefix="rollback-") as tmp:
            files = download_version(tracking_uri, name, planned.version, Path(tmp))
            try:
                _redeploy(s, thresholds, service, files, result)
            except DeploymentError:
                result.recovery_time_s = time.monotonic() - started
                record.record_failure(tracking_uri, name, result, experiment_name)
                raise
    core.rollback(tracking_uri, name, expected=planned)
    result.recovery_time_s = time.monotonic() - started
    result.healthy_at = time.time()
    record.record_success(tracking_uri, name, result, experiment_name)
    log.info("%s recovered in %.1f s", name, result.recovery_time_s)
    return result
