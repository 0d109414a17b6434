"""What rank 0 leaves behind: final metrics, the model files, probe predictions, MLflow.

Runs in the trainer env only; never imports kfp.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.common.tf import import_tf
from kfp_mlops.components.training.train_model.config import (
    HISTORY_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PROBE_FILE,
    SAVED_MODEL_DIR,
    WorkerConfig,
)
from kfp_mlops.components.training.train_model.worker_data import (
    WorkerData,
    is_uri,
    upload_dir,
    write_json,
)


def final_metrics(model, opt, data: WorkerData, task: TaskSpec, history, throughput, size: int):
    """Rank 0's final metrics: the validation set evaluated whole, throughput, settings."""
    samples_per_epoch = data.steps_per_epoch * data.per_worker_batch * size
    timed = throughput.train_seconds[1:] or throughput.train_seconds  # drop tracing epoch
    evaluated = model.evaluate(data.full_val_ds(import_tf()), verbose=0, return_dict=True)
    last = history[-1] if history else {}
    metrics: dict[str, Any] = {"loss": last.get("loss", float("nan"))}
    for name, value in evaluated.items():
        metrics[name] = last.get(name, float("nan")) if name != "loss" else metrics["loss"]
        metrics[f"val_{name}"] = float(value)
    metrics.update(
        task_type=task.task_type,
        epochs_run=len(history),
        epochs_this_run=len(throughput.train_seconds),
        workers=size,
        num_features=data.num_features,
        train_rows=data.train_rows,
        num_classes=task.num_classes,
        samples_per_second=samples_per_epoch * len(timed) / sum(timed) if timed else 0.0,
        output_dtype=str(model.output.dtype.name),
        steps_per_epoch=data.steps_per_epoch,
        per_worker_batch=data.per_worker_batch,
        feature_names=data.names,
        # Only a mixed_float16 run has a loss scale (the LossScaleOptimizer's final value).
        loss_scale=float(opt.loss_scale.numpy()) if hasattr(opt, "loss_scale") else 0.0,
        loss_scale_dynamic=bool(getattr(opt, "dynamic", False)),
    )
    return metrics


def headline(metrics: dict[str, Any], task: TaskSpec) -> str:
    """``val_<primary metric>=...`` for the last log line."""
    key = f"val_{task.primary_metric}"
    return f"{key}={metrics.get(key, float('nan')):.4f}"


def save_outputs(model, cfg: WorkerConfig, data: WorkerData, history, metrics, mlflow) -> None:
    """Rank 0: the model (H5 and SavedModel), probe predictions, history, metrics; MLflow."""
    remote = is_uri(cfg.output_dir)
    # Keras writes HDF5 and SavedModels to local files: stage them, then copy to the URI.
    out = Path(tempfile.mkdtemp(prefix="kfp-mlops-model-")) if remote else Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    # No optimizer in the file: Horovod's wrapper class is not needed to serve or fine-tune.
    model.save(str(out / MODEL_FILE), include_optimizer=False, save_format="h5")
    if cfg.export_saved_model:
        model.save(str(out / SAVED_MODEL_DIR), include_optimizer=False, save_format="tf")
    probe_x = data.probe_x
    probe = {
        "inputs": probe_x.tolist(),
        "outputs": np.asarray(model.predict(probe_x, verbose=0), dtype="float64").tolist(),
    }
    write_json(str(out / PROBE_FILE), probe)
    write_json(str(out / HISTORY_FILE), history)
    write_json(str(out / METRICS_FILE), metrics)
    if mlflow:
        mlflow.log_metrics(
            {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))},
            step=len(history),
        )
        for name in (MODEL_FILE, HISTORY_FILE, METRICS_FILE):
            mlflow.log_artifact(str(out / name))
        mlflow.end_run()
    if remote:
        upload_dir(out, cfg.output_dir)
        shutil.rmtree(out, ignore_errors=True)
