"""The inputs of a study: the processed train and validation splits as arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kfp_mlops.components.common.errors import DataValidationError

LABEL = "label"


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

    Raises:
        DataValidationError: On empty frames, a missing or non-integer ``label`` column, fewer
            than two classes, mismatched or non-numeric feature columns, or missing values.
    """
    for name, frame in (("train", train), ("validation", validation)):
        if frame is None or len(frame) == 0:
            raise DataValidationError(
                f"the {name} dataset has no rows", "check the upstream split_and_preprocess task"
            )
        if LABEL not in frame.columns:
            raise DataValidationError(
                f"the {name} dataset has no '{LABEL}' column (columns: {list(frame.columns)[:8]})",
                "feed the output of split_and_preprocess, which adds an int 'label' 0..n-1",
            )
        if frame[LABEL].isna().any() or not pd.api.types.is_integer_dtype(frame[LABEL]):
            raise DataValidationError(
                f"the {name} '{LABEL}' column ({frame[LABEL].dtype}) has missing or non-int values",
                "encode the classes as integers 0..n-1 (split_and_preprocess does)",
            )
    features = [c for c in train.columns if c != LABEL]
    if not features:
        raise DataValidationError("the train dataset has no feature columns", "keep the features")
    missing = [c for c in features if c not in validation.columns]
    if missing:
        raise DataValidationError(
            f"the validation dataset lacks feature columns {missing[:8]}",
            "split train and validation with the same preprocessor",
        )
    non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(train[c])]
    if non_numeric:
        raise DataValidationError(
            f"feature columns {non_numeric[:8]} are not numeric",
            "one-hot encode and scale them first (split_and_preprocess)",
        )
    x_train = train[features].to_numpy(dtype="float32")
    x_val = validation[features].to_numpy(dtype="float32")
    for name, x in (("train", x_train), ("validation", x_val)):
        if not np.isfinite(x).all():
            raise DataValidationError(
                f"the {name} features have {int((~np.isfinite(x)).sum())} missing/infinite values",
                "impute them before tuning (split_and_preprocess)",
            )
    y_train = train[LABEL].to_numpy(dtype="int64")
    y_val = validation[LABEL].to_numpy(dtype="int64")
    classes = np.unique(y_train)
    if len(classes) < 2:
        raise DataValidationError(
            f"the train labels have {len(classes)} class ({classes.tolist()})",
            "a classifier needs at least two classes; check the split and the source data",
        )
    if min(y_train.min(), y_val.min()) < 0:
        raise DataValidationError("labels are negative", "encode the classes as integers 0..n-1")
    num_classes = int(max(y_train.max(), y_val.max())) + 1
    return TrainingData(x_train, y_train, x_val, y_val, num_classes, features)
