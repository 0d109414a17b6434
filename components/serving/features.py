"""The server's feature encoding: the shared preprocessor's array path, faults as HTTP 400.

The arithmetic (imputation, scaling, one-hot, missing indicators) is
:meth:`~kfp_mlops.components.data.split_and_preprocess.preprocessor.Preprocessor.encode`,
the same code training, evaluation and monitoring use; this adapter only names the columns
the server reads and turns a bad value into KServe's ``InvalidInput`` (400).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from kserve.errors import InvalidInput

from kfp_mlops.components.common.errors import DataValidationError


class FeatureEncoder:
    """Raw request values -> model features, through the preprocessor's own array path."""

    def __init__(self, preprocessor: Any) -> None:
        self.preprocessor = preprocessor
        self.numeric = list(preprocessor.numeric_columns)
        self.categorical = list(preprocessor.categorical_columns)
        self.columns = self.numeric + self.categorical
        self.n_numeric = len(self.numeric)
        self.width = preprocessor.num_features

    def encode(self, numeric: Any, categorical: list[list[Any]]) -> np.ndarray:
        """Raw numeric values (n, numeric) and categorical values (n, categorical) -> features.

        Raises:
            InvalidInput: Naming the column and row of a non-numeric, infinite or (without
                imputation) missing value, and the fix.
        """
        try:
            return self.preprocessor.encode(numeric, categorical)
        except DataValidationError as exc:
            raise InvalidInput(str(exc)) from exc
