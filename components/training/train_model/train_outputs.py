"""What :func:`.core.train` writes once the workers are done.

``model_config.json`` in the model directory, and the extra files (curves, model config)
attached to the workers' MLflow run. Runs in the pipeline env (no TensorFlow import).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from kfp_mlops.components.common.artifacts import LABEL
from kfp_mlops.components.common.model_dir import MODEL_CONFIG_FILE
from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.training.model import ModelConfig
from kfp_mlops.components.training.train_model.config import (
    MODEL_FILE,
    SAVED_MODEL_DIR,
    WorkerConfig,
)
from kfp_mlops.components.training.train_model.launcher import LaunchResult
from kfp_mlops.components.training.train_model.preflight import DataSummary

# Core's logger name, as before these moved out of core.train (log filters keep matching).
log = logging.getLogger("kfp_mlops.components.training.train_model.core")


def write_model_config(
    model_dir: str,
    config: WorkerConfig,
    data: DataSummary,
    task: TaskSpec,
    result: LaunchResult,
) -> None:
    """Write ``model_config.json``: what serving and evaluation need to use the model."""
    model_config = ModelConfig(
        hidden_units=config.hidden_units,
        activation=config.activation,
        dropout=config.dropout,
        l2=config.l2,
    )
    description = {
        "num_features": data.num_features,
        "num_classes": data.num_classes,
        "feature_names": data.feature_names,
        "label_column": LABEL,
        "model_fn": config.model_fn,
        "class_weight": config.class_weight,
        "task": task.to_json(),
        "model_config": model_config.to_dict(),
        "precision_policy": result.metrics.get("precision_policy"),
        "model_file": MODEL_FILE,
        "saved_model_dir": SAVED_MODEL_DIR if config.export_saved_model else None,
        "format": "Keras 2 HDF5 (loads with tf_keras / TF_USE_LEGACY_KERAS=1)",
    }
    Path(model_dir, MODEL_CONFIG_FILE).write_text(
        json.dumps(description, indent=2), encoding="utf-8"
    )


def log_extra_artifacts(tracking_uri: str, run_id: str, paths: list[str]) -> None:
    """Attach the curves and model_config.json to the workers' MLflow run."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    for path in paths:
        try:
            client.log_artifact(run_id, path)
        except Exception as exc:  # the model is trained; a tracking hiccup must not fail the task
            log.warning("MLflow: could not log %s to run %s: %s", path, run_id, exc)
