"""``rollback_pipeline``: the previous champion serves again, smoke-tested, then is champion.

One task (``rollback_model``) so the alias moves only after the restored version serves:
local (its server beside the live one, then all traffic), cluster (the InferenceService spec
it ran with, re-applied as a canary), gitops (a ``git revert`` commit). The recovery time
is in the task's Metrics and in an MLflow run; the exit task records the run's outcome.
"""

from kfp import dsl

from kfp_mlops.components.registry.record_outcome.component import record_outcome
from kfp_mlops.components.registry.rollback_model.component import rollback_model
from kfp_mlops.pipelines.k8s import with_credentials
from kfp_mlops.pipelines.stages import CLUSTER_TRACKING_URI


@dsl.pipeline(
    name="rollback-pipeline",
    description="Roll the champion back to the version it replaced: redeploy that version on "
    "the same target (cluster, gitops or local), smoke-test it, then move the alias; the "
    "recovery time is recorded.",
)
def rollback_pipeline(
    tracking_uri: str = CLUSTER_TRACKING_URI,
    registered_model_name: str = "kfp-mlops-classifier",
    deploy_target: str = "cluster",
    namespace: str = "kubeflow-user",
    storage_uri: str = "",
    serving_state_dir: str = "",
    gitops_dir: str = "",
    git_repo: str = "",
    environment: str = "production",
    ready_timeout_s: float = 240.0,
    max_p95_ms: float = 100.0,
    experiment_name: str = "kfp-mlops",
) -> None:
    """Roll back the champion and its deployment.

    Args:
        tracking_uri: MLflow tracking and registry URI.
        registered_model_name: MLflow registered model and serving name.
        deploy_target: cluster | gitops | local, where training_pipeline deployed it.
        namespace: Kubernetes namespace of the InferenceService.
        storage_uri: Model root of the cluster (only needed when no spec is recorded).
        serving_state_dir: Folder of the local target's state.
        gitops_dir: Folder of the GitOps trees (default: git_repo).
        git_repo: Local clone of the GitOps repository (the rollback is a revert commit).
        environment: Environment recorded in the GitOps status files.
        ready_timeout_s: Seconds the restored version may take to become ready.
        max_p95_ms: Highest p95 latency (ms) of the restored version with all traffic.
        experiment_name: MLflow experiment of the records.
    """
    outcome = record_outcome(
        tracking_uri=tracking_uri,
        experiment_name=experiment_name,
        registered_model_name=registered_model_name,
        trigger="rollback",  # kfp.local cannot fill the job-time placeholders: no start_time
    )
    with dsl.ExitHandler(outcome, name="rollback"):
        with_credentials(
            rollback_model(
                tracking_uri=tracking_uri,
                registered_model_name=registered_model_name,
                target=deploy_target,
                namespace=namespace,
                storage_uri=storage_uri,
                state_dir=serving_state_dir,
                gitops_dir=gitops_dir,
                git_repo=git_repo,
                environment=environment,
                ready_timeout_s=ready_timeout_s,
                max_p95_ms=max_p95_ms,
                experiment_name=experiment_name,
            )
        )
