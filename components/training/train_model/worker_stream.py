"""The streamed form of a worker's data: each rank reads only its own rows, in batches.

Runs in the trainer env. :func:`load_streamed` reads the manifest and Parquet footers (never
the rows) and gives this rank its slice of each split (:func:`.split_stream.rank_parts`:
contiguous, disjoint, equal to one row, cut per row group). The worker gets ``tf.data``
pipelines over pyarrow record batches: row groups in a seeded order per pass, a shuffle
buffer of ``shuffle_buffer_rows`` rows per rank, prefetch. The step count comes from the
global row count (:func:`.worker_data.step_counts`), so every rank runs the same steps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kfp_mlops.components.common.shards import Part
from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.training.train_model import split_stream
from kfp_mlops.components.training.train_model.config import WorkerConfig
from kfp_mlops.components.training.train_model.split_stream import SplitInfo
from kfp_mlops.components.training.train_model.worker_data import (
    WorkerData,
    _with_threads,
    step_counts,
)


def shuffled_batches(
    info: SplitInfo,
    parts: Sequence[Part],
    names: Sequence[str],
    regression: bool,
    batch: int,
    seed: int,
    first_pass: int,
    buffer_rows: int,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless batches of exactly ``batch`` rows of ``parts``, shuffled with bounded memory.

    Each pass visits the row groups in an order seeded by ``(seed, pass)``; a resumed run
    starts at the pass of its first epoch (as the in-memory path does). Rows gather in a
    buffer of about ``buffer_rows``; a full buffer is permuted (vectorised, not row by row)
    and cut into batches, and the remainder waits for the next fill.
    """
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    held = 0
    pass_index = first_pass
    while True:
        rng = np.random.default_rng([seed, pass_index])
        for i in rng.permutation(len(parts)):
            chunks = split_stream.iter_chunks(
                info, names, regression, split_stream.READ_ROWS, [parts[i]], "training"
            )
            for x, y in chunks:
                xs.append(x)
                ys.append(y)
                held += len(y)
                if held >= buffer_rows:
                    xs, ys, held = yield from _emit(xs, ys, batch, rng)
        if held >= batch:  # a rank with fewer rows than the buffer still yields every pass
            xs, ys, held = yield from _emit(xs, ys, batch, rng)
        pass_index += 1


def _emit(xs: list[np.ndarray], ys: list[np.ndarray], batch: int, rng: np.random.Generator):
    """Yield the buffer's full batches in a random order; return what is left."""
    x, y = np.concatenate(xs), np.concatenate(ys)
    order = rng.permutation(len(y))
    full = len(y) // batch * batch
    for start in range(0, full, batch):
        idx = order[start : start + batch]
        yield x[idx], y[idx]
    rest = order[full:]
    return [x[rest]], [y[rest]], len(rest)


@dataclass
class StreamedData(WorkerData):
    """This rank's rows of both splits, read batch by batch."""

    train: SplitInfo
    val: SplitInfo
    train_parts: list[Part]
    val_parts: list[Part] | None
    regression: bool
    column: bool
    buffer_rows: int

    def _signature(self, tf: Any) -> tuple[Any, Any]:
        y_type = tf.float32 if (self.regression or self.column) else tf.int64
        return (
            tf.TensorSpec((None, self.num_features), tf.float32),
            tf.TensorSpec((None, 1) if self.column else (None,), y_type),
        )

    def _shape(self, y: np.ndarray) -> np.ndarray:
        # One sigmoid or linear unit: float targets of shape (n, 1), as the loss wants.
        return y.astype("float32")[:, None] if self.column else y.astype("int64")

    def train_ds(self, tf: Any, seed: int, first_epoch: int, threads: int) -> Any:  # noqa: D102
        def generate():
            batches = shuffled_batches(
                self.train,
                self.train_parts,
                self.names,
                self.regression,
                self.per_worker_batch,
                seed,
                first_epoch,
                max(self.buffer_rows, self.per_worker_batch),
            )
            for x, y in batches:
                yield x, self._shape(y)

        ds = tf.data.Dataset.from_generator(generate, output_signature=self._signature(tf))
        return _with_threads(tf, ds.prefetch(tf.data.AUTOTUNE), threads)

    def _finite(self, tf: Any, parts: list[Part] | None, batch: int, threads: int) -> Any:
        def generate():
            chunks = split_stream.iter_chunks(
                self.val, self.names, self.regression, batch, parts, "validation"
            )
            for x, y in chunks:
                yield x, self._shape(y)

        ds = tf.data.Dataset.from_generator(generate, output_signature=self._signature(tf))
        return _with_threads(tf, ds.prefetch(tf.data.AUTOTUNE), threads)

    def val_ds(self, tf: Any, threads: int) -> Any:  # noqa: D102
        return self._finite(tf, self.val_parts, max(self.per_worker_batch, 256), threads)

    def full_val_ds(self, tf: Any, batch: int = 256) -> Any:  # noqa: D102
        return self._finite(tf, None, batch, 0)


def load_streamed(cfg: WorkerConfig, task: TaskSpec, rank: int, size: int) -> StreamedData:
    """This rank's streamed view of the splits (manifest, footers and one chunk read).

    Raises:
        SplitError: If a split breaks the contract (a ``ValueError``).
        ValueError: If there are fewer training rows than workers.
    """
    regression = task.task_type == "regression"
    train = split_stream.describe(cfg.train_path, "training")
    val = split_stream.describe(cfg.validation_path, "validation")
    names = split_stream.check(train, "training", cfg.feature_names, regression)
    split_stream.check(val, "validation", names, regression)
    per_worker_batch, steps = step_counts(cfg, train.rows, size)
    probe_rows = max(1, cfg.probe_rows)
    probe = next(split_stream.iter_chunks(val, names, regression, probe_rows, name="validation"))
    return StreamedData(
        names=names,
        per_worker_batch=per_worker_batch,
        steps_per_epoch=steps,
        train_rows=train.rows,
        probe_x=probe[0][: cfg.probe_rows],
        train=train,
        val=val,
        train_parts=split_stream.rank_parts(train, rank, size),
        # A validation split smaller than the world is evaluated whole by every rank.
        val_parts=None if val.rows < size else split_stream.rank_parts(val, rank, size),
        regression=regression,
        column=task.output_width == 1,
        buffer_rows=cfg.shuffle_buffer_rows,
    )
