"""``training_pipeline``: the main pipeline, from raw data to a promoted, serving model.

validate -> split -> tune -> train (Horovod) -> prune -> quantize -> explain + evaluate ->
``dsl.If(blessed)`` -> audit -> register -> deploy -> promote, inside a ``dsl.ExitHandler``
whose exit task records the outcome (and notifies) whatever happens. Bad data stops the run
at validation; an unblessed model is never registered or deployed; with ``require_audit`` a
non-compliant one neither; a deployment that fails its smoke test rolls back (the previous
model keeps serving) and promote never runs.

With ``staging=True`` the release goes through staging instead
(:mod:`kfp_mlops.pipelines.stages_release`): staging deploy -> integration test on the live
staging endpoint -> [approval, with ``require_approval=True``] -> production deploy ->
promote.
"""

from kfp import dsl

from kfp_mlops.components.registry.record_outcome.component import record_outcome
from kfp_mlops.pipelines.data_validation import load_current_and_reference, validated_splits
from kfp_mlops.pipelines.k8s import with_credentials, with_notification_secret
from kfp_mlops.pipelines.stages import (
    CLUSTER_TRACKING_URI,
    DeploySettings,
    TrainSettings,
    register_deploy_promote,
    train_optimize_evaluate,
)
from kfp_mlops.pipelines.stages_governance import AuditSettings, audit_before_release
from kfp_mlops.pipelines.stages_release import ReleaseSettings, release_through_staging


# Long by design: its 50 parameters are the run form the KFP UI shows (one per line, with
# defaults); the body only composes the stages of pipelines/stages*.py.
@dsl.pipeline(
    name="training-pipeline",
    description="Validate data, tune and train a Keras classifier with Horovod, prune and "
    "quantize it, evaluate it against the champion, and register, deploy (canary) and promote "
    "it when it is better; optionally through staging, an integration test on the live "
    "endpoint and an approval.",
)
def training_pipeline(
    source: str = "builtin:breast_cancer",
    reference_source: str = "builtin:breast_cancer",
    target_column: str = "target",
    drift_threshold: float = 0.1,
    on_validation_failure: str = "fail",
    model_fn: str = "builtin:mlp",
    class_weight: str = "",
    robust_loss: bool = False,
    tune_trials: int = 4,
    tune_epochs: int = 6,
    num_workers: int = 2,
    epochs: int = 20,
    precision: str = "auto",
    gpus: int = 0,
    accelerator_type: str = "nvidia.com/gpu",
    node_selector_json: dict = {},  # noqa: B006 - KFP reads defaults from the signature
    tolerations_json: list = [],  # noqa: B006
    checkpoint_uri: str = "",
    final_sparsity: float = 0.5,
    quantization_mode: str = "int8",
    max_accuracy_drop: float = 0.5,
    min_accuracy: float = 0.95,
    max_rmse: float = 0.0,
    max_latency_p50_ms: float = 10.0,
    max_latency_p95_ms: float = 50.0,
    max_latency_p99_ms: float = 100.0,
    tracking_uri: str = CLUSTER_TRACKING_URI,
    experiment_name: str = "kfp-mlops",
    registered_model_name: str = "kfp-mlops-classifier",
    deploy_target: str = "cluster",
    deploy_strategy: str = "canary",
    namespace: str = "kubeflow-user",
    storage_uri: str = "",
    gitops_dir: str = "",
    serving_state_dir: str = "",
    canary_max_p95_ms: float = 100.0,
    seed: int = 42,
    staging: bool = False,
    staging_namespace: str = "kubeflow-user-staging",
    integration_protocol: str = "both",
    require_approval: bool = False,
    approval_timeout_s: float = 3600.0,
    approval_poll_interval_s: float = 30.0,
    task_type: str = "auto",
    git_repo: str = "",
    require_audit: bool = False,
    declared_personal_columns: str = "",
    risk_level: str = "limited",
    retention_days: int = 365,
    dataset_created_at: str = "",
) -> None:
    """From raw data to a promoted model; the demo (`make demo`) runs it locally.

    Args:
        source: Training data: builtin:<name>, a path or gs://bucket/object.
        reference_source: Reference data for the expectation suite and drift baseline.
        target_column: Label column.
        drift_threshold: PSI above which a feature counts as drifted.
        on_validation_failure: fail (stop before training) or warn.
        model_fn: The model: builtin:mlp | builtin:resnet_mlp | builtin:cnn,
            package.module:function in the trainer image, or a .py file (path or gs://)
            defining build_model(task, params); see the README, "Bring your own model".
        class_weight: Classification: "" (rows weigh the same), "balanced" (for imbalanced
            labels) or a JSON object such as {"malignant": 3}; used by tuning and training.
        robust_loss: Regression: train with the Huber loss instead of mean squared error.
        tune_trials: Optuna trials (0 is not allowed; use 1 to skip most of the search).
        tune_epochs: Epochs per trial.
        num_workers: Horovod processes (one per GPU on a GPU node).
        epochs: Training epochs.
        precision: auto | mixed_float16 | mixed_bfloat16 | float32.
        gpus: GPUs for the training pod (0 = CPU).
        accelerator_type: Kubernetes GPU resource name, e.g. nvidia.com/gpu.
        node_selector_json: Node selector of the training pod, e.g.
            {"cloud.google.com/gke-accelerator": "nvidia-l4"}.
        tolerations_json: Tolerations of the training pod, e.g. [{"key": "nvidia.com/gpu",
            "operator": "Exists", "effect": "NoSchedule"}].
        checkpoint_uri: Where epoch checkpoints live (gs://...); a retried task resumes there.
        final_sparsity: Target share of zero weights after pruning, in [0, 1).
        quantization_mode: int8 | dynamic_range | float16.
        max_accuracy_drop: Accuracy (percentage points) pruning or quantization may cost.
        min_accuracy: Evaluation gate on the test split (runbook: 0.95).
        max_rmse: Evaluation gate for regression tasks: highest test RMSE in the target units
            (0: no limit; min_accuracy then does not apply).
        max_latency_p50_ms: Evaluation gate: highest single-row latency median, as served
            (<= 0 disables the check; tests on a loaded machine pass a lenient value).
        max_latency_p95_ms: Evaluation gate: highest single-row latency p95 (<= 0: off).
        max_latency_p99_ms: Evaluation gate: highest single-row latency p99 (<= 0: off).
        tracking_uri: MLflow tracking and registry URI.
        experiment_name: MLflow experiment.
        registered_model_name: MLflow registered model and serving name.
        deploy_target: cluster | gitops | local.
        deploy_strategy: canary | blue-green | rolling.
        namespace: Kubernetes namespace of the InferenceService.
        storage_uri: Where the cluster reads models (gs://bucket/models).
        gitops_dir: Folder the gitops target writes manifests into.
        serving_state_dir: Folder of the local target's state.
        canary_max_p95_ms: Highest p95 latency (ms) of the new version at each canary step.
        seed: Seed of the split, tuning and training.
        staging: Release through staging: deploy to the staging environment (its own
            namespace, local state and MLflow alias staging), replay the test split against
            the live staging endpoint (same quality and latency gate as evaluation), then
            deploy to production and promote. Off: one environment (the demo).
        staging_namespace: Kubernetes namespace of the staging InferenceService.
        integration_protocol: v1, v2 or both: the protocols the integration test replays.
        require_approval: With staging: wait for `kfp-mlops approve <model> <version>`
            before production; a rejection or timeout stops the release, with the reason.
        approval_timeout_s: Longest wait for the approval, in seconds.
        approval_poll_interval_s: Seconds between polls of the approval tag.
        task_type: auto (inferred from the labels) | binary | multiclass | regression.
        git_repo: With deploy_target gitops: a local Git clone the manifests are committed
            to (a status file per version; pushed when it has an origin remote).
        require_audit: Register only a model whose compliance audit (GDPR, CCPA, EU AI Act,
            generic) passes; off: the audit report is written and the release goes on.
        declared_personal_columns: Personal-data columns the model needs (a,b or a JSON
            object column -> purpose); any other personal column fails the audit.
        risk_level: EU AI Act tier: minimal, limited, high (needs an approval) or
            unacceptable.
        retention_days: How long the training data may be kept, for the audit.
        dataset_created_at: When the data was collected (ISO 8601), for the retention check.
    """
    inputs = dict(locals())  # the parameters, by name: the stages take their settings here
    outcome = with_notification_secret(
        with_credentials(
            record_outcome(
                tracking_uri=tracking_uri,
                experiment_name=experiment_name,
                registered_model_name=registered_model_name,
                trigger="manual",
                pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                pipeline_job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            )
        )
    )
    with dsl.ExitHandler(outcome, name="train-and-deploy"):
        current, reference = load_current_and_reference(source, reference_source, target_column)
        splits = validated_splits(
            current,
            reference,
            target_column,
            drift_threshold,
            on_validation_failure,
            seed,
            task_type=task_type,
        )
        trained = train_optimize_evaluate(splits, TrainSettings.from_inputs(inputs))
        with dsl.If(trained["evaluate"].outputs["Output"] == True, name="blessed"):  # noqa: E712
            audit = audit_before_release(splits, trained, AuditSettings.from_inputs(inputs))
            with dsl.If(staging == False, name="single-environment"):  # noqa: E712
                single = register_deploy_promote(
                    splits, trained, DeploySettings.from_inputs(inputs)
                )
                single["register"].after(audit)
            with dsl.Else(name="through-staging"):
                staged = release_through_staging(
                    splits, trained, ReleaseSettings.from_inputs(inputs)
                )
                staged["register"].after(audit)
