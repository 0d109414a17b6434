"""The preprocessor's transform on plain lists and arrays, as the server applies it.

Kept apart so that it can be swapped for the shared preprocessor's array path
(``split_and_preprocess``'s ``Preprocessor.encode``) without touching the server.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from kserve.errors import InvalidInput


class FeatureEncoder:
    """The preprocessor's transform on plain lists and arrays, without pandas.

    :meth:`Preprocessor.transform_features` builds DataFrames, which cost tens of ms per request
    column-wise; this does the same arithmetic with numpy (a test checks they agree).
    """

    def __init__(self, preprocessor: Any) -> None:
        self.numeric = list(preprocessor.numeric_columns)
        self.categorical = list(preprocessor.categorical_columns)
        self.columns = self.numeric + self.categorical
        self.n_numeric = len(self.numeric)
        self.mean = np.asarray(preprocessor.mean, dtype=np.float64)
        self.scale = np.asarray(preprocessor.scale, dtype=np.float64)
        self.index = [{str(v): i for i, v in enumerate(c)} for c in preprocessor.categories]
        self.width = preprocessor.num_features

    def encode(self, numeric: Any, categorical: list[list[Any]]) -> np.ndarray:
        """Raw numeric values (n, numeric) and categorical values (n, categorical) -> features.

        Raises:
            InvalidInput: Naming the column of a non-numeric, null or infinite value.
        """
        n = len(categorical) if len(categorical) else len(numeric)
        try:
            values = np.asarray(numeric, dtype=np.float64).reshape(n, self.n_numeric)
        except (ValueError, TypeError):
            values = None
        if values is None or not np.isfinite(values).all():
            raise InvalidInput(self._bad_value(numeric))
        parts = [(values - self.mean) / self.scale]
        for j, index in enumerate(self.index):
            onehot = np.zeros((n, len(index)))
            for i, row in enumerate(categorical):
                code = index.get(str(row[j]), -1)  # unknown category -> all zeros
                if code >= 0:
                    onehot[i, code] = 1.0
            parts.append(onehot)
        return np.hstack(parts).astype(np.float32)

    def _bad_value(self, numeric: Any) -> str:
        for i, row in enumerate(numeric):
            for name, value in zip(self.numeric, row, strict=False):
                try:
                    ok = value is not None and np.isfinite(float(value))
                except (ValueError, TypeError):
                    ok = False
                if not ok:
                    return f"feature '{name}' of row {i} must be a finite number, got {value!r}"
        return "the numeric features could not be read as numbers"
