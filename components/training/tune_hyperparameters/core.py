"""Hyperparameter search with Optuna: short single-process Keras fits, pruned early.

Each trial builds the ``model_fn`` (``builtin:mlp`` or the user's module, as ``train_model``
does) in this process and fits it for a few epochs (:mod:`.trial`); a Keras callback reports
the task's primary metric on the validation split per epoch (accuracy, maximised; RMSE for
regression, minimised) so Optuna's ``MedianPruner`` can stop trials that fall behind. The
study lives in an RDB (:mod:`.storage`: a sqlite file or any SQLAlchemy URL), so a retried
task resumes it. The best parameters then drive the full distributed training
(``train_model``, Horovod).

Modules: :mod:`.search_space` (the built-in space), :mod:`.model_code` (the user's model and
its ``search_space`` hook), :mod:`.data` (the splits as arrays), :mod:`.storage` (where the
study lives), :mod:`.tracking` (MLflow), :mod:`.trial` (one fit), :mod:`.result` and
:mod:`.report` (the outcome and its HTML); this one runs a study.
"""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common import shards
from kfp_mlops.components.common.artifacts import check_split, read_split, split_rows
from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.common.tf import import_tf
from kfp_mlops.components.training.model_fn import BUILTIN_PREFIX, DEFAULT_MODEL_FN, resolve
from kfp_mlops.components.training.train_model import class_weights
from kfp_mlops.components.training.tune_hyperparameters.data import prepare_data
from kfp_mlops.components.training.tune_hyperparameters.model_code import check_model_code
from kfp_mlops.components.training.tune_hyperparameters.result import (
    TuneResult,
    result_from_study,
)
from kfp_mlops.components.training.tune_hyperparameters.search_space import (
    resolve_search_space,
    search_space_from_json,
)
from kfp_mlops.components.training.tune_hyperparameters.storage import open_storage
from kfp_mlops.components.training.tune_hyperparameters.tracking import (
    Tracker,
    check_tracking_uri,
)
from kfp_mlops.components.training.tune_hyperparameters.trial import (
    configure_threads,
    make_objective,
)

__all__ = ["TuneResult", "tune"]

log = logging.getLogger(__name__)

#: MedianPruner: never prune before this many trials have completed.
PRUNER_STARTUP_TRIALS = 2


def _check_parameters(
    n_trials: int, timeout_s: float, epochs_per_trial: int, study_name: str
) -> None:
    if not isinstance(n_trials, int) or n_trials < 1:
        raise ParameterError(f"n_trials is {n_trials}", "use at least 1 (e.g. 20)")
    if timeout_s is None or timeout_s < 0:
        raise ParameterError(f"timeout_s is {timeout_s}", "use 0 for no limit or a positive number")
    if epochs_per_trial < 1:
        raise ParameterError(f"epochs_per_trial is {epochs_per_trial}", "use at least 1 (e.g. 10)")
    if not study_name:
        raise ParameterError("study_name is empty", "name the study, e.g. kfp-mlops-tune")


#: Rows a trial trains on at most: a larger split is searched on an even sample of it (trials
#: only rank hyper-parameters; the final training reads every row, streamed).
TUNE_MAX_ROWS = 200_000


def _frame(value: pd.DataFrame | str, name: str, regression: bool) -> pd.DataFrame:
    """A split given as a DataFrame, or as the path of a Dataset artifact (file or shards).

    A split over :data:`TUNE_MAX_ROWS` rows is read as every k-th row in one streaming pass,
    so tuning's memory stays bounded whatever the data size.
    """
    if isinstance(value, pd.DataFrame):
        return value
    path = str(value)
    rows = split_rows(path, name)
    if rows <= TUNE_MAX_ROWS:
        return read_split(path, name, regression)
    step = -(-rows // TUNE_MAX_ROWS)
    parts, seen = [], 0
    for batch in shards.iter_batches(path):
        frame = batch.to_pandas()
        keep = (np.arange(seen, seen + len(frame)) % step) == 0
        parts.append(frame[keep])
        seen += len(frame)
    sample = pd.concat(parts, ignore_index=True)
    check_split(sample, name, regression=regression)
    log.info(
        "tuning on every %d-th row of the %s set: %d of %d rows", step, name, len(sample), rows
    )
    return sample


def _open_study(
    rdb: Any, study_name: str, task: TaskSpec, n_trials: int, epochs_per_trial: int, seed: int
) -> tuple[Any, int]:
    """Create the study, or load it when the storage holds one of that name.

    Returns:
        The study and how many finished (complete or pruned) trials it already held.

    Raises:
        ParameterError: If a stored study of that name optimises another metric or direction.
    """
    import optuna
    from optuna.trial import TrialState

    direction = "maximize" if task.greater_is_better else "minimize"
    study = optuna.create_study(
        storage=rdb,
        study_name=study_name,
        direction=direction,
        load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=PRUNER_STARTUP_TRIALS,
            # about the first third of the epochs is too noisy to judge a trial by, at most 2
            n_warmup_steps=min(2, epochs_per_trial // 3),
        ),
    )
    # A study created elsewhere (enqueued trials) has no metric attribute: its direction decides.
    metric, stored_direction = study.user_attrs.get("metric"), study.direction.name.lower()
    if stored_direction != direction or metric not in (None, task.primary_metric):
        raise ParameterError(
            f"study '{study_name}' in the storage optimises {metric or 'a metric'} "
            f"({stored_direction}), but this {task.task_type} task is tuned on "
            f"{task.primary_metric} ({direction})",
            "give this task its own study_name",
        )
    study.set_user_attr("metric", task.primary_metric)
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    # Re-seed past the trials already drawn so a resumed study does not repeat their params.
    study.sampler = optuna.samplers.TPESampler(
        seed=seed + len(study.trials), n_startup_trials=max(2, min(10, n_trials // 2))
    )
    return study, len(finished)


def _optimize(study: Any, objective: Any, n_trials: int, remaining: int, timeout_s: float) -> None:
    import optuna
    from optuna.trial import TrialState

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # MaxTrialsCallback also stops this worker when parallel workers sharing the storage
        # have together reached n_trials.
        done = optuna.study.MaxTrialsCallback(
            n_trials, states=(TrialState.COMPLETE, TrialState.PRUNED)
        )
        study.optimize(objective, n_trials=remaining, timeout=timeout_s or None, callbacks=[done])


def _model_code(model_fn: str, search_space: dict[str, Any] | str | None) -> tuple[Any, dict]:
    """Resolve the model code and the built-in space (which a module's hook replaces)."""
    if isinstance(search_space, str):
        search_space = search_space_from_json(search_space)
    spec = model_fn or DEFAULT_MODEL_FN
    if not spec.startswith(BUILTIN_PREFIX):
        import_tf()  # selects tf-keras before the user's module imports tensorflow itself
    resolved = resolve(spec)
    if resolved.search_space is not None and search_space:
        raise ParameterError(
            f"model_fn '{resolved.spec}' has a search_space hook and search_space is given too",
            "leave search_space empty (the hook decides), or remove the hook from the module",
        )
    return resolved, resolve_search_space(search_space, resolved.spec)


def tune(
    train: pd.DataFrame | str,
    validation: pd.DataFrame | str,
    n_trials: int = 10,
    timeout_s: float = 0,
    storage: str = "",
    study_name: str = "kfp-mlops-tune",
    epochs_per_trial: int = 10,
    seed: int = 42,
    search_space: dict[str, Any] | str | None = None,
    tracking_uri: str = "",
    experiment_name: str = "kfp-mlops",
    parent_run_name: str = "tune",
    work_dir: str | None = None,
    model_fn: str = DEFAULT_MODEL_FN,
    task_path: str | None = None,
    class_weight: str = "",
) -> TuneResult:
    """Run (or resume) an Optuna study on the task's validation metric.

    Accuracy is maximised for classification, RMSE minimised for regression (the task
    spec's primary metric and direction).

    Args:
        train: Training rows (a DataFrame or a Parquet Dataset path): float feature columns
            and a ``label`` (int 0..n-1, or float targets for regression).
        validation: Validation rows with the same columns (a DataFrame or a path).
        n_trials: Finished (complete or pruned) trials the study should hold; trials already in
            a resumed study count, so only the rest run.
        timeout_s: Stop starting new trials after this many seconds (0: no limit).
        storage: Optuna RDB URL (``sqlite:///...``, ``postgresql://...``); ``""`` uses a sqlite
            file in ``work_dir`` (or memory when ``work_dir`` is None).
        study_name: Study name; the same name and storage resume a study.
        epochs_per_trial: Epochs of each trial's fit.
        seed: Seeds the TPE sampler and each trial's weights (``seed + trial number``).
        search_space: Overrides of the built-in search space, per parameter, as a dict or as
            JSON text (``""`` keeps the defaults); not allowed with a ``search_space`` hook.
        tracking_uri: MLflow tracking URI; ``""`` disables MLflow logging.
        experiment_name: MLflow experiment.
        parent_run_name: Name of the parent MLflow run.
        work_dir: Directory for the default sqlite study file.
        model_fn: ``builtin:mlp`` | ``builtin:resnet_mlp`` | ``builtin:cnn``,
            ``package.module:function`` or a ``.py`` file (as for ``train_model``); a module's
            ``search_space(trial)`` hook replaces the built-in space (builtin:cnn has its own:
            conv filters "16,32" or "32,64", a higher learning rate).
        task_path: The preprocessor (or task) JSON of split_and_preprocess; None:
            classification with the classes read from the labels.
        class_weight: ``""``, ``"balanced"`` or a JSON object of class -> weight, as for
            ``train_model`` (classification only).

    Returns:
        The :class:`TuneResult`.

    Raises:
        ParameterError: On bad parameters, search space or storage URL (a refused login too).
        ModelCodeError: If the model code cannot be imported, sampled, built or compiled for
            the task; raised before any trial runs.
        SplitError: On a missing, unreadable or unusable dataset.
        ServiceUnavailableError: When the database or the MLflow server does not answer.
    """
    _check_parameters(n_trials, timeout_s, epochs_per_trial, study_name)
    resolved, space = _model_code(model_fn, search_space)
    given = TaskSpec.load(task_path) if task_path else None
    regression = given is not None and given.task_type == "regression"
    data = prepare_data(
        _frame(train, "train", regression), _frame(validation, "validation", regression), given
    )
    weights = class_weights.resolve(class_weight, data.task, data.y_train)
    if tracking_uri:
        check_tracking_uri(tracking_uri)
    tf = import_tf()
    configure_threads(tf)
    # Bad model code fails here, before a study exists in the storage.
    check_model_code(tf, resolved, data.task, space, len(data.feature_names), seed)
    rdb, shown_storage = open_storage(storage, work_dir)

    study, n_before = _open_study(rdb, study_name, data.task, n_trials, epochs_per_trial, seed)
    remaining = n_trials - n_before
    log.info(
        "study '%s' in %s (%s %s on validation): %d finished trials, running %d more",
        study_name,
        shown_storage,
        study.direction.name.lower(),
        data.task.primary_metric,
        n_before,
        max(remaining, 0),
    )
    tracker = None
    if tracking_uri:
        tracker = Tracker(tracking_uri, experiment_name, parent_run_name)
        config = {"study_name": study_name, "storage": shown_storage, "n_trials": n_trials}
        config.update(epochs_per_trial=epochs_per_trial, seed=seed, model_fn=resolved.spec)
        config.update(class_weight=json.dumps(weights) if weights else "")
        config.update(metric=data.task.primary_metric, direction=study.direction.name.lower())
        tracker.log(tracker.parent_id, params={**config, "search_space": json.dumps(space)[:6000]})
    try:
        if remaining > 0:
            objective = make_objective(
                tf, data, resolved, space, epochs_per_trial, seed, tracker, weights
            )
            _optimize(study, objective, n_trials, remaining, timeout_s)
        result = result_from_study(
            study, shown_storage, n_before, tracker.parent_id if tracker else "", resolved.spec
        )
    except BaseException:
        if tracker:
            tracker.fail()
        raise
    if tracker:
        tracker.finish(result)
    log.info(
        "best val_%s %.4f (%s) after %d trials (%d pruned): %s",
        result.metric,
        result.best_value,
        result.direction,
        result.n_trials_total,
        result.n_pruned,
        result.best_params,
    )
    return result
