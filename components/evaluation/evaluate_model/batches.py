"""The test split predicted in batches: bounded memory for a split of any size.

The split (one Parquet file or a shard directory) is read chunk by chunk
(:func:`~kfp_mlops.components.training.train_model.split_stream.iter_chunks`); every
chunk goes through the challenger (and the champion, re-encoded for its own preprocessor)
and only the model outputs, the labels and the first rows (for the latency timing) are kept.
Features are never held whole: for a 50-feature table the outputs are ~1/25 of the data.

Chunks are :data:`~.predictors.PREDICT_CHUNK` rows, the chunks ``predict_all`` cuts an
in-memory array into, so the outputs, and the metrics, equal those of the in-memory path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.evaluation.evaluate_model.predictors import PREDICT_CHUNK, Predictor
from kfp_mlops.components.training.train_model import split_stream


@dataclass
class TestSplit:
    """A test split checked against its preprocessor from the metadata, not yet read."""

    info: split_stream.SplitInfo
    features: list[str]
    preprocessor: Any

    @property
    def rows(self) -> int:
        """Rows, from the manifest or footer."""
        return self.info.rows


@dataclass
class Predicted:
    """What one pass over the test split keeps: outputs, labels and the first rows."""

    raw: dict[str, np.ndarray]
    labels: np.ndarray
    sample: np.ndarray


def open_test(test_path: str, preprocessor: Any) -> TestSplit:
    """Check a processed test split against the preprocessor from its schema (no rows read).

    Raises:
        ParameterError: If the split's width is not the preprocessor's.
        SplitError: If the split is missing, unreadable or breaks the contract.
    """
    task = preprocessor.task_spec
    info = split_stream.describe(test_path, "test")
    names = split_stream.check(info, "test", regression=not task.is_classification)
    if len(names) != preprocessor.num_features:
        raise ParameterError(
            f"the test split has {len(names)} features, the preprocessor "
            f"{preprocessor.num_features}",
            "pass the test split and preprocessor of the same split_and_preprocess run",
        )
    return TestSplit(info, names, preprocessor)


def predict_test(
    test: TestSplit,
    predictors: dict[str, Predictor | Callable[[np.ndarray], np.ndarray]],
    sample_rows: int = PREDICT_CHUNK,
    chunk_rows: int = PREDICT_CHUNK,
) -> Predicted:
    """One pass over the test split: every predictor's raw outputs, labels, the first rows.

    Regression labels come back in the target's own units (the split may hold the
    standardised target), as :func:`.core.load_test` returns them.

    Args:
        test: The split (:func:`open_test`).
        predictors: Name -> function from a float32 feature chunk to raw outputs.
        sample_rows: Leading rows kept as features (the latency timing's inputs).
        chunk_rows: Rows per prediction call.
    """
    task = test.preprocessor.task_spec
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in predictors}
    labels: list[np.ndarray] = []
    sample: list[np.ndarray] = []
    kept = 0
    chunks = split_stream.iter_chunks(
        test.info, test.features, not task.is_classification, chunk_rows, name="test"
    )
    for x, y in chunks:
        for name, predict in predictors.items():
            outputs[name].append(np.asarray(predict(x)))
        if task.is_classification:
            labels.append(y.astype("int64"))
        else:
            labels.append(np.asarray(task.decode_target(y.astype("float64")), "float64"))
        if kept < sample_rows:
            sample.append(x[: sample_rows - kept])
            kept += len(sample[-1])
    return Predicted(
        raw={name: np.concatenate(parts) for name, parts in outputs.items()},
        labels=np.concatenate(labels),
        sample=np.concatenate(sample),
    )
