"""KFP wrapper of :mod:`kfp_mlops.components.registry.rollback_model.redeploy`."""

from kfp import dsl
from kfp.dsl import Markdown, Metrics, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def rollback_model(
    tracking_uri: str,
    metrics: Output[Metrics],
    report: Output[Markdown],
    registered_model_name: str = "kfp-mlops-classifier",
    target: str = "local",
    namespace: str = "kubeflow-user",
    storage_uri: str = "",
    state_dir: str = "",
    gitops_dir: str = "",
    git_repo: str = "",
    git_remote: str = "origin",
    environment: str = "production",
    ready_timeout_s: float = 120.0,
    max_error_rate: float = 0.01,
    max_p95_ms: float = 100.0,
    experiment_name: str = "kfp-mlops",
) -> str:
    """Serve the previous champion again on the same target, smoke-test it, move the alias back.

    The alias `champion` moves back to the version named in the champion's
    `previous_champion` tag only once that version serves and passed its smoke test; a
    failed check leaves the current version serving and the alias where it was. Without a
    previous champion nothing changes and the task fails saying so.

    Args:
        tracking_uri: MLflow server URL.
        metrics: recovery_time_s (start to healthy), restored_version, demoted_version.
        report: What was rolled back, where, the smoke checks and the recovery time.
        registered_model_name: Registered model name (its Kubernetes-safe form is the
            service name, as deploy_model uses it).
        target: Where the model serves: local, cluster (the InferenceService spec the
            version ran with is re-applied), gitops (git revert with git_repo, else the
            tree written again), or none (only the alias moves).
        namespace: Kubernetes namespace of the InferenceService.
        storage_uri: Model root of the cluster (gs://bucket/models); needed only when no
            spec of the previous version is recorded (cluster) or without git (gitops).
        state_dir: Folder of the local target's state (deploy_model's state_dir).
        gitops_dir: Folder of the GitOps trees (default: git_repo).
        git_repo: Local clone of the GitOps repository; the rollback is a revert commit.
        git_remote: Remote pushed to when the clone has it.
        environment: Environment recorded in the GitOps status files.
        ready_timeout_s: Seconds the restored version may take to become ready.
        max_error_rate: Highest error rate of the restored version with all traffic.
        max_p95_ms: Highest p95 latency (ms) of the restored version with all traffic.
        experiment_name: MLflow experiment of the rollback's run record.

    Returns:
        The champion version after the rollback.
    """
    import logging
    from pathlib import Path

    from kfp_mlops.components.common.kfp_outputs import log_finite
    from kfp_mlops.components.deployment.deploy_model.core import DEFAULT_STATE_DIR
    from kfp_mlops.components.registry.rollback_model.redeploy import (
        Settings,
        rollback_and_redeploy,
    )
    from kfp_mlops.components.registry.rollback_model.report import report_markdown

    logging.basicConfig(level=logging.INFO)
    settings = Settings(
        target=target,
        namespace=namespace,
        storage_uri=storage_uri,
        state_dir=state_dir or str(DEFAULT_STATE_DIR),
        gitops_dir=gitops_dir,
        git_repo=git_repo,
        git_remote=git_remote,
        environment=environment,
        ready_timeout_s=ready_timeout_s,
        max_error_rate=max_error_rate,
        max_p95_ms=max_p95_ms,
    )
    result = rollback_and_redeploy(
        tracking_uri, registered_model_name, settings, experiment_name=experiment_name
    )
    log_finite(metrics, result.metrics())
    Path(report.path).parent.mkdir(parents=True, exist_ok=True)
    Path(report.path).write_text(report_markdown(result, registered_model_name), encoding="utf-8")
    report.metadata.update({"serving": result.serving_now, "target": target})
    return result.registry.version
