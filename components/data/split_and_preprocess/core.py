"""Stratified train/validation/test split and a preprocessor fit on the training split only.

The preprocessor (and the task spec inside it) is :mod:`.preprocessor`'s; this module splits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.common.task import LABEL
from kfp_mlops.components.data.split_and_preprocess.preprocessor import (
    MAX_CATEGORIES,
    Preprocessor,
)

__all__ = ["LABEL", "MAX_CATEGORIES", "Preprocessor", "SplitResult", "split_and_preprocess"]

log = logging.getLogger(__name__)


@dataclass
class SplitResult:
    """Processed splits and the fitted preprocessor."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    preprocessor: Preprocessor

    def summary(self) -> dict[str, int]:
        """Row counts and shape, for metrics and artifact metadata."""
        return {
            "train_rows": len(self.train),
            "validation_rows": len(self.validation),
            "test_rows": len(self.test),
            "num_features": self.preprocessor.num_features,
            "num_classes": self.preprocessor.num_classes,
        }


def split_and_preprocess(
    frame: pd.DataFrame,
    target_column: str = "target",
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 42,
) -> SplitResult:
    """Stratified split, then fit the preprocessor on train and apply it to all three splits.

    Raises:
        ParameterError: On fractions outside (0, 1) or summing to 1 or more.
        DataValidationError: On a missing target, missing values in features, a class too
            small to stratify, or a single class.
    """
    from sklearn.model_selection import train_test_split

    for name, value in (
        ("validation_fraction", validation_fraction),
        ("test_fraction", test_fraction),
    ):
        if not 0.0 < value < 1.0:
            raise ParameterError(f"{name}={value} is outside (0, 1)", "use for example 0.15")
    if validation_fraction + test_fraction >= 0.9:
        raise ParameterError(
            f"validation_fraction + test_fraction = {validation_fraction + test_fraction:.2f} "
            "leaves "
            "too little for training",
            "keep their sum below 0.9 (0.15 + 0.15 is usual)",
        )
    if target_column not in frame.columns:
        raise DataValidationError(
            f"target column '{target_column}' is missing", "set target_column"
        )
    nulls = frame.drop(columns=[target_column]).isna().sum()
    nulls = nulls[nulls > 0]
    if len(nulls):
        raise DataValidationError(
            "missing values in " + ", ".join(f"'{c}' ({n} rows)" for c, n in nulls.items()),
            "impute or drop them upstream; validate_data's suite catches this before the split",
        )
    counts = frame[target_column].astype(str).value_counts()
    if len(counts) < 2:
        raise DataValidationError(
            f"target column '{target_column}' has a single class '{counts.index[0]}'",
            "a classifier needs at least two classes",
        )
    smallest = int(counts.min())
    if smallest < 3:
        raise DataValidationError(
            f"class '{counts.idxmin()}' has only {smallest} rows: "
            "too few to stratify into 3 splits",
            "collect more rows of that class or drop it",
        )
    labels = frame[target_column].astype(str)
    rest, test = train_test_split(
        frame, test_size=test_fraction, stratify=labels, random_state=seed
    )
    rel_val = validation_fraction / (1.0 - test_fraction)
    train, validation = train_test_split(
        rest, test_size=rel_val, stratify=rest[target_column].astype(str), random_state=seed
    )
    proc = Preprocessor.fit(train, target_column)
    result = SplitResult(
        proc.transform(train), proc.transform(validation), proc.transform(test), proc
    )
    log.info("split %s", result.summary())
    return result
