"""One trial: build the model with sampled parameters, fit it briefly, prune it early.

A Keras callback reports the task's primary metric on the validation split after every
epoch (``val_accuracy`` or ``val_rmse``), so Optuna's pruner can stop a trial that falls
behind the median of earlier ones in the study's direction.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from typing import Any

from kfp_mlops.components.training.model_fn import ModelFn
from kfp_mlops.components.training.tune_hyperparameters.data import TrainingData
from kfp_mlops.components.training.tune_hyperparameters.model_code import (
    build_params,
    compiled_model,
    sample_params,
)
from kfp_mlops.components.training.tune_hyperparameters.tracking import Tracker

log = logging.getLogger(__name__)

#: Trial user attribute holding its canonical parameters (a hook's keys, not Optuna's names).
PARAMS_ATTR = "params"


def configure_threads(tf: Any) -> None:
    """Small MLPs gain little from many threads; cap them so parallel pods share nodes well."""
    cores = os.cpu_count() or 1
    try:
        tf.config.threading.set_intra_op_parallelism_threads(min(cores, 4))
        tf.config.threading.set_inter_op_parallelism_threads(min(cores, 2))
    except RuntimeError:
        pass  # TensorFlow was already initialised in this process; keep its settings


def _make_callback(tf: Any, trial: Any, key: str, on_epoch: Callable[[int, dict], None]) -> Any:
    class OptunaPruning(tf.keras.callbacks.Callback):
        """Reports the validation metric each epoch; stops the fit when Optuna says prune."""

        def __init__(self) -> None:
            super().__init__()
            self.pruned = False
            self.last_value = math.nan

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            self.last_value = float(logs.get(key, math.nan))
            on_epoch(epoch, logs)
            trial.report(self.last_value, epoch)
            if trial.should_prune():
                self.pruned = True
                self.model.stop_training = True

    return OptunaPruning()


def make_objective(
    tf: Any,
    data: TrainingData,
    model_fn: ModelFn,
    space: dict[str, dict[str, Any]],
    epochs_per_trial: int,
    seed: int,
    tracker: Tracker | None,
    class_weight: dict[str, float] | None = None,
) -> Callable[[Any], float]:
    """The Optuna objective: one short fit per trial, scored by its last validation metric.

    Args:
        tf: The TensorFlow module (imported by the caller only when trials will run).
        data: Both splits as arrays, and the task (its primary metric is the score).
        model_fn: The resolved model code.
        space: The resolved built-in search space (unused when the module has a hook).
        epochs_per_trial: Epochs of each fit.
        seed: Trial ``k`` initialises its weights with ``seed + k``.
        tracker: Logs each trial as a nested MLflow run, or None.
        class_weight: Loss weight by class code (train_model's, so trials and the final
            fit optimise the same objective); None or empty: unweighted.

    Returns:
        A function of an Optuna trial returning its value (NaN when the fit diverged: Optuna
        marks that trial failed and goes on); it raises ``optuna.TrialPruned`` for a pruned
        trial.
    """
    import optuna

    key = f"val_{data.task.primary_metric}"

    def objective(trial: Any) -> float:
        params = sample_params(trial, model_fn, space)
        trial.set_user_attr(PARAMS_ATTR, params)
        run_id = tracker.start_trial(trial.number) if tracker else ""
        if tracker:
            tracker.log(run_id, params=params)
        state = "FAIL"
        try:
            tf.keras.backend.clear_session()
            tf.keras.utils.set_random_seed(seed + trial.number)
            full = build_params(params, epochs_per_trial, seed + trial.number)
            model = compiled_model(tf, model_fn, data.task, full, len(data.feature_names))

            def on_epoch(epoch: int, logs: dict) -> None:
                if tracker:
                    metrics = {k: v for k, v in logs.items() if math.isfinite(float(v))}
                    tracker.log(run_id, metrics=metrics, step=epoch)

            callback = _make_callback(tf, trial, key, on_epoch)
            model.fit(
                data.x_train,
                data.y_train,
                validation_data=(data.x_val, data.y_val),
                epochs=epochs_per_trial,
                batch_size=full["batch_size"],
                verbose=0,
                callbacks=[callback],
                class_weight={int(c): w for c, w in (class_weight or {}).items()} or None,
            )
            value = callback.last_value
            if tracker and math.isfinite(value):
                tracker.log(run_id, metrics={"value": value}, step=epochs_per_trial)
            if callback.pruned:
                state = "PRUNED"
                raise optuna.TrialPruned(f"{key} {value:.4f} behind the median")
            if not math.isfinite(value):
                log.warning("trial %d: %s is %s (the fit diverged)", trial.number, key, value)
                return math.nan
            state = "COMPLETE"
            return value
        finally:
            if tracker:
                tracker.end_run(run_id, state)

    return objective
