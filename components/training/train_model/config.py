"""The worker configuration shared by the launcher (pipeline env) and the workers (trainer env).

Only the standard library (and the stdlib-only model_dir) is imported here, so both
environments can load it: the launcher
writes a :class:`WorkerConfig` as JSON and every Horovod worker reads it back.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.model_dir import (
    HISTORY_FILE,
    KERAS_FILE,
    METRICS_FILE,
    SAVED_MODEL_DIR,
)
from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.training.hparams import HyperParams

__all__ = [
    "HISTORY_FILE",
    "METRICS_FILE",
    "MODEL_FILE",
    "PRECISIONS",
    "PROBE_FILE",
    "SAVED_MODEL_DIR",
    "STATE_FILE",
    "HyperParams",
    "WorkerConfig",
    "default_threads",
    "resolve_precision",
    "scheduled_lr",
]

#: Accepted values of the ``precision`` parameter.
PRECISIONS = ("auto", "mixed_float16", "mixed_bfloat16", "float32")

#: Files the worker writes into ``output_dir`` (the Model artifact directory): their names
#: are the model directory's (:mod:`kfp_mlops.components.common.model_dir`).
MODEL_FILE = KERAS_FILE
PROBE_FILE = "probe_predictions.json"
#: File the worker writes next to the checkpoints, after each checkpoint is complete.
STATE_FILE = "state.json"


@dataclass(kw_only=True)
class WorkerConfig(HyperParams):
    """Everything one Horovod worker needs; written by the launcher as ``config.json``.

    The hyper-parameters are :class:`~kfp_mlops.components.training.hparams.HyperParams`'
    fields (inherited, so they are declared once); the rest says where and how to run.

    Attributes:
        train_path: Parquet file with float feature columns and an int ``label`` column.
        validation_path: Parquet file with the same columns.
        output_dir: Where rank 0 writes the model, history and metrics.
        log_dir: Where every rank writes its log, pid, error and weight-checksum files.
        checkpoint_dir: Local path or ``gs://`` URI of the per-epoch checkpoints.
        num_classes: Number of classes; labels are ``0..num_classes-1``.
        feature_names: Feature columns in model-input order (empty: all but ``label``).
        plateau_patience: Epochs without improvement before the LR is halved (0 = derived).
        plateau_factor: Factor the LR is multiplied by on a plateau.
        min_lr_ratio: Floor of the cosine decay, as a fraction of the peak rate.
        tracking_uri: MLflow tracking URI; empty disables MLflow.
        experiment_name: MLflow experiment.
        run_name: MLflow run name.
        intra_op_threads: TensorFlow intra-op threads per worker (0 = TensorFlow's choice).
        inter_op_threads: TensorFlow inter-op threads per worker (0 = TensorFlow's choice).
        export_saved_model: Also write a SavedModel (for TF Serving) next to ``model.h5``.
        probe_rows: Validation rows whose predictions rank 0 writes to ``probe_predictions.json``.
        model_fn: The model to build (:mod:`kfp_mlops.components.training.model_fn`).
        model_params: Extra keys for the user's ``build_model`` (beyond the hyper-parameters).
        task: The task spec as JSON (empty: classification with ``num_classes`` classes).
        robust_loss: Regression: Huber loss instead of mean squared error.
        class_weight: Loss weight by class code (``"0"``, ``"1"``, ...); empty: unweighted.
        streaming: Read the splits in batches per rank (:mod:`.worker_stream`) instead of
            whole into memory; the launcher sets it for shard directories and large files.
        train_rows: Rows of the training split, from its metadata (the step count's base).
        shuffle_buffer_rows: Streaming: rows of the shuffle buffer of each rank.
    """

    train_path: str
    validation_path: str
    output_dir: str
    log_dir: str
    checkpoint_dir: str
    num_classes: int
    feature_names: list[str] = field(default_factory=list)
    plateau_patience: int = 0
    plateau_factor: float = 0.5
    min_lr_ratio: float = 0.01
    tracking_uri: str = ""
    experiment_name: str = "kfp-mlops"
    run_name: str = ""
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    export_saved_model: bool = True
    probe_rows: int = 8
    model_fn: str = "builtin:mlp"
    model_params: dict[str, Any] = field(default_factory=dict)
    task: dict[str, Any] = field(default_factory=dict)
    robust_loss: bool = False
    class_weight: dict[str, float] = field(default_factory=dict)
    streaming: bool = False
    train_rows: int = 0
    shuffle_buffer_rows: int = 65536

    def task_spec(self) -> TaskSpec:
        """The task: as written by split_and_preprocess, else classes ``0..num_classes-1``."""
        if self.task:
            return TaskSpec.from_json(self.task)
        classes = [str(i) for i in range(self.num_classes)]
        return TaskSpec.for_classes("target", classes, self.feature_names)

    def build_params(self) -> dict[str, Any]:
        """What the model's ``build_model(task, params)`` receives."""
        return {**self.to_dict(), **self.model_params}

    def to_json(self) -> str:
        """JSON text of this config."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def write(self, path: str | Path) -> None:
        """Write this config as JSON to ``path``."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerConfig:
        """Build a config from a dict, rejecting unknown keys (a typo must not pass silently).

        Raises:
            ValueError: On an unknown or missing key.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown worker config keys {unknown}; known keys are {sorted(known)}"
            )
        return cls(**data)

    @classmethod
    def read(cls, path: str | Path) -> WorkerConfig:
        """Read a config written by :meth:`write`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def effective_plateau_patience(self) -> int:
        """Plateau patience: explicit, or half the early-stopping patience (at least 2)."""
        if self.plateau_patience > 0:
            return self.plateau_patience
        return max(2, self.early_stopping_patience // 2)


def resolve_precision(precision: str, gpu_visible: bool) -> str:
    """Map ``auto`` to ``mixed_float16`` on a GPU and ``float32`` on CPU.

    Raises:
        ValueError: On a value outside :data:`PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision '{precision}' is not one of {PRECISIONS}")
    if precision == "auto":
        return "mixed_float16" if gpu_visible else "float32"
    return precision


def scheduled_lr(
    epoch: int,
    base_lr: float,
    workers: int,
    warmup_epochs: int,
    epochs: int,
    min_lr_ratio: float = 0.01,
) -> float:
    """Learning rate of a 0-based ``epoch``: linear warm-up, then cosine decay.

    The peak rate is ``base_lr * workers`` (the linear scaling rule for a global batch that
    grows with the workers). Warm-up starts from the single-worker rate ``base_lr``, as
    Horovod's ``LearningRateWarmupCallback`` does, and reaches the peak at ``warmup_epochs``;
    the cosine then decays to ``min_lr_ratio * peak`` at the last epoch.
    """
    peak = base_lr * workers
    if warmup_epochs > 0 and epoch < warmup_epochs:
        return base_lr + (peak - base_lr) * epoch / warmup_epochs
    span = max(1, epochs - 1 - warmup_epochs)
    progress = min(1.0, max(0.0, (epoch - warmup_epochs) / span))
    return peak * (min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def default_threads(cpu_count: int, workers: int) -> int:
    """CPU threads per worker, so that N workers on N cores do not oversubscribe them."""
    return max(1, cpu_count // max(1, workers))
