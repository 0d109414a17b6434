"""The inputs of a study: the processed train and validation splits, checked, as arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kfp_mlops.components.common.artifacts import LABEL, SplitError, check_split, class_count


@dataclass
class TrainingData:
    """Float32 features and int labels of both splits, as every trial fits them."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int
    feature_names: list[str]


def prepare_data(train: pd.DataFrame, validation: pd.DataFrame) -> TrainingData:
    """Check the split datasets and turn them into float32 features and int labels.

    The split contract (rows, label, features, class count) is
    :mod:`kfp_mlops.components.common.artifacts`'; tuning adds that features are finite.

    Raises:
        SplitError: On empty frames, a missing or non-integer ``label`` column, fewer than two
            classes, mismatched or non-numeric feature columns, or missing values.
    """
    features = check_split(train, "train")
    check_split(validation, "validation", features)
    x_train = train[features].to_numpy(dtype="float32")
    x_val = validation[features].to_numpy(dtype="float32")
    for name, x in (("train", x_train), ("validation", x_val)):
        if not np.isfinite(x).all():
            raise SplitError(
                f"the {name} features have {int((~np.isfinite(x)).sum())} missing/infinite values",
                "impute them before tuning (split_and_preprocess)",
            )
    y_train = train[LABEL].to_numpy(dtype="int64")
    y_val = validation[LABEL].to_numpy(dtype="int64")
    num_classes = class_count({"train": y_train, "validation": y_val})
    return TrainingData(x_train, y_train, x_val, y_val, num_classes, features)
