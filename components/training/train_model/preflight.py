"""Checks that fail a training run in seconds, before any Horovod worker starts.

Parameters, the splits (the split contract of :mod:`kfp_mlops.components.common.artifacts`),
the MLflow server, and the user's model code (built once in the trainer env).
"""

from __future__ import annotations

import json
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from kfp_mlops.components.common.artifacts import SplitError, class_count
from kfp_mlops.components.common.errors import (
    ModelCodeError,
    ParameterError,
    ServiceUnavailableError,
    WorkerError,
)
from kfp_mlops.components.common.http import probe
from kfp_mlops.components.training.model import ModelConfig
from kfp_mlops.components.training.model_fn import BUILTIN_PREFIX
from kfp_mlops.components.training.train_model import split_stream
from kfp_mlops.components.training.train_model.config import PRECISIONS, WorkerConfig
from kfp_mlops.components.training.train_model.launcher import (
    MODEL_FN_MODULE,
    REPO_ROOT,
    SLOTS_ENV,
    available_slots,
    tail,
    worker_env,
)

log = logging.getLogger(__name__)


@dataclass
class DataSummary:
    """Facts about the training data that the launcher checked."""

    train_rows: int
    validation_rows: int
    num_features: int
    num_classes: int
    feature_names: list[str]
    streaming: bool = False


def validate_parameters(config: WorkerConfig, num_workers: int, check_slots: bool = True) -> None:
    """Check every parameter that needs no data.

    Raises:
        ParameterError: Naming the parameter, its value and an accepted value.
    """
    if num_workers < 1:
        raise ParameterError(f"num_workers is {num_workers}", "use at least 1 worker")
    # A TrainJob's workers run on other nodes: this pod's cores say nothing about them.
    slots, unit = available_slots() if check_slots else (num_workers, "slots")
    if num_workers > slots:
        raise ParameterError(
            f"num_workers {num_workers} exceeds the {slots} {unit} available",
            f"use num_workers <= {slots}, request more CPUs/GPUs for the pod, or set {SLOTS_ENV}",
        )
    if config.precision not in PRECISIONS:
        raise ParameterError(
            f"precision '{config.precision}' is not supported", f"use one of {PRECISIONS}"
        )
    checks = [
        (config.epochs >= 1, f"epochs is {config.epochs}", "use at least 1"),
        (
            config.batch_size >= num_workers,
            f"batch_size {config.batch_size} (global) is smaller than num_workers {num_workers}",
            f"use a batch_size of at least {num_workers}, e.g. {32 * num_workers}",
        ),
        (config.learning_rate > 0, f"learning_rate is {config.learning_rate}", "use e.g. 1e-3"),
        (config.warmup_epochs >= 0, f"warmup_epochs is {config.warmup_epochs}", "use 0 or more"),
        (
            config.grad_accum_steps >= 1,
            f"grad_accum_steps is {config.grad_accum_steps}",
            "use 1 or more",
        ),
        (
            config.clip_norm >= 0,
            f"clip_norm is {config.clip_norm}",
            "use 0 to disable, or e.g. 1.0",
        ),
        (
            config.loss_scale >= 0,
            f"loss_scale is {config.loss_scale}",
            "use 0 (dynamic) or e.g. 128",
        ),
        (
            config.early_stopping_patience >= 1,
            f"early_stopping_patience is {config.early_stopping_patience}",
            "use 1 or more",
        ),
    ]
    for ok, problem, fix in checks:
        if not ok:
            raise ParameterError(problem, fix)
    ModelConfig(
        hidden_units=list(config.hidden_units),
        activation=config.activation,
        dropout=config.dropout,
        l2=config.l2,
    ).validate()


def validate_data(
    train_path: str, validation_path: str, num_classes: int = 0, regression: bool = False
) -> DataSummary:
    """Check the train/validation splits against the split contract (:mod:`.artifacts`).

    Only the Parquet footers and the manifest of a shard directory are read
    (:mod:`.split_stream`): the label range comes from the row-group statistics, so a split
    of any size is checked in seconds and never loaded here (the workers check every batch
    they read against the contract too).

    Args:
        train_path: Training split: a Parquet file or a shard directory (float features +
            int ``label``).
        validation_path: Validation split with the same columns.
        num_classes: Expected class count; 0 infers ``max(label) + 1``.
        regression: The labels are float targets (the task spec says so).

    Raises:
        SplitError: On a missing, unreadable or empty split, a missing column, non-integer
            labels, labels outside ``0..num_classes-1`` or fewer than two classes.
    """
    train = split_stream.describe(train_path, "training")
    val = split_stream.describe(validation_path, "validation")
    features = split_stream.check(train, "training", regression=regression)
    split_stream.check(val, "validation", features, regression=regression)
    classes = 0
    if not regression:
        ranges = {}
        for name, info in (("training", train), ("validation", val)):
            low, high, nulls = split_stream.label_range(info)
            if nulls:
                raise SplitError(
                    f"the {name} labels are not integers ({nulls} missing)",
                    "encode the classes as 0..num_classes-1 (split_and_preprocess does this)",
                )
            # Two values stand for the labels: class_count needs only their range.
            ranges[name] = np.array([low, high], dtype="int64")
        classes = class_count(ranges, num_classes)
    return DataSummary(
        train_rows=train.rows,
        validation_rows=val.rows,
        num_features=len(features),
        num_classes=classes,
        feature_names=features,
        streaming=train.streaming or val.streaming,
    )


def check_tracking_server(uri: str, timeout: float = 5.0) -> None:
    """Fail fast when an HTTP MLflow tracking server does not answer.

    ``file:`` and plain paths need no server; other schemes (databricks, ...) are not probed.

    Raises:
        ServiceUnavailableError: If ``uri`` is http(s) and neither ``/health`` nor the
            experiments API answers within ``timeout`` seconds.
    """
    if not uri:
        return
    scheme = urlparse(uri).scheme
    if scheme not in ("http", "https"):
        return
    found = probe(uri, ("/health", "/api/2.0/mlflow/experiments/search?max_results=1"), timeout)
    if found.ok:
        return
    raise ServiceUnavailableError(
        f"the MLflow tracking server {uri} is unreachable ({found.detail})",
        "start it or fix tracking_uri (e.g. http://mlflow.mlflow.svc:5000), "
        "or pass tracking_uri='' to train without MLflow",
    )


def check_model_fn(config: WorkerConfig, python: str, timeout_s: float = 300.0) -> dict:
    """Build the user's model once in the trainer env, before any Horovod worker starts.

    Built-in models are ours and tested, so they are not checked here (a subprocess costs a
    TensorFlow import). A user's module is imported, called and its output checked against
    the task; a fault comes back as :class:`ModelCodeError` naming the module, the function
    and the fix, with nothing started and nothing written.

    Raises:
        ModelCodeError: If the model code is unusable.
        WorkerError: If the check itself could not run.
    """
    if config.model_fn.startswith(BUILTIN_PREFIX) or not config.model_fn:
        return {"model_fn": config.model_fn or "builtin:mlp", "checked": "built-in"}
    request = {
        "model_fn": config.model_fn,
        "task": config.task_spec().to_json(),
        "params": config.build_params(),
        "num_features": len(config.feature_names),
    }
    Path(config.log_dir).mkdir(parents=True, exist_ok=True)
    path = Path(config.log_dir) / "model_fn_check.json"
    path.write_text(json.dumps(request), encoding="utf-8")
    env = worker_env(python, 1)
    try:
        done = subprocess.run(
            [python, "-m", MODEL_FN_MODULE, str(path)],
            env=env,
            cwd=str(REPO_ROOT),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelCodeError(
            f"building model_fn '{config.model_fn}' took over {timeout_s:.0f} s",
            "build_model should only define layers; load data or weights elsewhere",
        ) from exc
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    answer = json.loads(lines[-1]) if lines else {}
    if done.returncode == 3 and "problem" in answer:
        raise ModelCodeError(answer["problem"], answer.get("fix", ""))
    if done.returncode != 0 or not answer:
        raise WorkerError(
            f"the model_fn check in the trainer env failed (exit {done.returncode}): "
            f"{tail(done.stderr or done.stdout)}",
            f"check that {python} is the trainer env's Python",
        )
    log.info("model_fn %s builds: %s", config.model_fn, answer)
    return answer
