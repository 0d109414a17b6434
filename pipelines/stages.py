"""The stages the training and retraining pipelines compose, each taking one settings object.

A stage is a plain function called inside a ``@dsl.pipeline`` body: it creates tasks and
returns them by name. Its settings are a frozen dataclass whose fields are pipeline inputs
(KFP channels while the pipeline is being defined) or constants; ``from_inputs`` picks them
out of a pipeline's own parameters by name, so a pipeline cannot pass one setting under the
wrong name and the two pipelines do not repeat the same twenty keyword arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from kfp import dsl

from kfp_mlops.components.deployment.deploy_model.component import deploy_model
from kfp_mlops.components.evaluation.evaluate_model.component import evaluate_model
from kfp_mlops.components.evaluation.explain_model.component import explain_model
from kfp_mlops.components.monitoring.alert_rules.component import alert_rules
from kfp_mlops.components.monitoring.monitor_model.component import monitor_model
from kfp_mlops.components.optimization.prune_model.component import prune_model
from kfp_mlops.components.optimization.quantize_model.component import quantize_model
from kfp_mlops.components.registry.fetch_champion.component import fetch_champion
from kfp_mlops.components.registry.promote_model.component import promote_model
from kfp_mlops.components.registry.register_model.component import register_model
from kfp_mlops.components.training.train_model.component import train_model
from kfp_mlops.components.training.tune_hyperparameters.component import tune_hyperparameters
from kfp_mlops.pipelines.data_validation import load_current_and_reference
from kfp_mlops.pipelines.k8s import gpu_training, resources, with_credentials

#: In a cluster, MLflow is a Service; `kfp-mlops run-local` replaces this with a local store.
CLUSTER_TRACKING_URI = "http://mlflow.mlflow.svc.cluster.local:5000"


class _FromInputs:
    """``from_inputs``: build a settings object from a pipeline's parameters by name."""

    @classmethod
    def from_inputs(cls, inputs: Mapping[str, Any], **overrides: Any) -> Any:
        """The fields found in ``inputs`` (a pipeline's ``locals()``), then ``overrides``.

        Fields absent from both keep their defaults; a field without a default that is
        missing raises ``TypeError`` naming it, as a dataclass does.
        """
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{**{k: v for k, v in inputs.items() if k in names}, **overrides})


@dataclass(frozen=True)
class TrainSettings(_FromInputs):
    """Settings of :func:`train_optimize_evaluate` (see the pipelines' Args for each)."""

    tune_trials: int
    tune_epochs: int
    num_workers: int
    epochs: int
    precision: str
    gpus: int
    accelerator_type: str
    node_selector_json: dict
    tolerations_json: list
    checkpoint_uri: str
    final_sparsity: float
    quantization_mode: str
    max_accuracy_drop: float
    min_accuracy: float
    tracking_uri: str
    experiment_name: str
    registered_model_name: str
    seed: int
    max_latency_p50_ms: float
    max_latency_p95_ms: float
    max_latency_p99_ms: float
    min_improvement: float = 0.0
    model_fn: str = "builtin:mlp"
    max_rmse: float = 0.0
    class_weight: str = ""
    robust_loss: bool = False


@dataclass(frozen=True)
class DeploySettings(_FromInputs):
    """Settings of :func:`register_deploy_promote`."""

    tracking_uri: str
    experiment_name: str
    registered_model_name: str
    deploy_target: str
    deploy_strategy: str
    namespace: str
    storage_uri: str
    gitops_dir: str
    serving_state_dir: str
    canary_max_p95_ms: float
    git_repo: str = ""
    # The release gate's latency limits double as the served model's alert thresholds.
    max_latency_p50_ms: float = 10.0
    max_latency_p95_ms: float = 50.0
    max_latency_p99_ms: float = 100.0


@dataclass(frozen=True)
class MonitorSettings(_FromInputs):
    """Settings of :func:`monitor_champion`."""

    current_source: str
    reference_source: str
    target_column: str
    drift_threshold: float
    retrain_on: str
    tracking_uri: str
    registered_model_name: str
    pushgateway_url: str
    history_uri: str


def train_optimize_evaluate(splits: dict, settings: TrainSettings) -> dict:
    """Tune, train, prune, quantize and evaluate; shared by the training and retraining pipelines.

    Args:
        splits: The tasks :func:`~kfp_mlops.pipelines.data_validation.validated_splits` returns.
        settings: What to train and how.

    Returns:
        The tasks by name: ``tune``, ``train``, ``prune``, ``quantize``, ``explain``,
        ``evaluate``.
    """
    s = settings
    split = splits["split"]
    data = {k: split.outputs[k] for k in ("train", "validation")}
    mlflow = {"tracking_uri": s.tracking_uri, "experiment_name": s.experiment_name}
    # The task spec (binary / multiclass / regression) travels inside the preprocessor.
    task = {"preprocessor": split.outputs["preprocessor"], "model_fn": s.model_fn}
    tune = with_credentials(
        tune_hyperparameters(
            **data,
            **task,
            n_trials=s.tune_trials,
            epochs_per_trial=s.tune_epochs,
            **mlflow,
            seed=s.seed,
            class_weight=s.class_weight,
        )
    )
    resources(tune, cpu="2", memory="4Gi")
    train = with_credentials(
        train_model(
            **data,
            **task,
            best_params=tune.outputs["best_params"],
            num_workers=s.num_workers,
            epochs=s.epochs,
            precision=s.precision,
            checkpoint_uri=s.checkpoint_uri,
            **mlflow,
            seed=s.seed,
            class_weight=s.class_weight,
            robust_loss=s.robust_loss,
        )
    )
    resources(train, cpu="4", memory="16Gi")
    gpu_training(train, s.gpus, s.accelerator_type, s.node_selector_json, s.tolerations_json)
    train.set_retry(2)  # a retried task resumes from the last epoch checkpoint
    gate = {"test": split.outputs["test"], "max_accuracy_drop": s.max_accuracy_drop, "seed": s.seed}
    prune = prune_model(
        model=train.outputs["model"], **data, final_sparsity=s.final_sparsity, **gate
    )
    resources(prune, cpu="2", memory="4Gi")
    quantize = quantize_model(
        model=prune.outputs["pruned_model"], **data, mode=s.quantization_mode, **gate
    )
    resources(quantize, cpu="2", memory="4Gi")
    # What drives the served model (SHAP per raw column), for the model card and :explain.
    explain = explain_model(
        model=quantize.outputs["quantized_model"],
        train=split.outputs["train"],
        test=split.outputs["test"],
        preprocessor=split.outputs["preprocessor"],
        seed=s.seed,
    )
    resources(explain, cpu="2", memory="4Gi")
    evaluate = with_credentials(
        evaluate_model(
            test=split.outputs["test"],
            model=quantize.outputs["quantized_model"],
            preprocessor=split.outputs["preprocessor"],
            min_accuracy=s.min_accuracy,
            max_rmse=s.max_rmse,
            min_improvement=s.min_improvement,
            max_latency_p50_ms=s.max_latency_p50_ms,
            max_latency_p95_ms=s.max_latency_p95_ms,
            max_latency_p99_ms=s.max_latency_p99_ms,
            tracking_uri=s.tracking_uri,
            registered_model_name=s.registered_model_name,
        )
    )
    return {
        "tune": tune,
        "train": train,
        "prune": prune,
        "quantize": quantize,
        "explain": explain,
        "evaluate": evaluate,
    }


def register_task(
    splits: dict, trained: dict, tracking_uri: Any, name: Any, experiment_name: Any
) -> Any:
    """The register_model task of a blessed model, shared by every release path.

    Registers the quantized model with its evaluation, preprocessor, validation result,
    explanation (model card section and the background :explain needs) and this run's id
    (the exit task finds what the run shipped by it).
    """
    return with_credentials(
        register_model(
            model=trained["quantize"].outputs["quantized_model"],
            evaluation=trained["evaluate"].outputs["evaluation_json"],
            tracking_uri=tracking_uri,
            registered_model_name=name,
            blessed=trained["evaluate"].outputs["Output"],
            preprocessor=splits["split"].outputs["preprocessor"],
            data=splits["split"].outputs["train"],
            validation_result=splits["validate"].outputs["validation_result"],
            experiment_name=experiment_name,
            explanation=trained["explain"].outputs["explanation"],
            background=trained["explain"].outputs["background"],
            pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        )
    )


def alert_rules_task(s: DeploySettings, deploy: Any) -> Any:
    """The deployed model's Prometheus alerting rules, once its deployment passed.

    The runbook's thresholds, with the pipeline's latency limits; the PrometheusRule (for
    the Prometheus Operator, in the model's namespace) and the plain rules file are the
    task's artifacts, ready for ``kubectl apply`` or a GitOps repository.
    """
    rules = alert_rules(
        model_name=s.registered_model_name,
        namespace=s.namespace,
        latency_p50_ms=s.max_latency_p50_ms,
        latency_p95_ms=s.max_latency_p95_ms,
        latency_p99_ms=s.max_latency_p99_ms,
    )
    rules.after(deploy)
    return rules


def register_deploy_promote(splits: dict, trained: dict, settings: DeploySettings) -> dict:
    """Register the blessed model, deploy it gradually, then promote it to champion.

    Call inside ``dsl.If(blessed)``. Promotion runs only after the deployment's smoke tests
    passed; a failed deployment has already rolled back and the champion stays.

    Args:
        splits: The tasks ``validated_splits`` returns.
        trained: The tasks :func:`train_optimize_evaluate` returns.
        settings: Where the model is registered and deployed.

    Returns:
        The tasks by name: ``register``, ``deploy``, ``promote``, ``alerts``.
    """
    s = settings
    model = trained["quantize"].outputs["quantized_model"]
    registry = {"tracking_uri": s.tracking_uri, "registered_model_name": s.registered_model_name}
    register = register_task(
        splits, trained, s.tracking_uri, s.registered_model_name, s.experiment_name
    )
    deploy = with_credentials(
        deploy_model(
            model=model,
            preprocessor=splits["split"].outputs["preprocessor"],
            smoke_data=splits["current"].outputs["dataset"],
            target=s.deploy_target,
            strategy=s.deploy_strategy,
            model_name=s.registered_model_name,
            namespace=s.namespace,
            storage_uri=s.storage_uri,
            gitops_dir=s.gitops_dir,
            state_dir=s.serving_state_dir,
            max_p95_ms=s.canary_max_p95_ms,
            git_repo=s.git_repo,
            # The registry's own copy is served when the cluster can read it (no re-upload).
            tracking_uri=s.tracking_uri,
            registered_version=register.outputs["Output"],
        )
    )
    deploy.after(register)
    promote = with_credentials(promote_model(**registry, version=register.outputs["Output"]))
    promote.after(deploy)
    alerts = alert_rules_task(s, deploy)
    return {"register": register, "deploy": deploy, "promote": promote, "alerts": alerts}


def monitor_champion(settings: MonitorSettings) -> dict:
    """Fetch the champion and monitor it on the recent window.

    Returns:
        The tasks by name: ``champion``, ``current``, ``reference``, ``monitor``.
    """
    s = settings
    champion = with_credentials(
        fetch_champion(tracking_uri=s.tracking_uri, registered_model_name=s.registered_model_name)
    )
    current, reference = load_current_and_reference(
        s.current_source, s.reference_source, s.target_column
    )
    monitor = with_credentials(
        monitor_model(
            current=current.outputs["dataset"],
            reference=reference.outputs["dataset"],
            model=champion.outputs["model"],
            preprocessor=champion.outputs["preprocessor"],
            baseline=champion.outputs["baseline"],
            retrain_on=s.retrain_on,
            drift_threshold=s.drift_threshold,
            history_uri=s.history_uri,
            pushgateway_url=s.pushgateway_url,
        )
    )
    return {"champion": champion, "current": current, "reference": reference, "monitor": monitor}
