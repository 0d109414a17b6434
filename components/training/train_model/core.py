"""Distributed training of the tabular classifier with Horovod.

:func:`train` is what the KFP wrapper calls: it merges tuned hyperparameters, validates
everything that can be checked before a worker starts, runs the Horovod job through
:mod:`.launcher` (workers in the trainer env, see :mod:`.worker`), then writes
``model_config.json`` into the model directory and the training curves as an HTML report.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.model_dir import MODEL_CONFIG_FILE
from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.training.hparams import TUNABLE, HyperParams
from kfp_mlops.components.training.train_model import (
    class_weights,
    launcher,
    preflight,
    train_outputs,
)
from kfp_mlops.components.training.train_model.config import (
    MODEL_FILE,
    WorkerConfig,
)
from kfp_mlops.components.training.train_model.report import write_curves
from kfp_mlops.components.training.train_multinode import run as trainjob
from kfp_mlops.components.training.train_multinode.run import ClusterRun

log = logging.getLogger(__name__)

#: :func:`train`'s parameters that make up its :class:`HyperParams` (tuning may override them).
_HPARAM_ARGS = (
    "epochs",
    "batch_size",
    "learning_rate",
    "hidden_units",
    "activation",
    "dropout",
    "l2",
    "precision",
    "loss_scale",
    "warmup_epochs",
    "grad_accum_steps",
    "clip_norm",
    "early_stopping_patience",
    "seed",
)


@dataclass
class TrainResult:
    """Outcome of :func:`train`."""

    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    model_dir: str
    checkpoint_dir: str
    log_dir: str
    params: dict[str, Any]
    weights: list[dict[str, Any]] = field(default_factory=list)

    @property
    def model_path(self) -> str:
        """The Keras H5 file."""
        return str(Path(self.model_dir) / MODEL_FILE)

    def summary_metrics(self) -> dict[str, float]:
        """The scalars the component logs as KFP Metrics (whichever the task produced)."""
        keys = (
            "loss",
            "val_loss",
            "accuracy",
            "val_accuracy",
            "rmse",
            "val_rmse",
            "mae",
            "val_mae",
            "epochs_run",
            "workers",
            "samples_per_second",
            "resumed_from_epoch",
        )
        return {k: float(self.metrics[k]) for k in keys if k in self.metrics}

    def model_metadata(self) -> dict[str, Any]:
        """The Model artifact's metadata (what registry and evaluation read back)."""
        return {
            "framework": "tensorflow-keras2",
            "format": "h5",
            "model_file": MODEL_FILE,
            "task_type": self.metrics.get("task_type", "binary"),
            **{
                k: float(self.metrics[k])
                for k in ("val_accuracy", "val_rmse", "val_mae")
                if k in self.metrics
            },
            "num_classes": int(self.metrics.get("num_classes", 0) or 0),
            "precision_policy": self.metrics["precision_policy"],
            "mlflow_run_id": self.metrics.get("mlflow_run_id", ""),
            "checkpoint_dir": self.checkpoint_dir,
        }


def load_best_params(path: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a tuning result: a JSON object, optionally nested under ``params``/``best_params``.

    Returns:
        The :data:`TUNABLE` keys (they override the training parameters), and the keys a
        model's ``search_space`` hook added that are not hyper-parameters (they reach its
        ``build_model`` as extra params). Outside a nested ``best_params``/``params``
        object, other keys (trial number, score) are ignored.

    Raises:
        ParameterError: If the file is not a JSON object.
    """
    if not path:
        return {}, {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ParameterError(
            f"best_params '{path}' is not readable JSON: {exc}",
            "pass the best_params artifact written by the tuning component, or none",
        ) from exc
    nested = False
    if isinstance(data, dict):
        for key in ("best_params", "params"):
            if isinstance(data.get(key), dict):
                data, nested = data[key], True
                break
    if not isinstance(data, dict):
        raise ParameterError(
            f"best_params '{path}' holds a {type(data).__name__}, not a JSON object",
            'write it as {"learning_rate": 0.001, "hidden_units": "64,32", ...}',
        )
    chosen = {k: v for k, v in data.items() if k in TUNABLE}
    extra = {k: v for k, v in data.items() if k not in HyperParams.names()} if nested else {}
    ignored = sorted(set(data) - set(chosen) - set(extra))
    if ignored:
        log.info("best_params: ignoring keys %s", ignored)
    log.info("best_params override: %s; model params: %s", chosen, extra)
    return chosen, extra


def _absolute(path: str) -> str:
    """Absolute local path (the workers run in another directory); URIs stay as they are."""
    return path if "://" in path else str(Path(path).resolve())


def default_checkpoint_dir(model_dir: str) -> str:
    """``<model_dir>-checkpoints``: outside the model artifact, stable across task retries."""
    return f"{str(model_dir).rstrip('/')}-checkpoints"


def train(
    train_path: str,
    validation_path: str,
    model_dir: str,
    *,
    curves_path: str | None = None,
    best_params_path: str | None = None,
    num_workers: int = 2,
    epochs: int = 20,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    hidden_units: str | list[int] = "64,32",
    activation: str = "relu",
    dropout: float = 0.1,
    l2: float = 1e-4,
    precision: str = "auto",
    loss_scale: float = 0.0,
    warmup_epochs: int = 5,
    grad_accum_steps: int = 4,
    clip_norm: float = 1.0,
    early_stopping_patience: int = 5,
    checkpoint_uri: str = "",
    tracking_uri: str = "",
    experiment_name: str = "kfp-mlops",
    seed: int = 42,
    num_classes: int = 0,
    log_dir: str | None = None,
    export_saved_model: bool = True,
    run_name: str = "",
    timeout_s: float | None = None,
    python: str | None = None,
    cluster: ClusterRun | None = None,
    model_fn: str = "builtin:mlp",
    task_path: str | None = None,
    robust_loss: bool = False,
    class_weight: str = "",
) -> TrainResult:
    """Train the model on ``num_workers`` Horovod processes and write it to ``model_dir``.

    Args:
        train_path: Training split (float features + int ``label``): a Parquet file, or a
            shard directory (``part-*.parquet`` + ``_dataset.json``) that every worker
            streams its own row groups of (large single files are streamed too).
        validation_path: Validation split with the same columns.
        model_dir: Directory that receives model.h5, saved_model/, history.json,
            metrics.json, model_config.json and the worker logs (``logs/``).
        curves_path: Where to write the HTML training curves (None: skip).
        best_params_path: Tuning result JSON; its keys override the parameters below.
        num_workers: Horovod processes (at most the CPU cores, or GPUs when visible).
        epochs: Total epochs (a resumed run counts the epochs already done).
        batch_size: Global batch size, split over the workers.
        learning_rate: Single-worker rate; the peak rate is ``learning_rate * num_workers``.
        hidden_units: Hidden layer widths, ``"64,32"`` or a list.
        activation: Hidden-layer activation.
        dropout: Dropout rate.
        l2: L2 weight penalty.
        precision: auto | mixed_float16 | mixed_bfloat16 | float32.
        loss_scale: 0 = dynamic loss scaling, > 0 = fixed scale (mixed_float16 only).
        warmup_epochs: Linear warm-up epochs before the cosine decay.
        grad_accum_steps: Batches accumulated per allreduce and optimizer update.
        clip_norm: Global-norm gradient clipping (0 disables it).
        early_stopping_patience: Epochs without val_loss improvement before stopping.
        checkpoint_uri: Local path or gs:// URI of the checkpoints; empty uses
            :func:`default_checkpoint_dir`. An existing checkpoint there is resumed.
        tracking_uri: MLflow tracking URI (empty: no MLflow).
        experiment_name: MLflow experiment.
        seed: Seed of initialisation and shuffling.
        num_classes: Class count; 0 infers it from the labels.
        log_dir: Worker logs; default ``<model_dir>/logs``.
        export_saved_model: Also export a SavedModel for TF Serving.
        run_name: MLflow run name.
        timeout_s: Stop the job after this many seconds.
        python: Trainer interpreter (default: see :func:`launcher.trainer_python`).
        cluster: Run the workers as a Kubeflow Trainer TrainJob across nodes instead of
            local processes (``num_workers`` is then the TrainJob's world size).
        model_fn: ``builtin:mlp`` | ``builtin:resnet_mlp`` | ``builtin:cnn``,
            ``package.module:function`` or a ``.py`` file (:mod:`..model_fn`).
        task_path: The preprocessor (or task) JSON of split_and_preprocess; its task spec
            says binary / multiclass / regression (None: classification from the labels).
        robust_loss: Regression: Huber loss instead of mean squared error.
        class_weight: "", "balanced" or a JSON object of class -> weight
            (:mod:`.class_weights`); classification only.

    Raises:
        ParameterError: On an invalid parameter.
        ModelCodeError: If the model code cannot be imported, called or fit the task; raised
            before any worker starts.
        SplitError: On missing or unusable splits.
        ServiceUnavailableError: If the MLflow tracking server does not answer.
        DataLoadError: On missing or unusable data.
        launcher.TrainingError: If a worker fails; the message holds its error.
    """
    # Every parameter by name (nothing else is bound yet): _worker_config sorts them out.
    args = dict(locals())
    config, params = _worker_config(args)
    model_dir = config.output_dir  # absolute; a cluster run repoints config.output_dir
    data, task, python = _preflight(
        config, num_workers, class_weight=class_weight, python=python, local=cluster is None
    )
    result = _run(config, num_workers, python, timeout_s, cluster)
    train_outputs.write_model_config(model_dir, config, data, task, result)
    used = {
        **params,
        "hidden_units": config.hidden_units,
        "num_workers": num_workers,
        "epochs": epochs,
    }
    return _finish(result, config, model_dir, used, curves_path=curves_path)


def _worker_config(args: dict[str, Any]) -> tuple[WorkerConfig, dict[str, Any]]:
    """The workers' configuration from :func:`train`'s arguments, with the tuning overrides.

    Returns:
        The config, and the (overridden) :data:`TUNABLE` parameters.
    """
    hparams = HyperParams.from_params({k: args[k] for k in _HPARAM_ARGS})
    overrides, model_params = load_best_params(args["best_params_path"])
    hparams = hparams.merged(overrides)
    params = {k: v for k, v in hparams.to_dict().items() if k in TUNABLE}
    model_dir = _absolute(str(args["model_dir"]))
    task_path = args["task_path"]
    config = WorkerConfig(
        **hparams.to_dict(),
        train_path=_absolute(str(args["train_path"])),
        validation_path=_absolute(str(args["validation_path"])),
        output_dir=model_dir,
        log_dir=_absolute(str(args["log_dir"] or Path(model_dir) / "logs")),
        checkpoint_dir=_absolute(args["checkpoint_uri"] or default_checkpoint_dir(model_dir)),
        num_classes=int(args["num_classes"]),
        tracking_uri=args["tracking_uri"],
        experiment_name=args["experiment_name"],
        run_name=args["run_name"],
        export_saved_model=args["export_saved_model"],
        model_fn=args["model_fn"] or "builtin:mlp",
        model_params=model_params,
        task=TaskSpec.load(task_path).to_json() if task_path else {},
        robust_loss=args["robust_loss"],
    )
    return config, params


def _preflight(
    config: WorkerConfig, num_workers: int, *, class_weight: str, python: str | None, local: bool
) -> tuple[preflight.DataSummary, TaskSpec, str]:
    """Validate parameters, splits, tracking server and model code; complete ``config``.

    Everything here fails in seconds, before any worker imports TensorFlow.

    Returns:
        The splits' summary, the task and the trainer interpreter.
    """
    preflight.validate_parameters(config, num_workers, check_slots=local)
    given = TaskSpec.from_json(config.task) if config.task else None
    data = preflight.validate_data(
        config.train_path,
        config.validation_path,
        given.num_classes if given else config.num_classes,
        regression=given is not None and given.task_type == "regression",
    )
    config.num_classes = data.num_classes
    config.feature_names = data.feature_names
    config.streaming = data.streaming
    config.train_rows = data.train_rows
    task = config.task_spec()
    config.class_weight = class_weights.resolve(class_weight, task, config.train_path)
    preflight.check_tracking_server(config.tracking_uri)
    python = python or launcher.trainer_python()
    preflight.check_model_fn(config, python)
    log.info(
        "training on %d rows x %d features (%s), %d classes, %d workers; checkpoints in %s",
        data.train_rows,
        data.num_features,
        "streamed per rank" if data.streaming else "in memory",
        data.num_classes,
        num_workers,
        config.checkpoint_dir,
    )
    return data, task, python


def _run(
    config: WorkerConfig,
    num_workers: int,
    python: str,
    timeout_s: float | None,
    cluster: ClusterRun | None,
) -> launcher.LaunchResult:
    """Run the workers as local Horovod processes, or as a TrainJob when ``cluster`` is set."""
    if cluster is None:
        return launcher.launch(config, num_workers, python=python, timeout_s=timeout_s)
    if timeout_s:
        cluster = dataclasses.replace(cluster, timeout_s=timeout_s)
    # Mutates config (gs:// paths, staged model_fn); what follows reads it back on purpose.
    return trainjob.run_on_cluster(config, cluster)


def _finish(
    result: launcher.LaunchResult,
    config: WorkerConfig,
    model_dir: str,
    used: dict[str, Any],
    *,
    curves_path: str | None,
) -> TrainResult:
    """Write the HTML curves, attach them and model_config.json to the MLflow run."""
    if curves_path:
        write_curves(curves_path, result.history, result.metrics, used)
    run_id = result.metrics.get("mlflow_run_id")
    if config.tracking_uri and run_id:
        train_outputs.log_extra_artifacts(
            config.tracking_uri,
            run_id,
            [p for p in (curves_path, str(Path(model_dir, MODEL_CONFIG_FILE))) if p],
        )
    return TrainResult(
        metrics=result.metrics,
        history=result.history,
        model_dir=model_dir,
        checkpoint_dir=config.checkpoint_dir,
        log_dir=result.log_dir,
        params=used,
        weights=result.weights,
    )
