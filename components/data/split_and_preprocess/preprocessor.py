"""The preprocessor: one class that fits, transforms and inverts, used by every step.

Split fits it on the training split only; training data, evaluation (including re-encoding
the champion's features), the model server and monitoring all call this class, never a copy.
It is stored as JSON (means, scales, categories, fill values, class names and the task
spec), not a pickle: the trainer env has no scikit-learn, the model server must not unpickle
artefacts from a pipeline, and JSON survives library upgrades. It applies with pandas and
numpy alone.

Missing values: with ``impute`` on, numeric gaps take the training median and categorical
gaps the most frequent training category, the same way at training, serving and monitoring;
``indicator_columns`` add a ``<column>__missing`` feature that is 1 where a value was filled.
A category never seen in training encodes as all zeros (the implicit "unknown" slot).

Images: a preprocessor fit on a raw image Dataset (:mod:`~kfp_mlops.components.common.images`)
has an ``image_column``; it decodes that column into the flat pixel vector scaled to [0, 1]
and its task spec holds ``image_shape``.
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
from kfp_mlops.components.data.split_and_preprocess.fitting import (  # noqa: F401 - re-exported
    INDICATOR_SUFFIX,
    MAX_CATEGORIES,
)


@dataclass
class Preprocessor:
    """Imputation, standard scaling, one-hot encoding, label (or target) encoding.

    Attributes:
        target_column: Name of the label column in raw data.
        classes: Original class values as strings; index = encoded label (empty: regression).
        numeric_columns: Numeric feature columns, in order.
        mean: Training mean of each numeric column (after imputation).
        scale: Training standard deviation of each numeric column (1.0 where it is 0).
        categorical_columns: Categorical feature columns, in order.
        categories: Known categories of each categorical column (unknown -> all zeros).
        feature_names: Names of the output feature vector's columns.
        task: The task spec (:class:`~kfp_mlops.components.common.task.TaskSpec` as JSON).
        impute: Fill missing values (else a missing value is an error).
        fill_numeric: Training median of each numeric column.
        fill_categorical: Most frequent training category of each categorical column.
        indicator_columns: Raw columns that get a ``<column>__missing`` feature.
        image_column: Images: the column of encoded image bytes (empty for tables).
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
    impute: bool = False
    fill_numeric: list[float] = field(default_factory=list)
    fill_categorical: list[str] = field(default_factory=list)
    indicator_columns: list[str] = field(default_factory=list)
    image_column: str = ""

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
        """Raw feature columns the preprocessor reads, numeric first (images: the bytes)."""
        if self.image_column:
            return [self.image_column]
        return self.numeric_columns + self.categorical_columns

    @property
    def num_features(self) -> int:
        """Width of the transformed feature vector."""
        return len(self.feature_names)

    @property
    def num_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return self._spec.num_classes

    # ----------------------------------------------------------------------------- fit

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        target_column: str,
        *,
        task_type: str = "auto",
        impute: bool = False,
        missing_indicator: bool = False,
        standardize_target: bool = False,
    ) -> Preprocessor:
        """Fit on the training split (never on validation or test data).

        Args:
            frame: Training rows with the target column.
            target_column: The target column.
            task_type: ``auto`` (see :func:`infer_task_type`), ``binary``, ``multiclass``
                or ``regression``.
            impute: Learn fill values (median, most frequent) for missing feature values.
            missing_indicator: Add a ``<column>__missing`` feature for every column with a
                gap in the training split (needs ``impute``).
            standardize_target: Regression only: train on the standardised target; the mean
                and scale go into the task spec and serving undoes them.

        Raises:
            DataValidationError: On a categorical column with too many categories.
        """
        from kfp_mlops.components.data.split_and_preprocess.fitting import fit_frame

        return fit_frame(
            cls,
            frame,
            target_column,
            task_type=task_type,
            impute=impute,
            missing_indicator=missing_indicator,
            standardize_target=standardize_target,
        )

    # ----------------------------------------------------------------------------- features

    def _filled(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The raw columns with gaps filled (a copy), when imputation is on."""
        if not self.impute:
            return frame
        fills = dict(zip(self.numeric_columns, self.fill_numeric, strict=True))
        fills.update(zip(self.categorical_columns, self.fill_categorical, strict=True))
        return frame.fillna({c: v for c, v in fills.items() if c in frame.columns})

    def transform_features(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw feature columns -> float32 matrix of shape (rows, num_features)."""
        missing = [c for c in self.raw_columns if c not in frame.columns]
        if missing:
            raise DataValidationError(
                f"columns {missing} expected by the preprocessor are missing",
                "send every feature column the model was trained on",
            )
        if self.image_column:
            return self._image_features(frame)
        filled = self._filled(frame)
        parts = []
        if self.numeric_columns:
            values = filled[self.numeric_columns].to_numpy(dtype="float64")
            parts.append((values - np.asarray(self.mean)) / np.asarray(self.scale))
        for col, cats in zip(self.categorical_columns, self.categories, strict=True):
            index = {v: i for i, v in enumerate(cats)}
            codes = filled[col].astype(str).map(index).fillna(-1).to_numpy(dtype="int64")
            onehot = np.zeros((len(frame), len(cats)))
            known = codes >= 0
            onehot[np.nonzero(known)[0], codes[known]] = 1.0
            parts.append(onehot)
        if self.indicator_columns:
            parts.append(frame[self.indicator_columns].isna().to_numpy(dtype="float64"))
        return np.hstack(parts).astype("float32") if parts else np.zeros((len(frame), 0), "float32")

    def _image_features(self, frame: pd.DataFrame) -> np.ndarray:
        from kfp_mlops.components.common import images

        names = frame[images.FILE_COLUMN] if images.FILE_COLUMN in frame.columns else None
        return images.pixels(frame[self.image_column], self._spec.image_shape, names)

    def encode(self, numeric: Any, categorical: Any) -> np.ndarray:
        """Raw values as plain arrays -> features, without pandas (the model server's path).

        Same arithmetic as :meth:`transform_features` (a test checks they agree), at a small
        fraction of its cost for one-row requests.

        Args:
            numeric: ``(rows, len(numeric_columns))`` numbers (``None`` is a gap).
            categorical: ``(rows, len(categorical_columns))`` values of any type (compared as
                strings; an unknown category encodes as all zeros; ``None`` is a gap).

        Raises:
            DataValidationError: Naming the column and row of a non-numeric or infinite
                value, or of a gap when imputation is off.
        """
        n = len(categorical) if len(categorical) else len(numeric)
        width = len(self.numeric_columns)
        try:
            values = np.asarray(numeric, dtype=np.float64).reshape(n, width)
        except (ValueError, TypeError):
            values = None
        gaps = np.isnan(values) if values is not None else None
        if values is not None and self.impute:
            values = np.where(gaps, np.asarray(self.fill_numeric), values)
        if values is None or not np.isfinite(values).all():
            raise DataValidationError(
                self._bad_value(numeric), "send a finite number for every numeric feature"
            )
        parts = [(values - np.asarray(self.mean)) / np.asarray(self.scale)] if width else []
        cat_gaps = np.zeros((n, len(self.categorical_columns)), dtype=bool)
        for j, index in enumerate(self._category_index()):
            onehot = np.zeros((n, len(index)))
            for i, row in enumerate(categorical):
                value = row[j]
                if _is_gap(value):
                    cat_gaps[i, j] = True
                    value = self.fill_categorical[j] if self.impute else value
                code = index.get(str(value), -1)
                if code >= 0:
                    onehot[i, code] = 1.0
            parts.append(onehot)
        if self.indicator_columns:
            all_gaps = np.hstack([gaps, cat_gaps])
            cols = [self.raw_columns.index(c) for c in self.indicator_columns]
            parts.append(all_gaps[:, cols].astype(np.float64))
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
                if value is None and not self.impute:
                    return f"feature '{name}' of row {i} is missing (this model does not impute)"
                try:
                    ok = value is None or bool(np.isfinite(float(value)))
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

        Numeric columns are unscaled (``NaN`` where an indicator says the value was filled);
        a one-hot group becomes its category, or ``None`` where it is all zeros (unknown).

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
        if self.image_column:
            from kfp_mlops.components.common.images import features_to_png

            encoded = features_to_png(features, self._spec.image_shape)
            return pd.DataFrame({self.image_column: encoded})
        width = len(self.numeric_columns)
        raw = features[:, :width] * np.asarray(self.scale) + np.asarray(self.mean)
        out = pd.DataFrame(raw, columns=self.numeric_columns)
        start = width
        for col, cats in zip(self.categorical_columns, self.categories, strict=True):
            block = features[:, start : start + len(cats)]
            start += len(cats)
            picked = np.asarray(cats, dtype=object)[block.argmax(axis=1)] if cats else None
            out[col] = np.where(block.max(axis=1) > 0.5, picked, None) if cats else None
        for j, col in enumerate(self.indicator_columns):
            was_gap = features[:, start + j] > 0.5
            out[col] = out[col].astype(object).where(~was_gap, None)
            if col in self.numeric_columns:
                out[col] = out[col].astype("float64")
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
        if source.to_json() == self.to_json() or (
            self.image_column
            and source.image_column
            and source.task_spec.image_shape == self.task_spec.image_shape
        ):  # images: the same shape is the same encoding (pixels / 255)
            return np.asarray(features, dtype=np.float32)
        missing = [c for c in self.raw_columns if c not in source.raw_columns]
        if missing:
            kind = "numeric" if missing[0] in self.numeric_columns else "categorical"
            raise ParameterError(
                f"the champion needs {kind} column '{missing[0]}', absent from the test split",
                "the models are not comparable: register under a new registered_model_name",
            )
        return self.transform_features(source.inverse_features(features))

    # ----------------------------------------------------------------------------- labels

    def encode_labels(self, labels: pd.Series) -> np.ndarray:
        """Class values -> int64 codes 0..num_classes-1 (regression: float32 targets).

        Raises:
            DataValidationError: On a class unseen in training or a non-numeric target.
        """
        if not self._spec.is_classification:
            try:
                values = labels.to_numpy(dtype="float64")
            except (TypeError, ValueError) as exc:
                raise DataValidationError(
                    f"the regression target '{self.target_column}' is not numeric: {exc}",
                    "clean the target column",
                ) from exc
            return self._spec.encode_target(values).astype("float32")
        index = {c: i for i, c in enumerate(self.classes)}
        codes = labels.astype(str).map(index)
        if codes.isna().any():
            unknown = sorted(labels[codes.isna()].astype(str).unique().tolist())[:5]
            raise DataValidationError(
                f"labels {unknown} were not seen in the training split",
                "check the labels, or retrain with data that contains these classes",
            )
        return codes.to_numpy(dtype="int64")

    def decode_labels(self, codes: Any) -> list[Any]:
        """Int codes -> original class values (regression: model outputs -> target units)."""
        flat = np.asarray(codes).reshape(-1)
        if not self._spec.is_classification:
            return self._spec.decode_target(flat).tolist()
        return [self.classes[int(c)] for c in flat]

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Raw rows (with the target column) -> float32 features plus the ``label`` column."""
        out = pd.DataFrame(
            self.transform_features(frame), columns=self.feature_names, index=frame.index
        )
        out[LABEL] = self.encode_labels(frame[self.target_column])
        return out.reset_index(drop=True)

    # ----------------------------------------------------------------------------- storage

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


def _is_gap(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
