"""Class weights for imbalanced classification: parsed and checked before any worker starts.

``class_weight`` is ``""`` (every row counts the same), ``"balanced"`` (scikit-learn's rule,
``n_rows / (n_classes * rows_of_class)``, counted from the training split's label column
in batches, so a sharded split is never loaded) or a JSON object of class -> weight, the
classes named as in the data (``{"malignant": 3}``) or by code (``{"1": 3}``); classes it
does not name weigh 1. Keras applies the weights as per-row loss weights
(``model.fit(class_weight=...)``), which wants every class ``0..k-1`` present as a key.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.task import LABEL, TaskSpec
from kfp_mlops.components.training.train_model import split_stream

BALANCED = "balanced"
_EXAMPLE = 'use "", "balanced" or a JSON object such as {"malignant": 3.0}'


def resolve(spec: str, task: TaskSpec, train: str | np.ndarray) -> dict[str, float]:
    """Weights by class code (as strings, for the JSON worker config); empty: unweighted.

    ``train`` is the training split's path, or its label codes already in memory (tuning).

    Raises:
        ParameterError: On a regression task, malformed JSON, an unknown class or a weight
            that is not a positive number.
    """
    spec = (spec or "").strip()
    if not spec:
        return {}
    if not task.is_classification:
        raise ParameterError(
            f"class_weight='{spec}' was given for a regression task, which has no classes",
            "leave class_weight empty for regression (robust_loss handles outliers)",
        )
    k = task.num_classes
    if spec == BALANCED:
        if isinstance(train, np.ndarray):
            counts = np.bincount(train.reshape(-1).astype("int64"), minlength=k)[:k]
        else:
            counts = label_counts(train, k)
        n = int(counts.sum())
        return {str(c): (n / (k * int(counts[c])) if counts[c] else 1.0) for c in range(k)}
    try:
        given = json.loads(spec)
    except json.JSONDecodeError as exc:
        raise ParameterError(
            f"class_weight is not valid JSON: {exc.msg}: {spec}", _EXAMPLE
        ) from exc
    if not isinstance(given, dict):
        raise ParameterError(f"class_weight must be a JSON object, got {spec}", _EXAMPLE)
    weights = {str(c): 1.0 for c in range(k)}
    names = {str(name): str(code) for code, name in enumerate(task.classes)}
    for key, value in given.items():
        code = names.get(str(key), str(key) if str(key) in weights else None)
        if code is None:
            raise ParameterError(
                f"class_weight names class '{key}', which is not one of {list(task.classes)}",
                "name the classes as in the data (or by their codes 0..k-1)",
            )
        if not _positive(value):
            raise ParameterError(
                f"class_weight of '{key}' is {value!r}, not a positive number", _EXAMPLE
            )
        weights[code] = float(value)
    return weights


def label_counts(train_path: str, num_classes: int) -> np.ndarray:
    """Rows per class code in the training split, reading only its label column in batches."""
    counts = np.zeros(num_classes, dtype="int64")
    for file in split_stream.describe(train_path, "training").files:
        for batch in pq.ParquetFile(file).iter_batches(columns=[LABEL], batch_size=1 << 20):
            codes = batch.column(0).to_numpy(zero_copy_only=False).astype("int64")
            counts += np.bincount(codes, minlength=num_classes)[:num_classes]
    return counts


def _positive(value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and value > 0
