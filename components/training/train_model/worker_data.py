"""The Horovod worker's data and file helpers: splits as shards, tf.data pipelines, JSON I/O.

Runs in the trainer env only (TensorFlow 2.15, numpy < 2); never imports kfp.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common.artifacts import LABEL, check_split
from kfp_mlops.components.common.model_dir import METRICS_FILE
from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.common.tf import import_tf
from kfp_mlops.components.training.train_model.config import WorkerConfig


def is_uri(path: str) -> bool:
    """Whether ``path`` is a URI TensorFlow reads (``gs://``), not a local path."""
    return "://" in str(path)


def write_json(path: str, data: Any) -> None:
    """Write JSON atomically (temp file + rename) to a local path or ``gs://`` URI."""
    tf = import_tf()
    tmp = f"{path}.tmp"
    with tf.io.gfile.GFile(tmp, "w") as handle:
        handle.write(json.dumps(data, indent=2, sort_keys=True, default=float))
    tf.io.gfile.rename(tmp, path, overwrite=True)


def read_json(path: str) -> Any | None:
    """The JSON at a local path or ``gs://`` URI, or None when there is no file."""
    tf = import_tf()
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "r") as handle:
        return json.loads(handle.read())


def upload_dir(local: Path, uri: str) -> None:
    """Copy a local directory tree to ``uri`` (rank 0's outputs in a multi-node TrainJob).

    ``metrics.json`` goes last: its presence tells a reader that the upload is complete.
    """
    tf = import_tf()
    files = sorted(p for p in local.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == METRICS_FILE)
    for src in files:
        dest = f"{uri.rstrip('/')}/{src.relative_to(local).as_posix()}"
        tf.io.gfile.makedirs(dest.rsplit("/", 1)[0])
        tf.io.gfile.copy(str(src), dest, overwrite=True)


def load_split(
    path: str, feature_names: list[str], regression: bool = False
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a Parquet split into float32 features and int64 labels (float32 targets).

    Raises:
        ValueError: If the file is unreadable; ``SplitError`` (a ``ValueError``) if it breaks
            the split contract.
    """
    try:
        if is_uri(path):  # gs:// in a multi-node TrainJob: every node reads the same object
            tf = import_tf()
            with tf.io.gfile.GFile(path, "rb") as handle:
                frame = pd.read_parquet(io.BytesIO(handle.read()))
        else:
            frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types; name the file in one message
        raise ValueError(f"cannot read '{path}' as Parquet: {exc}") from exc
    names = check_split(frame, f"'{path}'", feature_names, regression)
    x = frame[names].to_numpy(dtype="float32")
    y = frame[LABEL].to_numpy(dtype="float32" if regression else "int64")
    return x, y, names


def shard(array: np.ndarray, rank: int, size: int) -> np.ndarray:
    """Rows ``rank, rank + size, ...``: disjoint shards that together cover every row."""
    return array[rank::size]


def weights_digest(model: Any) -> dict[str, Any]:
    """SHA-256 and sum over every weight, in layer order: equal on all ranks iff in sync."""
    digest = hashlib.sha256()
    total = 0.0
    count = 0
    for weight in model.get_weights():
        arr = np.ascontiguousarray(weight, dtype="float32")
        digest.update(arr.tobytes())
        total += float(arr.astype("float64").sum())
        count += int(arr.size)
    return {"sha256": digest.hexdigest(), "sum": total, "count": count}


def _with_threads(tf: Any, ds: Any, threads: int) -> Any:
    if threads > 0:
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        ds = ds.with_options(options)
    return ds


def train_dataset(
    tf: Any, x: np.ndarray, y: np.ndarray, batch: int, seed: int, first_epoch: int, threads: int
) -> Any:
    """Endless shuffled batches of this rank's shard, prefetched.

    The rows stay in memory as tensors (the cache) and each pass draws one seeded
    permutation of the row indices, cut into batches and gathered: a vectorised shuffle +
    batch about 20x cheaper in CPU than shuffling row by row, which matters when one core
    per worker is all there is. Passes are seeded by ``(seed, pass index)`` and a resumed run
    starts at the pass index of its first epoch, so it does not replay the first epochs'
    order. Shards smaller than a batch are tiled; the up-to-one-batch remainder of each pass
    is dropped.
    """
    n = len(x)
    x_t, y_t = tf.constant(x), tf.constant(y)
    reps = max(1, -(-batch // n))
    usable = (n * reps) // batch * batch
    seed_t = tf.constant(seed, tf.int64)

    def one_pass(index: Any) -> Any:
        rows = tf.tile(tf.range(n, dtype=tf.int64), [reps])
        order = tf.random.experimental.stateless_shuffle(rows, seed=tf.stack([seed_t, index]))
        return tf.data.Dataset.from_tensor_slices(tf.reshape(order[:usable], [-1, batch]))

    ds = (
        tf.data.Dataset.range(first_epoch, 1 << 40)
        .flat_map(one_pass)
        .map(lambda idx: (tf.gather(x_t, idx), tf.gather(y_t, idx)))
        .prefetch(tf.data.AUTOTUNE)
    )
    return _with_threads(tf, ds, threads)


def eval_dataset(tf: Any, x: np.ndarray, y: np.ndarray, batch: int, threads: int) -> Any:
    """Batches of a validation shard, cached after the first pass and prefetched."""
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).cache().prefetch(tf.data.AUTOTUNE)
    return _with_threads(tf, ds, threads)


@dataclass
class WorkerData:
    """This rank's view of the splits, with labels shaped for the task's loss.

    The in-memory form (small single-file splits) holds the arrays; the streamed form
    (:class:`.worker_stream.StreamedData`) holds this rank's row groups and reads them in
    batches. Both give the same three datasets to the worker.
    """

    names: list[str]
    per_worker_batch: int
    steps_per_epoch: int
    train_rows: int
    probe_x: np.ndarray

    @property
    def num_features(self) -> int:
        """Feature columns (the model's input width)."""
        return len(self.names)

    def train_ds(self, tf: Any, seed: int, first_epoch: int, threads: int) -> Any:
        """Endless shuffled batches of this rank's rows."""
        raise NotImplementedError

    def val_ds(self, tf: Any, threads: int) -> Any:
        """This rank's share of the validation rows (all of them when too few)."""
        raise NotImplementedError

    def full_val_ds(self, tf: Any, batch: int = 256) -> Any:
        """Every validation row once (rank 0's final metrics)."""
        raise NotImplementedError


@dataclass
class InMemoryData(WorkerData):
    """Both splits held as arrays (the fast path for small tables)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    rank: int
    size: int

    def train_ds(self, tf: Any, seed: int, first_epoch: int, threads: int) -> Any:  # noqa: D102
        x, y = shard(self.x_train, self.rank, self.size), shard(self.y_train, self.rank, self.size)
        return train_dataset(tf, x, y, self.per_worker_batch, seed, first_epoch, threads)

    def val_ds(self, tf: Any, threads: int) -> Any:  # noqa: D102
        # A validation set smaller than the worker count is evaluated whole by every rank.
        whole = len(self.x_val) < self.size
        x = self.x_val if whole else shard(self.x_val, self.rank, self.size)
        y = self.y_val if whole else shard(self.y_val, self.rank, self.size)
        return eval_dataset(tf, x, y, max(self.per_worker_batch, 256), threads)

    def full_val_ds(self, tf: Any, batch: int = 256) -> Any:  # noqa: D102
        return tf.data.Dataset.from_tensor_slices((self.x_val, self.y_val)).batch(batch)


def step_counts(cfg: WorkerConfig, rows: int, size: int) -> tuple[int, int]:
    """Per-worker batch and steps per epoch, from the global row count alone.

    Every rank must run the same number of steps (each step is an allreduce), so the
    ranks' rows repeat and the epoch length comes from the global rows, never from a
    rank's own share.
    """
    if rows < size:
        raise ValueError(f"{rows} training rows cannot be split over {size} workers")
    per_worker_batch = max(1, cfg.batch_size // size)
    return per_worker_batch, max(1, math.ceil(rows / (per_worker_batch * size)))


def load_data(cfg: WorkerConfig, task: TaskSpec, rank: int, size: int) -> WorkerData:
    """This rank's data: streamed when the launcher said so, else both splits as arrays."""
    if cfg.streaming:
        from kfp_mlops.components.training.train_model.worker_stream import load_streamed

        return load_streamed(cfg, task, rank, size)
    regression = task.task_type == "regression"
    x_train, y_train, names = load_split(cfg.train_path, cfg.feature_names, regression)
    x_val, y_val, _ = load_split(cfg.validation_path, names, regression)
    per_worker_batch, steps = step_counts(cfg, len(x_train), size)
    if task.output_width == 1:  # one sigmoid or linear unit: float targets of shape (n, 1)
        y_train, y_val = y_train.astype("float32")[:, None], y_val.astype("float32")[:, None]
    return InMemoryData(
        names=names,
        per_worker_batch=per_worker_batch,
        steps_per_epoch=steps,
        train_rows=len(x_train),
        probe_x=x_val[: cfg.probe_rows],
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        rank=rank,
        size=size,
    )
