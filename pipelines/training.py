"""``training_pipeline``: the main pipeline, from raw data to a promoted, serving model.

validate -> split -> tune -> train (Horovod) -> prune -> quantize -> evaluate ->
``dsl.If(blessed)`` -> register -> deploy -> promote, inside a ``dsl.ExitHandler`` whose exit
task records the outcome whatever happens. Bad data stops the run at validation; an
unblessed model is never registered or deployed; a deployment that fails its smoke test
rolls back (the previous model keeps serving) and promote never runs.
"""

from kfp import dsl

from kfp_mlops.components.deployment.deploy_model.component import deploy_model
from kfp_mlops.components.evaluation.evaluate_model.component import evaluate_model
from kfp_mlops.components.optimization.prune_model.component import prune_model
from kfp_mlops.components.optimization.quantize_model.component import quantize_model
from kfp_mlops.components.registry.promote_model.component import promote_model
from kfp_mlops.components.registry.record_outcome.component import record_outcome
from kfp_mlops.components.registry.register_model.component import register_model
from kfp_mlops.components.training.train_model.component import train_model
from kfp_mlops.components.training.tune_hyperparameters.component import tune_hyperparameters
from kfp_mlops.pipelines.data_validation import load_current_and_reference, validated_splits
from kfp_mlops.pipelines.k8s import gpu_training, resources, with_credentials

#: In a cluster, MLflow is a Service; `kfp-mlops run-local` replaces this with a local store.
CLUSTER_TRACKING_URI = "http://mlflow.mlflow.svc.cluster.local:5000"


def train_optimize_evaluate(
    splits: dict,
    *,
    tune_trials: int,
    tune_epochs: int,
    num_workers: int,
    epochs: int,
    precision: str,
    gpus: int,
    accelerator_type: str,
    node_selector_json: dict,
    tolerations_json: list,
    checkpoint_uri: str,
    final_sparsity: float,
    quantization_mode: str,
    max_accuracy_drop: float,
    min_accuracy: float,
    tracking_uri: str,
    experiment_name: str,
    registered_model_name: str,
    seed: int,
    min_improvement: float = 0.0,
) -> dict:
    """Tune, train, prune, quantize and evaluate; shared by the training and retraining pipelines.

    Returns:
        The tasks by name: ``tune``, ``train``, ``prune``, ``quantize``, ``evaluate``.
    """
    split = splits["split"]
    data = {k: split.outputs[k] for k in ("train", "validation")}
    tune = with_credentials(
        tune_hyperparameters(
            **data,
            n_trials=tune_trials,
            epochs_per_trial=tune_epochs,
            tracking_uri=tracking_uri,
            experiment_name=experiment_name,
            seed=seed,
        )
    )
    resources(tune, cpu="2", memory="4Gi")
    train = with_credentials(
        train_model(
            **data,
            best_params=tune.outputs["best_params"],
            num_workers=num_workers,
            epochs=epochs,
            precision=precision,
            checkpoint_uri=checkpoint_uri,
            tracking_uri=tracking_uri,
            experiment_name=experiment_name,
            seed=seed,
        )
    )
    resources(train, cpu="4", memory="16Gi")
    gpu_training(train, gpus, accelerator_type, node_selector_json, tolerations_json)
    train.set_retry(2)  # a retried task resumes from the last epoch checkpoint
    prune = prune_model(
        model=train.outputs["model"],
        **data,
        test=split.outputs["test"],
        final_sparsity=final_sparsity,
        max_accuracy_drop=max_accuracy_drop,
        seed=seed,
    )
    resources(prune, cpu="2", memory="4Gi")
    quantize = quantize_model(
        model=prune.outputs["pruned_model"],
        **data,
        test=split.outputs["test"],
        mode=quantization_mode,
        max_accuracy_drop=max_accuracy_drop,
        seed=seed,
    )
    resources(quantize, cpu="2", memory="4Gi")
    evaluate = with_credentials(
        evaluate_model(
            test=split.outputs["test"],
            model=quantize.outputs["quantized_model"],
            preprocessor=split.outputs["preprocessor"],
            min_accuracy=min_accuracy,
            min_improvement=min_improvement,
            tracking_uri=tracking_uri,
            registered_model_name=registered_model_name,
        )
    )
    return {
        "tune": tune,
        "train": train,
        "prune": prune,
        "quantize": quantize,
        "evaluate": evaluate,
    }


def register_deploy_promote(
    splits: dict,
    trained: dict,
    *,
    tracking_uri: str,
    experiment_name: str,
    registered_model_name: str,
    deploy_target: str,
    deploy_strategy: str,
    namespace: str,
    storage_uri: str,
    gitops_dir: str,
    serving_state_dir: str,
) -> dict:
    """Register the blessed model, deploy it gradually, then promote it to champion.

    Call inside ``dsl.If(blessed)``. Promotion runs only after the deployment's smoke tests
    passed; a failed deployment has already rolled back and the champion stays.
    """
    model = trained["quantize"].outputs["quantized_model"]
    register = with_credentials(
        register_model(
            model=model,
            evaluation=trained["evaluate"].outputs["evaluation_json"],
            tracking_uri=tracking_uri,
            registered_model_name=registered_model_name,
            blessed=trained["evaluate"].outputs["Output"],
            preprocessor=splits["split"].outputs["preprocessor"],
            data=splits["split"].outputs["train"],
            validation_result=splits["validate"].outputs["validation_result"],
            optimization="magnitude pruning (tfmot) + post-training quantization (TFLite)",
            experiment_name=experiment_name,
        )
    )
    deploy = with_credentials(
        deploy_model(
            model=model,
            preprocessor=splits["split"].outputs["preprocessor"],
            smoke_data=splits["current"].outputs["dataset"],
            target=deploy_target,
            strategy=deploy_strategy,
            model_name=registered_model_name,
            namespace=namespace,
            storage_uri=storage_uri,
            gitops_dir=gitops_dir,
            state_dir=serving_state_dir,
        )
    )
    deploy.after(register)
    promote = with_credentials(
        promote_model(
            tracking_uri=tracking_uri,
            registered_model_name=registered_model_name,
            version=register.outputs["Output"],
        )
    )
    promote.after(deploy)
    return {"register": register, "deploy": deploy, "promote": promote}


@dsl.pipeline(
    name="training-pipeline",
    description="Validate data, tune and train a Keras classifier with Horovod, prune and "
    "quantize it, evaluate it against the champion, and register, deploy (canary) and promote "
    "it when it is better.",
)
def training_pipeline(
    source: str = "builtin:breast_cancer",
    reference_source: str = "builtin:breast_cancer",
    target_column: str = "target",
    drift_threshold: float = 0.1,
    on_validation_failure: str = "fail",
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
    tracking_uri: str = CLUSTER_TRACKING_URI,
    experiment_name: str = "kfp-mlops",
    registered_model_name: str = "kfp-mlops-classifier",
    deploy_target: str = "cluster",
    deploy_strategy: str = "canary",
    namespace: str = "kubeflow-user",
    storage_uri: str = "",
    gitops_dir: str = "",
    serving_state_dir: str = "",
    seed: int = 42,
) -> None:
    """From raw data to a promoted model; the demo (`make demo`) runs it locally.

    Args:
        source: Training data: builtin:<name>, a path or gs://bucket/object.
        reference_source: Reference data for the expectation suite and drift baseline.
        target_column: Label column.
        drift_threshold: PSI above which a feature counts as drifted.
        on_validation_failure: fail (stop before training) or warn.
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
        tracking_uri: MLflow tracking and registry URI.
        experiment_name: MLflow experiment.
        registered_model_name: MLflow registered model and serving name.
        deploy_target: cluster | gitops | local.
        deploy_strategy: canary | blue-green | rolling.
        namespace: Kubernetes namespace of the InferenceService.
        storage_uri: Where the cluster reads models (gs://bucket/models).
        gitops_dir: Folder the gitops target writes manifests into.
        serving_state_dir: Folder of the local target's state.
        seed: Seed of the split, tuning and training.
    """
    outcome = record_outcome(tracking_uri=tracking_uri, experiment_name=experiment_name)
    with dsl.ExitHandler(outcome, name="train-and-deploy"):
        current, reference = load_current_and_reference(source, reference_source, target_column)
        splits = validated_splits(
            current, reference, target_column, drift_threshold, on_validation_failure, seed
        )
        trained = train_optimize_evaluate(
            splits,
            tune_trials=tune_trials,
            tune_epochs=tune_epochs,
            num_workers=num_workers,
            epochs=epochs,
            precision=precision,
            gpus=gpus,
            accelerator_type=accelerator_type,
            node_selector_json=node_selector_json,
            tolerations_json=tolerations_json,
            checkpoint_uri=checkpoint_uri,
            final_sparsity=final_sparsity,
            quantization_mode=quantization_mode,
            max_accuracy_drop=max_accuracy_drop,
            min_accuracy=min_accuracy,
            tracking_uri=tracking_uri,
            experiment_name=experiment_name,
            registered_model_name=registered_model_name,
            seed=seed,
        )
        with dsl.If(trained["evaluate"].outputs["Output"] == True, name="blessed"):  # noqa: E712
            register_deploy_promote(
                splits,
                trained,
                tracking_uri=tracking_uri,
                experiment_name=experiment_name,
                registered_model_name=registered_model_name,
                deploy_target=deploy_target,
                deploy_strategy=deploy_strategy,
                namespace=namespace,
                storage_uri=storage_uri,
                gitops_dir=gitops_dir,
                serving_state_dir=serving_state_dir,
            )
