"""``monitoring_pipeline`` and ``retraining_pipeline``: watch the champion, retrain on drift.

monitoring: fetch champion -> load recent and reference data -> monitor (metrics vs the
champion's baseline, feature and prediction drift, latency; Pushgateway). Meant for a
recurring run (``kfp-mlops schedule monitoring_pipeline --cron ...``).

retraining: the same monitoring, then ``dsl.If(retrain)`` -> validate the new data ->
tune -> train (Horovod) -> prune + quantize -> evaluate against the champion ->
``dsl.If(blessed)`` -> register -> canary deploy -> promote, inside an ``ExitHandler`` that
records the run whatever happens. Bad data never triggers training (validation runs first),
and only a model better than the champion is promoted.
"""

from kfp import dsl

from kfp_mlops.components.registry.record_outcome.component import record_outcome
from kfp_mlops.pipelines.data_validation import validated_splits
from kfp_mlops.pipelines.k8s import with_credentials, with_notification_secret
from kfp_mlops.pipelines.stages import (
    CLUSTER_TRACKING_URI,
    DeploySettings,
    MonitorSettings,
    TrainSettings,
    monitor_champion,
    register_deploy_promote,
    train_optimize_evaluate,
)


@dsl.pipeline(
    name="monitoring-pipeline",
    description="Monitor the champion on recent data: metrics vs its baseline, feature and "
    "prediction drift, latency; optional Pushgateway. Schedule it with `kfp-mlops schedule`.",
)
def monitoring_pipeline(
    current_source: str = "builtin:breast_cancer",
    reference_source: str = "builtin:breast_cancer",
    target_column: str = "target",
    drift_threshold: float = 0.1,
    retrain_on: str = "drift,critical",
    tracking_uri: str = CLUSTER_TRACKING_URI,
    registered_model_name: str = "kfp-mlops-classifier",
    pushgateway_url: str = "",
    history_uri: str = "",
) -> None:
    """Monitor the serving champion.

    Args:
        current_source: Recent inference data (with labels when they exist).
        reference_source: Reference data (the training data of the champion).
        target_column: Label column.
        drift_threshold: PSI above which a feature or the predictions count as drifted.
        retrain_on: What makes monitoring ask for retraining: drift, critical, warning, ...
        tracking_uri: MLflow tracking and registry URI.
        registered_model_name: Registered model to monitor (its champion alias).
        pushgateway_url: Prometheus Pushgateway to push the figures to; empty = none.
        history_uri: Path or gs:// URI of the monitoring history (metric trend); empty = none.
    """
    monitor_champion(MonitorSettings.from_inputs(locals()))


@dsl.pipeline(
    name="retraining-pipeline",
    description="Monitor the champion and, on drift or degradation, validate the new data, "
    "retrain with Horovod, optimize, evaluate against the champion, and canary-deploy and "
    "promote the new model only if it is better.",
)
def retraining_pipeline(
    current_source: str = "builtin:breast_cancer",
    reference_source: str = "builtin:breast_cancer",
    target_column: str = "target",
    drift_threshold: float = 0.1,
    retrain_on: str = "drift,critical",
    validation_margin: float = 0.9,
    task_type: str = "auto",
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
    min_improvement: float = 0.0,
    max_latency_p50_ms: float = 10.0,
    max_latency_p95_ms: float = 50.0,
    max_latency_p99_ms: float = 100.0,
    tracking_uri: str = CLUSTER_TRACKING_URI,
    experiment_name: str = "kfp-mlops",
    registered_model_name: str = "kfp-mlops-classifier",
    deploy_target: str = "cluster",
    namespace: str = "kubeflow-user",
    storage_uri: str = "",
    gitops_dir: str = "",
    git_repo: str = "",
    serving_state_dir: str = "",
    canary_max_p95_ms: float = 100.0,
    pushgateway_url: str = "",
    history_uri: str = "",
    seed: int = 42,
) -> None:
    """Monitor, and retrain / re-gate / canary-redeploy when the champion degrades.

    Args:
        current_source: New labelled data: what the model sees now; retraining uses it.
        reference_source: The champion's training data (drift baseline and suite).
        target_column: Label column.
        drift_threshold: PSI above which a feature or the predictions count as drifted.
        retrain_on: What triggers retraining: drift, critical, warning, feature_drift, ...
        validation_margin: Slack of the suite derived from the reference, in [0, 1): numeric
            ranges widen by this share of the reference range (drifted data is expected
            here); columns, types and categories stay strict.
        task_type: auto (inferred from the labels) | binary | multiclass | regression.
        model_fn: The model: builtin:mlp | builtin:resnet_mlp | builtin:cnn,
            package.module:function in the trainer image, or a .py file (path or gs://)
            defining build_model(task, params); see the README, "Bring your own model".
        class_weight: Classification: "" (rows weigh the same), "balanced" (for imbalanced
            labels) or a JSON object such as {"malignant": 3}; used by tuning and training.
        robust_loss: Regression: train with the Huber loss instead of mean squared error.
        tune_trials: Optuna trials.
        tune_epochs: Epochs per trial.
        num_workers: Horovod processes.
        epochs: Training epochs.
        precision: auto | mixed_float16 | mixed_bfloat16 | float32.
        gpus: GPUs for the training pod (0 = CPU).
        accelerator_type: Kubernetes GPU resource name.
        node_selector_json: Node selector of the training pod.
        tolerations_json: Tolerations of the training pod.
        checkpoint_uri: Where epoch checkpoints live; a retried task resumes there.
        final_sparsity: Pruning target sparsity.
        quantization_mode: int8 | dynamic_range | float16.
        max_accuracy_drop: Accuracy (pp) pruning or quantization may cost.
        min_accuracy: Evaluation gate on the new test split.
        max_rmse: Evaluation gate for regression tasks: highest test RMSE in the target units
            (0: no limit; min_accuracy then does not apply).
        min_improvement: Accuracy the new model must gain over the champion (0 = not worse).
        max_latency_p50_ms: Evaluation gate: highest single-row latency median, as served
            (<= 0 disables the check; tests on a loaded machine pass a lenient value).
        max_latency_p95_ms: Evaluation gate: highest single-row latency p95 (<= 0: off).
        max_latency_p99_ms: Evaluation gate: highest single-row latency p99 (<= 0: off).
        tracking_uri: MLflow tracking and registry URI.
        experiment_name: MLflow experiment.
        registered_model_name: Registered model and serving name.
        deploy_target: cluster | gitops | local.
        namespace: Kubernetes namespace of the InferenceService.
        storage_uri: Where the cluster reads models (gs://bucket/models).
        gitops_dir: Folder the gitops target writes manifests into.
        git_repo: With deploy_target gitops: a local Git clone the manifests are committed
            to (a status file per version; pushed when it has an origin remote).
        serving_state_dir: Folder of the local target's state.
        canary_max_p95_ms: Highest p95 latency (ms) of the new version at each canary step.
        pushgateway_url: Prometheus Pushgateway for the monitoring figures.
        history_uri: Path or gs:// URI of the monitoring history.
        seed: Seed of the split, tuning and training.
    """
    inputs = dict(locals())  # the parameters, by name: the stages take their settings here
    outcome = with_notification_secret(
        with_credentials(
            record_outcome(
                tracking_uri=tracking_uri,
                experiment_name=experiment_name,
                registered_model_name=registered_model_name,
                trigger="schedule",
                pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                pipeline_job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            )
        )
    )
    with dsl.ExitHandler(outcome, name="monitor-and-retrain"):
        watched = monitor_champion(MonitorSettings.from_inputs(inputs))
        with dsl.If(watched["monitor"].outputs["Output"] == True, name="retrain"):  # noqa: E712
            splits = validated_splits(
                watched["current"],
                watched["reference"],
                target_column,
                drift_threshold,
                "fail",
                seed,
                validation_margin=validation_margin,
                measure_drift=False,  # monitor_model has just measured it
                task_type=task_type,
            )
            trained = train_optimize_evaluate(splits, TrainSettings.from_inputs(inputs))
            with dsl.If(trained["evaluate"].outputs["Output"] == True, name="better"):  # noqa: E712
                # Retraining always canaries: the champion keeps serving until the new model
                # passed its smoke tests.
                deploy = DeploySettings.from_inputs(inputs, deploy_strategy="canary")
                register_deploy_promote(splits, trained, deploy)
