"""The user's model code in a study: resolved, its hook sampled, built and compiled per trial.

The ``model_fn`` contract is :mod:`kfp_mlops.components.training.model_fn`'s (the same as
``train_model``'s). Tuning runs in the pipeline env (TensorFlow 2.21 + tf-keras), training in
the trainer env (TensorFlow 2.15), so a user module must import and build in both; it is
built once up front (:func:`check_model_code`) so bad code fails before any trial runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kfp_mlops.components.common.errors import ModelCodeError, ParameterError
from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.training.hparams import HyperParams
from kfp_mlops.components.training.model_fn import ModelFn, build, default_loss
from kfp_mlops.components.training.tune_hyperparameters.search_space import (
    canonical_params,
    suggest,
)

#: Keras metric per primary metric of a task spec (the name is the key Keras logs under).
_METRICS: dict[str, Callable[[Any], Any]] = {
    "accuracy": lambda tf: "accuracy",
    "rmse": lambda tf: tf.keras.metrics.RootMeanSquaredError(name="rmse"),
    "mae": lambda tf: tf.keras.metrics.MeanAbsoluteError(name="mae"),
}


def _hook_where(model_fn: ModelFn) -> str:
    return f"{getattr(model_fn.build, '__module__', '?')}.search_space ({model_fn.spec})"


def sample_params(
    trial: Any, model_fn: ModelFn, space: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """A trial's parameters: from the module's ``search_space`` hook, else the built-in space.

    Returns:
        The canonical parameters (:func:`canonical_params`): tunable keys typed, the hook's
        other keys as it returned them.

    Raises:
        ModelCodeError: If the hook raises, returns no dict with string keys, a tunable value
            of the wrong type, or a value that is not JSON (best_params is JSON).
    """
    if model_fn.search_space is None:
        return canonical_params(suggest(trial, space))
    where = _hook_where(model_fn)
    try:
        params = model_fn.search_space(trial)
    except Exception as exc:
        raise ModelCodeError(
            f"{where} raised {type(exc).__name__}: {exc}",
            "fix the hook; it is called as search_space(trial) with an Optuna trial",
        ) from exc
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise ModelCodeError(
            f"{where} returned {type(params).__name__}, not a dict of parameter names",
            'return e.g. {"learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2)}',
        )
    try:
        json.dumps(params)
        return canonical_params(params)
    except (TypeError, ValueError, ParameterError) as exc:
        raise ModelCodeError(
            f"{where} returned unusable values: {exc}",
            "return JSON values (numbers, strings, lists); training hyper-parameters with the "
            "types of HyperParams",
        ) from exc


def build_params(params: dict[str, Any], epochs: int, seed: int) -> dict[str, Any]:
    """What ``build_model(task, params)`` receives in a trial, as ``train_model`` passes it.

    The hyper-parameters (defaults overridden by the trial's, ``hidden_units`` as a list),
    then the hook's other keys (``train_model``'s ``model_params``).
    """
    names = set(HyperParams.names())
    chosen = {k: v for k, v in params.items() if k in names}
    hparams = HyperParams.from_params({**chosen, "epochs": epochs, "seed": seed})
    return {**hparams.to_dict(), **{k: v for k, v in params.items() if k not in names}}


def primary_metric(tf: Any, task: TaskSpec) -> Any:
    """The Keras metric of the task's primary metric.

    Raises:
        ParameterError: If the task names a metric tuning cannot compute per epoch.
    """
    if task.primary_metric not in _METRICS:
        raise ParameterError(
            f"the task's primary metric '{task.primary_metric}' cannot be tuned on",
            f"use one of {sorted(_METRICS)} in the task spec",
        )
    return _METRICS[task.primary_metric](tf)


def compiled_model(
    tf: Any, model_fn: ModelFn, task: TaskSpec, params: dict[str, Any], num_features: int
) -> Any:
    """Build the model, compile it with the task's loss, metrics and the trial's rate.

    The loss and metrics are the module's hooks when it has them (else the task's default,
    as in ``train_model``); the task's primary metric is always among the metrics, because
    the trial is scored and pruned on it.

    Raises:
        ModelCodeError: If the model cannot be built, fit the task or compiled.
    """
    model = build(model_fn, task, params, num_features)
    metric = primary_metric(tf, task)
    try:
        loss = model_fn.loss(task) if model_fn.loss else default_loss(task)
        metrics = list(model_fn.metrics(task)) if model_fn.metrics else []
        names = {m if isinstance(m, str) else getattr(m, "name", "") for m in metrics}
        if task.primary_metric not in names:
            metrics.append(metric)
        model.compile(
            optimizer=tf.keras.optimizers.Adam(learning_rate=params["learning_rate"]),
            loss=loss,
            metrics=metrics,
        )
    except Exception as exc:
        raise ModelCodeError(
            f"{model_fn.where}: compiling with its loss/metrics failed: "
            f"{type(exc).__name__}: {exc}",
            "loss(task) must return a Keras loss and metrics(task) a list of Keras metrics",
        ) from exc
    return model


def check_model_code(
    tf: Any,
    model_fn: ModelFn,
    task: TaskSpec,
    space: dict[str, dict[str, Any]],
    num_features: int,
    seed: int,
) -> None:
    """Sample the parameters once (from a throwaway study) and build and compile the model.

    Raises:
        ModelCodeError: Naming the module, the function and the fix, before any trial runs.
    """
    import optuna

    probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask()
    params = build_params(sample_params(probe, model_fn, space), epochs=1, seed=seed)
    tf.keras.backend.clear_session()
    compiled_model(tf, model_fn, task, params, num_features)
    tf.keras.backend.clear_session()
