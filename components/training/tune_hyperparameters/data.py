"""The inputs of a study: the processed splits and the task, checked, as arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kfp_mlops.components.common.artifacts import LABEL, SplitError, check_split, class_count
from kfp_mlops.components.common.task import TaskSpec


@dataclass
class TrainingData:
    """Float32 features and labels of both splits, shaped as every trial fits them.

    Labels are int class codes for a softmax head, float32 ``(n, 1)`` for one sigmoid or
    linear unit (binary, regression), as the trainer feeds them.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    task: TaskSpec
    feature_names: list[str]

    @property
    def num_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return self.task.num_classes


def _features(frame: pd.DataFrame, names: list[str], task: TaskSpec) -> np.ndarray:
    # Images too stay flat: the models take the pixel vector (components.common.images).
    return frame[names].to_numpy(dtype="float32")


def prepare_data(
    train: pd.DataFrame, validation: pd.DataFrame, task: TaskSpec | None = None
) -> TrainingData:
    """Check the split datasets against the task and turn them into arrays.

    The split contract (rows, label, features, class count) is
    :mod:`kfp_mlops.components.common.artifacts`'; tuning adds that features are finite.

    Args:
        train: The training split.
        validation: The validation split.
        task: The task spec of split_and_preprocess; None: classification, the classes
            ``0..max(label)`` read from the labels.

    Raises:
        SplitError: On empty frames, a missing or wrongly typed ``label`` column, fewer than
            two classes, mismatched or non-numeric feature columns, or missing values.
    """
    regression = task is not None and task.task_type == "regression"
    wanted = task.feature_names if task is not None and task.feature_kind == "tabular" else []
    features = check_split(train, "train", wanted, regression=regression)
    check_split(validation, "validation", features, regression=regression)
    if task is None:
        labels = {"train": train[LABEL].to_numpy(), "validation": validation[LABEL].to_numpy()}
        classes = [str(i) for i in range(class_count(labels))]
        task = TaskSpec.for_classes("target", classes, features)
    arrays = {}
    for name, frame in (("train", train), ("validation", validation)):
        x = _features(frame, features, task)
        if not np.isfinite(x).all():
            raise SplitError(
                f"the {name} features have {int((~np.isfinite(x)).sum())} missing/infinite values",
                "impute them before tuning (split_and_preprocess)",
            )
        y = frame[LABEL].to_numpy(dtype="float32" if regression else "int64")
        arrays[name] = (x, y)
    if task.is_classification:
        class_count({k: y for k, (_, y) in arrays.items()}, task.num_classes)
    if task.output_width == 1:  # one sigmoid or linear unit: float targets of shape (n, 1)
        arrays = {k: (x, y.astype("float32")[:, None]) for k, (x, y) in arrays.items()}
    (x_train, y_train), (x_val, y_val) = arrays["train"], arrays["validation"]
    return TrainingData(x_train, y_train, x_val, y_val, task, features)
