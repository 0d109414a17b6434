"""The preprocessor: one class that fits, transforms and inverts, used by every step.

Split fits it on the training split only; training data, evaluation (including re-encoding
the champion's features), the model server and monitoring all call this class, never a copy.
It is stored as JSON (means, scales, categories, class names and the task spec), not a
pickle: the trainer env has no scikit-learn, the model server must not unpickle artefacts
from a pipeline, and JSON survives library upgrades. It applies with pandas and numpy alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.common.task import LABEL, TaskSpec, task_of

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
        task: The task spec (:class:`~kfp_mlops.components.common.task.TaskSpec` as JSON).
    """

    target_column: str
    classes: list[str]
    numeric_columns: list[str] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    categorical_columns: list[str] = field(default_factory=list)
    categories: list[list[str]] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    task: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Files written before the task spec existed were classification: derive it.
        if not self.task:
            self.task = TaskSpec.for_classes(
                self.target_column, self.classes, self.feature_names
            ).to_json()
        self._spec = task_of({"task": self.task})

    @property
    def task_spec(self) -> TaskSpec:
        """The task this preprocessor was fit for."""
        return self._spec

    @property
    def raw_columns(self) -> list[str]:
        """Raw feature columns the preprocessor reads, numeric first."""
        return self.numeric_columns + self.categorical_columns

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
        proc.task = TaskSpec.for_classes(target_column, proc.classes, proc.feature_names).to_json()
        proc._spec = task_of({"task": proc.task})
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

    def encode(self, numeric: Any, categorical: Any) -> np.ndarray:
        """Raw values as plain arrays -> features, without pandas (the model server's path).

        Same arithmetic as :meth:`transform_features` (a test checks they agree), at a small
        fraction of its cost for one-row requests.

        Args:
            numeric: ``(rows, len(numeric_columns))`` numbers.
            categorical: ``(rows, len(categorical_columns))`` values of any type (compared as
                strings; an unknown category encodes as all zeros).

        Raises:
            DataValidationError: Naming the column and row of a non-numeric, null or
                infinite value.
        """
        n = len(categorical) if len(categorical) else len(numeric)
        width = len(self.numeric_columns)
        try:
            values = np.asarray(numeric, dtype=np.float64).reshape(n, width)
        except (ValueError, TypeError):
            values = None
        if values is None or not np.isfinite(values).all():
            raise DataValidationError(
                self._bad_value(numeric), "send a finite number for every numeric feature"
            )
        parts = [(values - np.asarray(self.mean)) / np.asarray(self.scale)] if width else []
        for j, index in enumerate(self._category_index()):
            onehot = np.zeros((n, len(index)))
            for i, row in enumerate(categorical):
                code = index.get(str(row[j]), -1)
                if code >= 0:
                    onehot[i, code] = 1.0
            parts.append(onehot)
        return np.hstack(parts).astype(np.float32) if parts else np.zeros((n, 0), np.float32)

    def _category_index(self) -> list[dict[str, int]]:
        cached = getattr(self, "_index", None)
        if cached is None:
            cached = [{str(v): i for i, v in enumerate(c)} for c in self.categories]
            self._index = cached
        return cached

    def _bad_value(self, numeric: Any) -> str:
        for i, row in enumerate(numeric):
            for name, value in zip(self.numeric_columns, row, strict=False):
                try:
                    ok = value is not None and bool(np.isfinite(float(value)))
                except (ValueError, TypeError):
                    ok = False
                if not ok:
                    return f"feature '{name}' of row {i} must be a finite number, got {value!r}"
        return (
            f"the numeric features must be {len(self.numeric_columns)} numbers per row "
            f"({', '.join(self.numeric_columns[:5])}...)"
        )

    def inverse_features(self, features: np.ndarray) -> pd.DataFrame:
        """Transformed features -> raw feature columns (the inverse of the transform).

        Numeric columns are unscaled; a one-hot group becomes its category, or ``None``
        where it is all zeros (a category unknown at fit time).

        Raises:
            ParameterError: If the matrix does not have :attr:`num_features` columns.
        """
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.num_features:
            raise ParameterError(
                f"features of shape {features.shape} do not fit this preprocessor's "
                f"{self.num_features} columns",
                "pass features transformed by the same preprocessor",
            )
        width = len(self.numeric_columns)
        raw = features[:, :width] * np.asarray(self.scale) + np.asarray(self.mean)
        out = pd.DataFrame(raw, columns=self.numeric_columns)
        start = width
        for col, cats in zip(self.categorical_columns, self.categories, strict=True):
            block = features[:, start : start + len(cats)]
            start += len(cats)
            picked = np.asarray(cats, dtype=object)[block.argmax(axis=1)] if cats else None
            out[col] = np.where(block.max(axis=1) > 0.5, picked, None) if cats else None
        return out

    def reencode(self, features: np.ndarray, source: Preprocessor) -> np.ndarray:
        """Features encoded by ``source`` -> as this preprocessor would encode the same rows.

        Evaluation uses it to feed the champion (trained with its own preprocessor) the test
        split the challenger's preprocessor encoded.

        Raises:
            ParameterError: If the tasks are not comparable or a column this one needs is
                absent from ``source``.
        """
        if list(source.classes) != list(self.classes):
            raise ParameterError(
                f"the champion predicts classes {self.classes} but the test split has "
                f"{source.classes}",
                "the models are not comparable: register under a new registered_model_name",
            )
        if (
            source.feature_names == self.feature_names
            and np.allclose(source.mean, self.mean)
            and np.allclose(source.scale, self.scale)
        ):
            return np.asarray(features, dtype=np.float32)
        missing = [c for c in self.raw_columns if c not in source.raw_columns]
        if missing:
            kind = "numeric" if missing[0] in self.numeric_columns else "categorical"
            raise ParameterError(
                f"the champion needs {kind} column '{missing[0]}', absent from the test split",
                "the models are not comparable: register under a new registered_model_name",
            )
        return self.transform_features(source.inverse_features(features))

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
        return asdict(self)  # dataclass fields only: caches are not saved

    def save(self, path: str) -> None:
        """Write the JSON file (the ``preprocessor`` artifact)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str) -> Preprocessor:
        """Read a file written by :meth:`save`."""
        try:
            return cls(**json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError, TypeError, ParameterError) as exc:
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
