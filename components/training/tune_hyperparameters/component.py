"""KFP wrapper of :mod:`kfp_mlops.components.training.tune_hyperparameters.core`."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def tune_hyperparameters(
    train: Input[Dataset],
    validation: Input[Dataset],
    best_params: Output[Artifact],
    report: Output[HTML],
    metrics: Output[Metrics],
    n_trials: int = 8,
    timeout_s: float = 0.0,
    epochs_per_trial: int = 8,
    storage_url: str = "",
    study_name: str = "kfp-mlops-tune",
    search_space_json: str = "",
    tracking_uri: str = "",
    experiment_name: str = "kfp-mlops",
    seed: int = 42,
) -> float:
    """Search learning rate, layers, dropout, L2, activation and batch size with Optuna.

    Each trial is a short single-process Keras fit of the shared model; trials whose
    per-epoch validation accuracy falls below the median are pruned. The best parameters
    feed the distributed train_model step.

    Args:
        train: Preprocessed training rows (Parquet: float features and an int label 0..n-1).
        validation: Preprocessed validation rows, same columns; trials are scored on it.
        best_params: JSON object with learning_rate, hidden_units ("64,32"), dropout, l2,
            activation and batch_size of the best trial.
        report: HTML report: optimization history, parameter importances, trials table.
        metrics: best_value, n_trials and n_pruned.
        n_trials: Finished trials the study should hold; a resumed study only runs the rest.
        timeout_s: Stop starting new trials after this many seconds (0: no limit).
        epochs_per_trial: Epochs of each trial's fit.
        storage_url: Optuna RDB URL (postgresql://user:pass@host/db, sqlite:///...) so an
            interrupted study resumes on retry; "" keeps a sqlite file next to best_params,
            which does not survive a retry.
        study_name: Study name; the same name and storage_url resume the study.
        search_space_json: JSON overrides of the default space, e.g.
            {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": true},
            "hidden_units": {"choices": ["32", "64,32"]}}; "" keeps the defaults.
        tracking_uri: MLflow tracking URI (e.g. http://mlflow.mlflow:5000); "" disables
            logging. Logs a parent run and one nested run per trial.
        experiment_name: MLflow experiment name.
        seed: Seed of the sampler and of each trial's weight initialisation.

    Returns:
        The best validation accuracy.
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
    )
    result.write_best_params(best_params.path)
    best_params.metadata.update(
        {**result.best_params, "best_value": result.best_value, "study_name": study_name}
    )
    result.write_html(report.path)
    metrics.log_metric("best_value", result.best_value)
    metrics.log_metric("n_trials", result.n_trials_total)
    metrics.log_metric("n_pruned", result.n_pruned)
    return result.best_value
