"""Stratified train/validation/test split and a preprocessor fit on the training split only.

The fitted preprocessor is stored as JSON (means, scales, categories, class names), not a
pickle: the trainer env has no scikit-learn, the model server must not unpickle artefacts
from a pipeline, and JSON survives library upgrades. :class:`Preprocessor` applies it with
pandas and numpy alone.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common.errors import DataValidationError, ParameterError

log = logging.getLogger(__name__)

LABEL = "label"
#: Categorical columns with more distinct values than this are rejected: one-hot would explode.
MAX_CATEGORIES = 100


@dataclass
class Preprocessor:
    """Standard scaling of numeric columns, one-hot of categorical ones, label encoding.

    Attributes:
        target_column: Name of the label column in raw data.
        classes: Original class values as strings; index = encoded label.
        numeric_columns: Numeric feature columns, in order.
        mean: Training mean of each numeric column.
        scale: Training standard deviation of each numeric column (1.0 where it is 0).
        categorical_columns: Categorical feature columns, in order.
        categories: Known categories of each categorical column (unknown -> all zeros).
        feature_names: Names of the output feature vector's columns.
    """

    target_column: str
    classes: list[str]
    numeric_columns: list[str] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    categorical_columns: list[str] = field(default_factory=list)
    categories: list[list[str]] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)

    @property
    def num_features(self) -> int:
        """Width of the transformed feature vector."""
        return len(self.feature_names)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @classmethod
    def fit(cls, frame: pd.DataFrame, target_column: str) -> Preprocessor:
        """Fit on the training split (never on validation or test data)."""
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        features = frame.drop(columns=[target_column])
        numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
        categorical = [c for c in features.columns if c not in numeric]
        for col in categorical:
            n = features[col].nunique()
            if n > MAX_CATEGORIES:
                raise DataValidationError(
                    f"column '{col}' is not numeric and has {n} distinct values",
                    "convert it to numbers, drop it, or bucket it into fewer categories",
                )
        proc = cls(
            target_column=target_column,
            classes=sorted(frame[target_column].astype(str).unique().tolist(), key=_natural_key),
            numeric_columns=numeric,
            categorical_columns=categorical,
        )
        if numeric:
            scaler = StandardScaler().fit(features[numeric].to_numpy(dtype="float64"))
            proc.mean = scaler.mean_.tolist()
            proc.scale = [float(s) if s > 0 else 1.0 for s in scaler.scale_]
        if categorical:
            enc = OneHotEncoder(handle_unknown="ignore").fit(features[categorical].astype(str))
            proc.categories = [[str(v) for v in cats] for cats in enc.categories_]
        proc.feature_names = numeric + [
            f"{col}={value}"
            for col, cats in zip(categorical, proc.categories, strict=True)
            for value in cats
        ]
        return proc

    def transform_features(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw feature columns -> float32 matrix of shape (rows, num_features)."""
        missing = [
            c for c in self.numeric_columns + self.categorical_columns if c not in frame.columns
        ]
        if missing:
            raise DataValidationError(
                f"columns {missing} expected by the preprocessor are missing",
                "send every feature column the model was trained on",
            )
        parts = []
        if self.numeric_columns:
            values = frame[self.numeric_columns].to_numpy(dtype="float64")
            parts.append((values - np.asarray(self.mean)) / np.asarray(self.scale))
        for col, cats in zip(self.categorical_columns, self.categories, strict=True):
            index = {v: i for i, v in enumerate(cats)}
            codes = frame[col].astype(str).map(index).fillna(-1).to_numpy(dtype="int64")
            onehot = np.zeros((len(frame), len(cats)))
            known = codes >= 0
            onehot[np.nonzero(known)[0], codes[known]] = 1.0
            parts.append(onehot)
        return np.hstack(parts).astype("float32") if parts else np.zeros((len(frame), 0), "float32")

    def encode_labels(self, labels: pd.Series) -> np.ndarray:
        """Original class values -> int64 codes 0..num_classes-1."""
        index = {c: i for i, c in enumerate(self.classes)}
        codes = labels.astype(str).map(index)
        if codes.isna().any():
            unknown = sorted(labels[codes.isna()].astype(str).unique().tolist())[:5]
            raise DataValidationError(
                f"labels {unknown} were not seen in the training split",
                "check the labels, or retrain with data that contains these classes",
            )
        return codes.to_numpy(dtype="int64")

    def decode_labels(self, codes: Any) -> list[str]:
        """Int codes -> original class values."""
        return [self.classes[int(c)] for c in np.asarray(codes).reshape(-1)]

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Raw rows (with the target column) -> float32 features plus an int64 ``label`` column."""
        out = pd.DataFrame(
            self.transform_features(frame), columns=self.feature_names, index=frame.index
        )
        out[LABEL] = self.encode_labels(frame[self.target_column])
        return out.reset_index(drop=True)

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)

    def save(self, path: str) -> None:
        """Write the JSON file (the ``preprocessor`` artifact)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str) -> Preprocessor:
        """Read a file written by :meth:`save`."""
        try:
            return cls(**json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise ParameterError(
                f"'{path}' is not a preprocessor written by split_and_preprocess: {exc}",
                "pass the preprocessor artifact of the same pipeline run",
            ) from exc


def _natural_key(value: str) -> tuple[int, float | str]:
    """Sort numeric class names numerically ('2' < '10'), others alphabetically."""
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


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
