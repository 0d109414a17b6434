"""The Horovod worker's Keras callbacks: LR schedule with plateaus, throughput, checkpoints, MLflow.

Each class is defined inside a factory function (gathered by :func:`callbacks`) because the
classes derive from TensorFlow's, which is imported only in the trainer env at run time.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from kfp_mlops.components.training.train_model.config import (
    STATE_FILE,
    WorkerConfig,
    scheduled_lr,
)
from kfp_mlops.components.training.train_model.worker_data import write_json

log = logging.getLogger("kfp_mlops.train_model.worker")


def callbacks(tf: Any) -> tuple[type, type, type, type]:
    """Callback classes, defined once TensorFlow is imported."""
    base = tf.keras.callbacks.Callback
    return (
        _learning_rate_controller(base),
        _throughput(base),
        _checkpoint_and_history(base),
        _mlflow_epochs(base),
    )


def _learning_rate_controller(base: type) -> type:
    """The warm-up + cosine learning-rate schedule with plateau reduction."""

    class LearningRateController(base):
        """Warm-up + cosine schedule times a plateau factor, set at every epoch start.

        Keras' ``ReduceLROnPlateau`` would be overwritten by a schedule at the next epoch, so
        the plateau logic lives here: the factor shrinks after ``patience`` epochs without a
        lower ``val_loss`` and multiplies the scheduled rate. Its state is checkpointed.
        """

        def __init__(self, cfg: WorkerConfig, workers: int, state: dict[str, Any] | None):
            super().__init__()
            self.cfg = cfg
            self.workers = workers
            self.patience = cfg.effective_plateau_patience()
            state = state or {}
            self.factor = float(state.get("factor", 1.0))
            self.best = float(state.get("best", math.inf))
            self.wait = int(state.get("wait", 0))
            self.current = 0.0

        def state(self) -> dict[str, Any]:
            return {"factor": self.factor, "best": self.best, "wait": self.wait}

        def on_epoch_begin(self, epoch, logs=None):
            cfg = self.cfg
            lr = scheduled_lr(
                epoch,
                cfg.learning_rate,
                self.workers,
                cfg.warmup_epochs,
                cfg.epochs,
                cfg.min_lr_ratio,
            )
            self.current = lr * self.factor
            self.model.optimizer.learning_rate = self.current

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            logs["lr"] = self.current
            # val_loss was averaged over ranks by MetricAverageCallback, so all agree.
            value = logs.get("val_loss")
            if value is None:
                return
            if value < self.best - 1e-4:
                self.best, self.wait = float(value), 0
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    self.factor *= self.cfg.plateau_factor
                    self.wait = 0
                    log.info("val_loss plateaued: learning-rate factor now %.4g", self.factor)

    return LearningRateController


def _throughput(base: type) -> type:
    """The per-epoch training-time callback."""

    class Throughput(base):
        """Times the training part of each epoch (validation excluded)."""

        def __init__(self):
            super().__init__()
            self.train_seconds: list[float] = []
            self._start = 0.0
            self._recorded = False

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()
            self._recorded = False

        def on_test_begin(self, logs=None):
            if not self._recorded:
                self.train_seconds.append(time.perf_counter() - self._start)
                self._recorded = True

        def on_epoch_end(self, epoch, logs=None):
            if not self._recorded:
                self.train_seconds.append(time.perf_counter() - self._start)
                self._recorded = True

    return Throughput


def _checkpoint_and_history(base: type) -> type:
    """Rank 0's per-epoch checkpoint and ``state.json`` writer."""

    class CheckpointAndHistory(base):
        """Rank 0: save a checkpoint, then ``state.json`` (completed epoch, LR state, history)."""

        def __init__(self, manager, cfg, lr_controller, history, extra_state):
            super().__init__()
            self.manager = manager
            self.cfg = cfg
            self.lr_controller = lr_controller
            self.history = history
            self.extra_state = extra_state

        def on_epoch_end(self, epoch, logs=None):
            entry = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
            self.history.append(entry)
            path = self.manager.save(checkpoint_number=epoch + 1)
            state = {
                "epoch": epoch + 1,
                "checkpoint": path,
                "lr_state": self.lr_controller.state(),
                "history": self.history,
                **self.extra_state,
            }
            write_json(f"{self.cfg.checkpoint_dir.rstrip('/')}/{STATE_FILE}", state)
            log.info(
                "epoch %d/%d %s; checkpoint %s",
                epoch + 1,
                self.cfg.epochs,
                " ".join(f"{k}={v:.4g}" for k, v in entry.items() if k != "epoch"),
                path,
            )

    return CheckpointAndHistory


def _mlflow_epochs(base: type) -> type:
    """Rank 0's per-epoch MLflow metrics logger."""

    class MlflowEpochs(base):
        """Rank 0: log each epoch's (rank-averaged) metrics to the active MLflow run."""

        def __init__(self, mlflow):
            super().__init__()
            self.mlflow = mlflow

        def on_epoch_end(self, epoch, logs=None):
            metrics = {k: float(v) for k, v in (logs or {}).items()}
            try:
                self.mlflow.log_metrics(metrics, step=epoch + 1)
            except Exception as exc:  # a tracking hiccup must not kill hours of training
                log.warning("MLflow log_metrics failed at epoch %d: %s", epoch + 1, exc)

    return MlflowEpochs
