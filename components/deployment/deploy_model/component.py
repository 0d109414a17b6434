"""KFP wrapper of :mod:`kfp_mlops.components.deployment.deploy_model.core`."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Model, Output, OutputPath

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def deploy_model(
    model: Input[Model],
    preprocessor: Input[Model],
    smoke_data: Input[Dataset],
    manifests: Output[Artifact],
    report: Output[Markdown],
    endpoint: OutputPath(str),
    target: str = "local",
    strategy: str = "canary",
    model_name: str = "kfp-mlops-classifier",
    namespace: str = "kubeflow-user",
    storage_uri: str = "",
    traffic_steps: str = "10,50,100",
    max_error_rate: float = 0.01,
    max_p95_ms: float = 100.0,
    ready_timeout_s: float = 120,
    gitops_dir: str = "",
    state_dir: str = "",
    environment: str = "production",
    tracking_uri: str = "",
    registered_version: str = "",
    git_repo: str = "",
) -> str:
    """Deploy a model with a canary, blue-green or rolling strategy; roll back on failed checks.

    Every new version is smoke-tested (readiness, metadata, V1 and V2 predictions on sample
    rows with the expected shape) before it takes traffic; a canary is also checked after
    each traffic step (error rate, p95 latency). Any failure rolls back to the previous
    version, then the task fails with the reason.

    Args:
        model: Model directory with model.h5 and/or model.tflite (tflite is served if present).
        preprocessor: The preprocessor JSON of split_and_preprocess.
        smoke_data: Raw rows (load_dataset's output); a few, minus the target, are sent as
            smoke-test requests.
        manifests: The InferenceService and release ConfigMap (YAML), validated offline.
        report: What happened: versions, smoke checks, traffic steps, decision and reason.
        endpoint: The service URL clients use after the deployment (the local router,
            the InferenceService URL); empty where it is not reachable from here (gitops).
        target: local (model servers on this machine behind a router), gitops (kustomize
            files in gitops_dir) or cluster (KServe through the Kubernetes API).
        strategy: canary, blue-green or rolling.
        model_name: Service name; made a valid Kubernetes name (lowercase, <= 39 chars).
        namespace: Kubernetes namespace of the InferenceService.
        storage_uri: Where the cluster reads models (gs://bucket/models); files are uploaded
            to <storage_uri>/<name>/<version>/ (a file already stored there with the same
            bytes is not uploaded again). Needed for gitops and cluster. With tracking_uri
            and registered_version, when the registry keeps that version in gs:// with the
            same files, the InferenceService reads the registry's copy and nothing is
            uploaded.
        traffic_steps: Canary traffic percentages, ending at 100.
        max_error_rate: Highest error rate per canary step (0.01 = 1 %).
        max_p95_ms: Highest p95 latency (ms) per canary step.
        ready_timeout_s: Seconds a new version may take to become ready.
        gitops_dir: Folder (a repository checkout) the gitops target writes to.
        state_dir: Folder of the local target's state (live version, ports).
        environment: production or staging. Staging keeps its own local state and GitOps
            folder (<dir>/_staging), so both servers coexist; pass the staging namespace.
        tracking_uri: MLflow registry URL; needed with registered_version.
        registered_version: The registered version being deployed (register_model's
            output): served from the registry's gs:// copy when it holds the same files; a
            successful staging deployment points the MLflow alias staging at it
            (production's champion is set by promote_model).
        git_repo: For target gitops: a local Git clone; each deployment is a commit there
            (tree + a status file per version), pushed when the clone has an origin remote;
            a rollback is a revert commit. Empty: files only.

    Returns:
        "<decision>:<live version>", decision being promoted, written, unchanged.
    """
    import logging

    from kfp_mlops.components.common.io import load_dataset_artifact
    from kfp_mlops.components.deployment.deploy_model.core import deploy
    from kfp_mlops.components.deployment.deploy_model.report import write_outputs

    logging.basicConfig(level=logging.INFO)
    result = deploy(
        model.path,
        preprocessor.path,
        load_dataset_artifact(smoke_data.path),
        target=target,
        strategy=strategy,
        model_name=model_name,
        namespace=namespace,
        storage_uri=storage_uri,
        traffic_steps=traffic_steps,
        max_error_rate=max_error_rate,
        max_p95_ms=max_p95_ms,
        ready_timeout_s=ready_timeout_s,
        gitops_dir=gitops_dir,
        state_dir=state_dir,
        environment=environment,
        tracking_uri=tracking_uri,
        registered_version=registered_version,
        git_repo=git_repo,
    )
    write_outputs(result, manifests.path, report.path)
    outcome = result.outcome
    manifests.metadata.update({"name": outcome.name, "version": outcome.version})
    report.metadata.update(
        {
            "decision": outcome.decision,
            "live": outcome.live or "",
            "target": target,
            "environment": environment,
            "url": result.url,
        }
    )
    with open(endpoint, "w", encoding="utf-8") as out:
        out.write(result.url)
    outcome.raise_if_failed()
    return f"{outcome.decision}:{outcome.live}"
