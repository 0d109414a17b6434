"""Processed splits for the optimization steps, predicted in batches (bounded memory).

prune_model, quantize_model and export_onnx compare models on the test split. Instead of
holding the split's features, :class:`StreamedSplit` reads it chunk by chunk (a Parquet file
or a shard directory, :mod:`kfp_mlops.components.training.train_model.split_stream`) and
keeps only each model's outputs and the labels: for a 50-feature table ~1/25 of the data.

Chunks are :data:`CHUNK_ROWS` rows, a multiple of the 1024-row batches Keras' ``predict``
and the TFLite runtime use, so every row's output, and every metric, is the one the
in-memory path computes. Labels are int64 class codes or float32 targets, as
:func:`.common.load_split` returns them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.training.train_model import split_stream

#: Rows per prediction chunk (a multiple of the predictors' 1024-row batches).
CHUNK_ROWS = 4096


@dataclass
class StreamedSplit:
    """A processed split checked from its schema, read only when predicted."""

    info: split_stream.SplitInfo
    features: list[str]
    regression: bool
    name: str

    @property
    def rows(self) -> int:
        """Rows, from the manifest or footer."""
        return self.info.rows

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(float32 features, labels) in order, ``chunk_rows`` at a time."""
        label_dtype = "float32" if self.regression else "int64"
        for x, y in split_stream.iter_chunks(
            self.info, self.features, self.regression, chunk_rows, name=self.name
        ):
            yield x, y.astype(label_dtype)

    def outputs(
        self, predictors: dict[str, Callable[[np.ndarray], np.ndarray]]
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """One pass: every predictor's outputs (float32 arrays) and the labels."""
        outs: dict[str, list[np.ndarray]] = {name: [] for name in predictors}
        labels = []
        for x, y in self.chunks():
            for name, predict in predictors.items():
                outs[name].append(np.asarray(predict(x), dtype="float32"))
            labels.append(y)
        return {k: np.concatenate(v) for k, v in outs.items()}, np.concatenate(labels)

    def head(self, rows: int = 1) -> np.ndarray:
        """The first ``rows`` feature rows (latency inputs)."""
        return next(self.chunks(max(1, rows)))[0][:rows]

    def pick(self, indices: np.ndarray) -> np.ndarray:
        """The feature rows at ``indices`` (global row numbers), in the order given."""
        wanted = np.asarray(indices, dtype="int64")
        order = np.argsort(wanted)
        found = np.empty((len(wanted), len(self.features)), dtype="float32")
        start = 0
        for x, _ in self.chunks():
            lo, hi = np.searchsorted(wanted[order], [start, start + len(x)])
            found[order[lo:hi]] = x[wanted[order[lo:hi]] - start]
            start += len(x)
        return found


def open_split(path: str, split: str, model: Any) -> StreamedSplit:
    """A processed split, checked against the model's input width from its schema.

    Raises:
        SplitError: If the split is missing, unreadable or breaks the contract.
        ParameterError: If its feature count is not the model's input width.
    """
    from kfp_mlops.components.optimization.common import _float_labels

    info = split_stream.describe(path, split)
    regression = _float_labels(info.files[0]) if info.files else False
    names = split_stream.check(info, split, regression=regression)
    width = int(model.inputs[0].shape[-1])
    if len(names) != width:
        raise ParameterError(
            f"the {split} split has {len(names)} feature columns but the model's input "
            f"'{model.inputs[0].name}' expects {width}",
            "pass the splits the model was trained on (same split_and_preprocess output)",
        )
    return StreamedSplit(info, names, regression, split)


def fit_inputs(
    path: str, split: str, model: Any, batch_size: int, seed: int
) -> tuple[dict[str, Any], int]:
    """Keyword arguments of Keras' ``fit`` for a training split, and its row count.

    A small single-file split is held in memory as before (``x``, ``y``, ``batch_size``:
    Keras shuffles it every epoch). A shard directory or a large file is streamed
    (:func:`streamed_batches`, repeated, with ``steps_per_epoch``), so fine-tuning (pruning,
    quantization-aware training) holds one chunk of it at a time.

    Raises:
        SplitError: If the split is missing, unreadable or breaks the contract.
        ParameterError: If its feature count is not the model's input width.
    """
    from kfp_mlops.components.optimization.common import load_split

    streamed = open_split(path, split, model)
    if not streamed.info.streaming:
        x, y = load_split(path, split, model)
        return {"x": x, "y": y, "batch_size": batch_size}, len(x)
    steps = max(1, -(-streamed.rows // batch_size))
    batches = streamed_batches(streamed, batch_size, seed=seed)
    return {"x": batches, "steps_per_epoch": steps}, streamed.rows


def validation_data(path: str, model: Any, batch_size: int) -> Any:
    """``validation_data`` for Keras' ``fit``: arrays, or one streamed pass per evaluation."""
    from kfp_mlops.components.optimization.common import load_split

    streamed = open_split(path, "validation", model)
    if not streamed.info.streaming:
        return load_split(path, "validation", model)
    return streamed_batches(streamed, batch_size, seed=None)


def streamed_batches(split: StreamedSplit, batch_size: int, seed: int | None) -> Any:
    """A ``tf.data`` pipeline of ``batch_size`` batches read chunk by chunk from ``split``.

    With a ``seed`` it repeats without end and shuffles the rows within each chunk anew on
    every pass (chunks keep their order: a shard-level shuffle would need the whole split);
    without one it is a single pass in order (validation).
    """
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()

    def passes() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(seed)
        while True:
            for x, y in split.chunks():
                order = rng.permutation(len(x)) if seed is not None else slice(None)
                yield x[order], y[order]
            if seed is None:
                return

    labels = tf.float32 if split.regression else tf.int64
    signature = (
        tf.TensorSpec([None, len(split.features)], tf.float32),
        tf.TensorSpec([None], labels),
    )
    ds = tf.data.Dataset.from_generator(passes, output_signature=signature)
    return ds.unbatch().batch(batch_size).prefetch(tf.data.AUTOTUNE)


def calibration_sample(train: StreamedSplit, rows: int, seed: int = 0) -> np.ndarray:
    """The rows :func:`.tflite.calibration_rows` draws, read by streaming the split.

    The same seeded permutation of the row numbers (known from the manifest) picks the
    same rows in the same order, without holding the training split.

    Raises:
        ParameterError: If ``rows`` < 1 or the split has no rows.
    """
    from kfp_mlops.components.optimization.tflite import calibration_rows

    if rows < 1 or train.rows == 0:  # calibration_rows says what is wrong
        width = len(train.features)
        return calibration_rows(np.zeros((0 if rows >= 1 else 1, width), "float32"), rows, seed)
    pick = np.random.default_rng(seed).permutation(train.rows)[:rows]
    return train.pick(pick)
