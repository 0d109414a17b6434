"""One trial: build the shared model with sampled parameters, fit it briefly, prune it early.

A Keras callback reports validation accuracy after every epoch so Optuna's pruner can stop a
trial that falls behind the median of earlier ones.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

from kfp_mlops.components.common.errors import ComponentError
from kfp_mlops.components.training.model import (
    ModelConfig,
    build_model,
    hidden_units_from,
    loss_name,
)
from kfp_mlops.components.training.tune_hyperparameters.data import TrainingData
from kfp_mlops.components.training.tune_hyperparameters.search_space import suggest
from kfp_mlops.components.training.tune_hyperparameters.tracking import Tracker


def configure_threads(tf: Any) -> None:
    """Small MLPs gain little from many threads; cap them so parallel pods share nodes well."""
    cores = os.cpu_count() or 1
    try:
        tf.config.threading.set_intra_op_parallelism_threads(min(cores, 4))
        tf.config.threading.set_inter_op_parallelism_threads(min(cores, 2))
    except RuntimeError:
        pass  # TensorFlow was already initialised in this process; keep its settings


def _make_callback(tf: Any, trial: Any, on_epoch: Callable[[int, dict], None]) -> Any:
    class OptunaPruning(tf.keras.callbacks.Callback):
        """Reports val_accuracy each epoch; stops the fit when Optuna says to prune."""

        def __init__(self) -> None:
            super().__init__()
            self.pruned = False
            self.last_value = math.nan

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            self.last_value = float(logs.get("val_accuracy", math.nan))
            on_epoch(epoch, logs)
            trial.report(self.last_value, epoch)
            if trial.should_prune():
                self.pruned = True
                self.model.stop_training = True

    return OptunaPruning()


def _compiled_model(tf: Any, params: dict[str, Any], data: TrainingData, seed: int) -> Any:
    """The shared model with a trial's parameters, its weights seeded by ``seed``."""
    config = ModelConfig(
        hidden_units=hidden_units_from(params["hidden_units"]),
        activation=params["activation"],
        dropout=params["dropout"],
        l2=params["l2"],
    )
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(seed)
    model = build_model(len(data.feature_names), data.num_classes, config)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate=params["learning_rate"]),
        loss=loss_name(data.num_classes),
        metrics=["accuracy"],
    )
    return model


def make_objective(
    tf: Any,
    data: TrainingData,
    space: dict[str, dict[str, Any]],
    epochs_per_trial: int,
    seed: int,
    tracker: Tracker | None,
) -> Callable[[Any], float]:
    """The Optuna objective: one short fit per trial, scored by its last validation accuracy.

    Args:
        tf: The TensorFlow module (imported by the caller only when trials will run).
        data: Both splits as arrays.
        space: The resolved search space.
        epochs_per_trial: Epochs of each fit.
        seed: Trial ``k`` initialises its weights with ``seed + k``.
        tracker: Logs each trial as a nested MLflow run, or None.

    Returns:
        A function of an Optuna trial returning its value; it raises ``optuna.TrialPruned``
        for a pruned trial.
    """
    import optuna

    def objective(trial: Any) -> float:
        params = suggest(trial, space)
        run_id = tracker.start_trial(trial.number) if tracker else ""
        if tracker:
            tracker.log(run_id, params=params)
        state = "FAIL"
        try:
            model = _compiled_model(tf, params, data, seed + trial.number)

            def on_epoch(epoch: int, logs: dict) -> None:
                if tracker:
                    metrics = {k: v for k, v in logs.items() if math.isfinite(float(v))}
                    tracker.log(run_id, metrics=metrics, step=epoch)

            callback = _make_callback(tf, trial, on_epoch)
            model.fit(
                data.x_train,
                data.y_train,
                validation_data=(data.x_val, data.y_val),
                epochs=epochs_per_trial,
                batch_size=params["batch_size"],
                verbose=0,
                callbacks=[callback],
            )
            value = callback.last_value
            if tracker and math.isfinite(value):
                tracker.log(run_id, metrics={"value": value}, step=epochs_per_trial)
            if callback.pruned:
                state = "PRUNED"
                raise optuna.TrialPruned(f"val_accuracy {value:.4f} below the median")
            if not math.isfinite(value):
                raise ComponentError(
                    f"trial {trial.number} produced no validation accuracy",
                    "check that the validation set has rows and finite features",
                )
            state = "COMPLETE"
            return value
        finally:
            if tracker:
                tracker.end_run(run_id, state)

    return objective
