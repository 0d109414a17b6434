"""KFP wrapper of :mod:`kfp_mlops.components.training.tune_hyperparameters.core`."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def tune_hyperparameters(
    train: Input[Dataset],
    validation: Input[Dataset],
    best_params: Output[Artifact],
    report: Output[HTML],
    metrics: Output[Metrics],
    preprocessor: Input[Model] = None,
    model_fn: str = "builtin:mlp",
    n_trials: int = 8,
    timeout_s: float = 0.0,
    epochs_per_trial: int = 8,
    storage_url: str = "",
    study_name: str = "kfp-mlops-tune",
    search_space_json: str = "",
    tracking_uri: str = "",
    experiment_name: str = "kfp-mlops",
    seed: int = 42,
    class_weight: str = "",
) -> float:
    """Search the model's hyper-parameters with Optuna on the task's validation metric.

    Each trial is a short single-process Keras fit of model_fn (built as train_model builds
    it); the score is the task's primary metric on the validation split: accuracy, maximised,
    for classification, RMSE, minimised, for regression. Trials behind the median at the same
    epoch are pruned. The best parameters feed the distributed train_model step. Bad model
    code fails before any trial runs.

    Args:
        train: Preprocessed training rows (Parquet: float features and a label column).
        validation: Preprocessed validation rows, same columns; trials are scored on it.
        best_params: JSON {"best_params": {...}, "objective": {"metric", "split",
            "direction"}, "best_value", "model_fn"}; train_model merges the best_params keys
            that are training hyper-parameters (learning_rate, hidden_units "64,32",
            dropout, l2, activation, batch_size, ...). Keys of a search_space hook that are
            not hyper-parameters are written too, for train_model to pass to the model's
            build_model through model_params.
        report: HTML report: objective, optimization history, parameter importances, trials.
        metrics: best_value, n_trials and n_pruned.
        preprocessor: The preprocessor of split_and_preprocess (it holds the task spec:
            binary, multiclass or regression); none: classification from the labels.
        model_fn: builtin:mlp, builtin:resnet_mlp, builtin:cnn, package.module:function or
            a .py file, as for train_model. Tuning runs in the pipeline image (TensorFlow
            2.21 + tf-keras) and training in the trainer image (TensorFlow 2.15): the module
            must work in both. Its optional search_space(trial) -> dict hook replaces the
            built-in search space.
        n_trials: Finished trials the study should hold; a resumed study only runs the rest.
        timeout_s: Stop starting new trials after this many seconds (0: no limit).
        epochs_per_trial: Epochs of each trial's fit.
        storage_url: Optuna RDB URL (postgresql://user:pass@host/db, sqlite:///...) so an
            interrupted study resumes on retry; "" keeps a sqlite file next to best_params,
            which does not survive a retry.
        study_name: Study name; the same name and storage_url resume the study.
        search_space_json: JSON overrides of the built-in space, e.g.
            {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": true},
            "hidden_units": {"choices": ["32", "64,32"]}}; "" keeps the defaults (must be ""
            when model_fn has a search_space hook).
        tracking_uri: MLflow tracking URI (e.g. http://mlflow.mlflow:5000); "" disables
            logging. Logs a parent run and one nested run per trial.
        experiment_name: MLflow experiment name.
        seed: Seed of the sampler and of each trial's weight initialisation.
        class_weight: Classification only, as train_model's: "" (rows weigh the same),
            "balanced" or a JSON object such as {"malignant": 3}; give both the same value.

    Returns:
        The best validation score (accuracy, or RMSE for regression).
    """
    import os

    from kfp_mlops.components.training.tune_hyperparameters.core import tune

    result = tune(
        train.path,
        validation.path,
        n_trials=n_trials,
        timeout_s=timeout_s,
        storage=storage_url,
        study_name=study_name,
        epochs_per_trial=epochs_per_trial,
        seed=seed,
        search_space=search_space_json,
        tracking_uri=tracking_uri,
        experiment_name=experiment_name,
        work_dir=os.path.dirname(best_params.path),
        model_fn=model_fn,
        task_path=preprocessor.path if preprocessor is not None else None,
        class_weight=class_weight,
    )
    result.write_best_params(best_params.path)
    best_params.metadata.update(
        {
            **result.best_params,
            **result.objective(),
            "best_value": result.best_value,
            "study_name": study_name,
        }
    )
    result.write_html(report.path)
    metrics.log_metric("best_value", result.best_value)
    metrics.log_metric(f"best_val_{result.metric}", result.best_value)
    metrics.log_metric("n_trials", result.n_trials_total)
    metrics.log_metric("n_pruned", result.n_pruned)
    return result.best_value
