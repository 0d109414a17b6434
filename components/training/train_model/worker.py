"""One Horovod worker: ``horovodrun ... python -m ...train_model.worker --config config.json``.

Runs in the trainer env (TensorFlow 2.15.1, Horovod 0.28.1), so it imports only TensorFlow,
NumPy, pandas, Horovod, mlflow-skinny and the standard library, plus the shared model
builder; never kfp or scikit-learn.

Every rank trains on its own shard of the training rows (``rows[rank::size]``), gradients are
averaged by ``hvd.DistributedOptimizer`` (Gloo on CPU, NCCL on GPU), rank 0 checkpoints every
epoch and writes the model, and a restarted job resumes from the last checkpoint.

Files written (see :mod:`.config` for the names):

* ``<log_dir>/pid_rank<r>``, ``worker_<r>.log``, ``weights_rank<r>.json`` on every rank, and
  ``error_rank<r>.txt`` (the traceback) when a rank fails;
* ``<checkpoint_dir>/ckpt-<epoch>*`` and ``state.json`` by rank 0 after every epoch;
* ``<output_dir>/model.h5``, ``saved_model/``, ``history.json``, ``metrics.json`` and
  ``probe_predictions.json`` by rank 0 at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common.artifacts import LABEL, check_split
from kfp_mlops.components.common.tf import import_tf
from kfp_mlops.components.training.model import ModelConfig, build_model, is_binary, loss_name
from kfp_mlops.components.training.train_model.config import (
    HISTORY_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PROBE_FILE,
    SAVED_MODEL_DIR,
    STATE_FILE,
    WorkerConfig,
    resolve_precision,
    scheduled_lr,
)

log = logging.getLogger("kfp_mlops.train_model.worker")


def _env_rank() -> int:
    """This process's rank before ``hvd.init()`` (horovodrun exports it)."""
    return int(os.environ.get("HOROVOD_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))


def _setup_logging(log_dir: Path, rank: int) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter(f"%(asctime)s [rank {rank}] %(levelname)s %(message)s")
    file_handler = logging.FileHandler(log_dir / f"worker_{rank}.log")
    file_handler.setFormatter(fmt)
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    log.handlers[:] = [file_handler, stream]
    log.setLevel(logging.INFO)
    log.propagate = False


def _write_json(path: str, data: Any) -> None:
    """Write JSON atomically (temp file + rename) to a local path or ``gs://`` URI."""
    tf = import_tf()
    tmp = f"{path}.tmp"
    with tf.io.gfile.GFile(tmp, "w") as handle:
        handle.write(json.dumps(data, indent=2, sort_keys=True, default=float))
    tf.io.gfile.rename(tmp, path, overwrite=True)


def _read_json(path: str) -> Any | None:
    tf = import_tf()
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "r") as handle:
        return json.loads(handle.read())


def _is_uri(path: str) -> bool:
    return "://" in str(path)


def read_config(path: str) -> dict[str, Any]:
    """The WorkerConfig JSON at a local path or a URI TensorFlow can read (``gs://``)."""
    if not _is_uri(path):
        return json.loads(Path(path).read_text(encoding="utf-8"))
    tf = import_tf()
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


def load_split(path: str, feature_names: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a Parquet split into float32 features and int64 labels.

    Raises:
        ValueError: If the file is unreadable; ``SplitError`` (a ``ValueError``) if it breaks
            the split contract.
    """
    try:
        if _is_uri(path):  # gs:// in a multi-node TrainJob: every node reads the same object
            tf = import_tf()
            with tf.io.gfile.GFile(path, "rb") as handle:
                frame = pd.read_parquet(io.BytesIO(handle.read()))
        else:
            frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types; name the file in one message
        raise ValueError(f"cannot read '{path}' as Parquet: {exc}") from exc
    names = check_split(frame, f"'{path}'", feature_names)
    x = frame[names].to_numpy(dtype="float32")
    y = frame[LABEL].to_numpy(dtype="int64")
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


def _callbacks(tf: Any):
    """Callback classes, defined once TensorFlow is imported."""
    keras = tf.keras

    class LearningRateController(keras.callbacks.Callback):
        """Warm-up + cosine schedule times a plateau factor, set at every epoch start.

        Keras' ``ReduceLROnPlateau`` would be overwritten by a schedule at the next epoch, so
        the plateau logic lives here: the factor shrinks after ``patience`` epochs without a
        lower ``val_loss`` and multiplies the scheduled rate. Its state is checkpointed.
        """

        def __init__(self, cfg: WorkerConfig, workers: int, state: dict[str, Any] | None):
            super().__init__()
            self.cfg = cfg
            self.workers = workers
            self.patience = cfg.effective_plateau_patience()
            state = state or {}
            self.factor = float(state.get("factor", 1.0))
            self.best = float(state.get("best", math.inf))
            self.wait = int(state.get("wait", 0))
            self.current = 0.0

        def state(self) -> dict[str, Any]:
            return {"factor": self.factor, "best": self.best, "wait": self.wait}

        def on_epoch_begin(self, epoch, logs=None):
            cfg = self.cfg
            lr = scheduled_lr(
                epoch,
                cfg.learning_rate,
                self.workers,
                cfg.warmup_epochs,
                cfg.epochs,
                cfg.min_lr_ratio,
            )
            self.current = lr * self.factor
            self.model.optimizer.learning_rate = self.current

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            logs["lr"] = self.current
            # val_loss was averaged over ranks by MetricAverageCallback, so all agree.
            value = logs.get("val_loss")
            if value is None:
                return
            if value < self.best - 1e-4:
                self.best, self.wait = float(value), 0
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    self.factor *= self.cfg.plateau_factor
                    self.wait = 0
                    log.info("val_loss plateaued: learning-rate factor now %.4g", self.factor)

    class Throughput(keras.callbacks.Callback):
        """Times the training part of each epoch (validation excluded)."""

        def __init__(self):
            super().__init__()
            self.train_seconds: list[float] = []
            self._start = 0.0
            self._recorded = False

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()
            self._recorded = False

        def on_test_begin(self, logs=None):
            if not self._recorded:
                self.train_seconds.append(time.perf_counter() - self._start)
                self._recorded = True

        def on_epoch_end(self, epoch, logs=None):
            if not self._recorded:
                self.train_seconds.append(time.perf_counter() - self._start)
                self._recorded = True

    class CheckpointAndHistory(keras.callbacks.Callback):
        """Rank 0: save a checkpoint, then ``state.json`` (completed epoch, LR state, history)."""

        def __init__(self, manager, cfg, lr_controller, history, extra_state):
            super().__init__()
            self.manager = manager
            self.cfg = cfg
            self.lr_controller = lr_controller
            self.history = history
            self.extra_state = extra_state

        def on_epoch_end(self, epoch, logs=None):
            entry = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
            self.history.append(entry)
            path = self.manager.save(checkpoint_number=epoch + 1)
            state = {
                "epoch": epoch + 1,
                "checkpoint": path,
                "lr_state": self.lr_controller.state(),
                "history": self.history,
                **self.extra_state,
            }
            _write_json(f"{self.cfg.checkpoint_dir.rstrip('/')}/{STATE_FILE}", state)
            log.info(
                "epoch %d/%d %s; checkpoint %s",
                epoch + 1,
                self.cfg.epochs,
                " ".join(f"{k}={v:.4g}" for k, v in entry.items() if k != "epoch"),
                path,
            )

    class MlflowEpochs(keras.callbacks.Callback):
        """Rank 0: log each epoch's (rank-averaged) metrics to the active MLflow run."""

        def __init__(self, mlflow):
            super().__init__()
            self.mlflow = mlflow

        def on_epoch_end(self, epoch, logs=None):
            metrics = {k: float(v) for k, v in (logs or {}).items()}
            try:
                self.mlflow.log_metrics(metrics, step=epoch + 1)
            except Exception as exc:  # a tracking hiccup must not kill hours of training
                log.warning("MLflow log_metrics failed at epoch %d: %s", epoch + 1, exc)

    return LearningRateController, Throughput, CheckpointAndHistory, MlflowEpochs


def _configure_devices(tf: Any, hvd: Any, cfg: WorkerConfig) -> bool:
    """Pin threads (CPU) or one GPU per local rank; return whether a GPU is used."""
    if cfg.intra_op_threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(cfg.intra_op_threads)
    if cfg.inter_op_threads > 0:
        tf.config.threading.set_inter_op_parallelism_threads(cfg.inter_op_threads)
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        gpu = gpus[hvd.local_rank() % len(gpus)]
        tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.set_visible_devices(gpu, "GPU")
    return bool(gpus)


def _make_optimizer(tf: Any, hvd: Any, cfg: WorkerConfig, policy: str):
    """Adam -> Horovod DistributedOptimizer -> LossScaleOptimizer (float16 only).

    The loss-scale wrapper sits outside so that the finiteness check and the scale update
    see the allreduced gradients, which are identical on every rank.
    """
    keras = tf.keras
    base = keras.optimizers.Adam(
        learning_rate=cfg.learning_rate, clipnorm=cfg.clip_norm if cfg.clip_norm > 0 else None
    )
    opt = hvd.DistributedOptimizer(
        base,
        backward_passes_per_step=cfg.grad_accum_steps,
        average_aggregated_gradients=True,
        # One grouped allreduce a step: gradients become ready layer by layer, and without
        # a group Horovod's 1 ms negotiation cycles split them into several collectives,
        # each paying Gloo's full latency (measured: ~6 per step for a 3-layer MLP).
        groups=1,
    )
    if policy == "mixed_float16":
        if cfg.loss_scale > 0:
            opt = keras.mixed_precision.LossScaleOptimizer(
                opt, dynamic=False, initial_scale=cfg.loss_scale
            )
        else:
            opt = keras.mixed_precision.LossScaleOptimizer(opt)
    return opt


def _start_mlflow(cfg: WorkerConfig, params: dict[str, Any], run_id: str | None):
    import mlflow

    mlflow.set_tracking_uri(cfg.tracking_uri)
    if run_id:
        try:
            run = mlflow.start_run(run_id=run_id)
            log.info("MLflow: resumed run %s", run_id)
            return mlflow, run
        except Exception as exc:
            log.warning("MLflow: cannot resume run %s (%s); starting a new one", run_id, exc)
    mlflow.set_experiment(cfg.experiment_name)
    run = mlflow.start_run(run_name=cfg.run_name or None)
    mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
    log.info("MLflow: run %s in experiment '%s'", run.info.run_id, cfg.experiment_name)
    return mlflow, run


def train(cfg: WorkerConfig) -> dict[str, Any]:
    """Train on this rank's shard; rank 0 writes the model and returns the final metrics."""
    tf = import_tf()
    import horovod.tensorflow as hvd_tf
    import horovod.tensorflow.keras as hvd

    hvd.init()
    rank, size = hvd.rank(), hvd.size()
    log_dir = Path(cfg.log_dir)
    gpu = _configure_devices(tf, hvd, cfg)
    policy = resolve_precision(cfg.precision, gpu)
    tf.keras.mixed_precision.set_global_policy(policy)
    log.info(
        "worker %d/%d, precision %s, gpu=%s, threads=%d",
        rank,
        size,
        policy,
        gpu,
        cfg.intra_op_threads,
    )

    x_train, y_train, names = load_split(cfg.train_path, cfg.feature_names)
    x_val, y_val, _ = load_split(cfg.validation_path, names)
    if len(x_train) < size:
        raise ValueError(f"{len(x_train)} training rows cannot be split over {size} workers")
    binary = is_binary(cfg.num_classes)
    if binary:
        y_train_t, y_val_t = y_train.astype("float32")[:, None], y_val.astype("float32")[:, None]
    else:
        y_train_t, y_val_t = y_train, y_val

    per_worker_batch = max(1, cfg.batch_size // size)
    # Every rank must run the same number of steps (each step is an allreduce), so the shards
    # repeat and the epoch length comes from the global row count.
    steps_per_epoch = max(1, math.ceil(len(x_train) / (per_worker_batch * size)))
    # A validation set smaller than the worker count is evaluated whole by every rank.
    val_x = shard(x_val, rank, size) if len(x_val) >= size else x_val
    val_y = shard(y_val_t, rank, size) if len(x_val) >= size else y_val_t
    val_ds = eval_dataset(tf, val_x, val_y, max(per_worker_batch, 256), cfg.intra_op_threads)

    tf.keras.utils.set_random_seed(cfg.seed)
    model_config = ModelConfig(
        hidden_units=list(cfg.hidden_units),
        activation=cfg.activation,
        dropout=cfg.dropout,
        l2=cfg.l2,
    )
    model = build_model(x_train.shape[1], cfg.num_classes, model_config)
    opt = _make_optimizer(tf, hvd, cfg, policy)
    model.compile(
        optimizer=opt, loss=loss_name(cfg.num_classes), metrics=["accuracy"], jit_compile=False
    )
    # Create the optimizer slots now, so a checkpoint restores them instead of deferring.
    opt.build(model.trainable_variables)

    checkpoint = tf.train.Checkpoint(model=model, optimizer=opt)
    state_path = f"{cfg.checkpoint_dir.rstrip('/')}/{STATE_FILE}"
    state = _read_json(state_path) if rank == 0 else None
    # Rank 0 decides whether and from where to resume; all ranks then read the same files.
    state = hvd_tf.broadcast_object(state, root_rank=0, name="resume_state")
    initial_epoch = 0
    shape = {
        "num_features": int(x_train.shape[1]),
        "num_classes": cfg.num_classes,
        "hidden_units": list(cfg.hidden_units),
    }
    if state and state.get("shape", shape) != shape:
        raise ValueError(
            f"the checkpoint in {cfg.checkpoint_dir} is for a model of shape {state.get('shape')}, "
            f"not {shape}; pass a new checkpoint_uri (or delete that one) to train this model"
        )
    if state:
        checkpoint.restore(state["checkpoint"]).assert_existing_objects_matched()
        initial_epoch = int(state["epoch"])
        log.info("resumed from %s (epoch %d)", state["checkpoint"], initial_epoch)
    # Identical starting point on every rank, before the first step.
    hvd_tf.broadcast_variables(model.variables, root_rank=0)
    opt_vars = opt.variables
    hvd_tf.broadcast_variables(list(opt_vars() if callable(opt_vars) else opt_vars), root_rank=0)

    train_ds = train_dataset(
        tf,
        shard(x_train, rank, size),
        shard(y_train_t, rank, size),
        per_worker_batch,
        cfg.seed + rank,
        initial_epoch,
        cfg.intra_op_threads,
    )
    lr_cls, throughput_cls, ckpt_cls, mlflow_cls = _callbacks(tf)
    lr_controller = lr_cls(cfg, size, (state or {}).get("lr_state"))
    throughput = throughput_cls()
    callbacks = [
        hvd.callbacks.BroadcastGlobalVariablesCallback(0),
        # Must come before every callback that reads the epoch's metrics.
        hvd.callbacks.MetricAverageCallback(),
        lr_controller,
        throughput,
        tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.early_stopping_patience),
    ]
    history: list[dict[str, Any]] = list((state or {}).get("history", []))
    mlflow = run = None
    params = {
        "workers": size,
        "precision_policy": policy,
        "num_features": x_train.shape[1],
        "num_classes": cfg.num_classes,
        "train_rows": len(x_train),
        **{
            k: v
            for k, v in vars(cfg).items()
            if k not in {"train_path", "validation_path", "output_dir", "log_dir", "feature_names"}
        },
    }
    if rank == 0:
        if cfg.tracking_uri:
            mlflow, run = _start_mlflow(cfg, params, (state or {}).get("mlflow_run_id"))
        tf.io.gfile.makedirs(cfg.checkpoint_dir)
        manager = tf.train.CheckpointManager(checkpoint, cfg.checkpoint_dir, max_to_keep=2)
        extra = {"shape": shape, "mlflow_run_id": run.info.run_id if run else ""}
        callbacks.append(ckpt_cls(manager, cfg, lr_controller, history, extra))
        if mlflow:
            callbacks.append(mlflow_cls(mlflow))

    start = time.perf_counter()
    if initial_epoch < cfg.epochs:
        model.fit(
            train_ds,
            epochs=cfg.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps_per_epoch,
            validation_data=val_ds,
            callbacks=callbacks,
            verbose=0,
        )
    fit_seconds = time.perf_counter() - start

    _write_json(str(log_dir / f"weights_rank{rank}.json"), {"rank": rank, **weights_digest(model)})
    if rank != 0:
        return {}

    samples_per_epoch = steps_per_epoch * per_worker_batch * size
    timed = throughput.train_seconds[1:] or throughput.train_seconds  # drop tracing epoch
    samples_per_second = samples_per_epoch * len(timed) / sum(timed) if timed else 0.0
    val_loss, val_accuracy = model.evaluate(x_val, y_val_t, batch_size=256, verbose=0)
    last = history[-1] if history else {}
    metrics = {
        "loss": last.get("loss", float("nan")),
        "accuracy": last.get("accuracy", float("nan")),
        "val_loss": float(val_loss),
        "val_accuracy": float(val_accuracy),
        "epochs_run": len(history),
        "epochs_this_run": len(throughput.train_seconds),
        "workers": size,
        "num_features": int(x_train.shape[1]),
        "num_classes": cfg.num_classes,
        "samples_per_second": samples_per_second,
        "fit_seconds": fit_seconds,
        "precision_policy": policy,
        "output_dtype": str(model.output.dtype.name),
        "resumed_from_epoch": initial_epoch,
        "steps_per_epoch": steps_per_epoch,
        "per_worker_batch": per_worker_batch,
        "feature_names": names,
        "mlflow_run_id": run.info.run_id if run else "",
        # Only a mixed_float16 run has a loss scale (the LossScaleOptimizer's final value).
        "loss_scale": float(opt.loss_scale.numpy()) if hasattr(opt, "loss_scale") else 0.0,
        "loss_scale_dynamic": bool(getattr(opt, "dynamic", False)),
    }
    remote = _is_uri(cfg.output_dir)
    # Keras writes HDF5 and SavedModels to local files: stage them, then copy to the URI.
    out = Path(tempfile.mkdtemp(prefix="kfp-mlops-model-")) if remote else Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    # No optimizer in the file: Horovod's wrapper class is not needed to serve or fine-tune.
    model.save(str(out / MODEL_FILE), include_optimizer=False, save_format="h5")
    if cfg.export_saved_model:
        model.save(str(out / SAVED_MODEL_DIR), include_optimizer=False, save_format="tf")
    probe_x = x_val[: cfg.probe_rows]
    probe = {
        "inputs": probe_x.tolist(),
        "outputs": np.asarray(model.predict(probe_x, verbose=0), dtype="float64").tolist(),
    }
    _write_json(str(out / PROBE_FILE), probe)
    _write_json(str(out / HISTORY_FILE), history)
    _write_json(str(out / METRICS_FILE), metrics)
    if mlflow:
        mlflow.log_metrics(
            {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))},
            step=len(history),
        )
        for name in (MODEL_FILE, HISTORY_FILE, METRICS_FILE):
            mlflow.log_artifact(str(out / name))
        mlflow.end_run()
    if remote:
        upload_dir(out, cfg.output_dir)
        shutil.rmtree(out, ignore_errors=True)
    log.info("done: val_accuracy=%.4f after %d epochs", val_accuracy, len(history))
    return metrics


def main(argv: list[str] | None = None) -> int:
    """Entry point of one worker process; writes ``error_rank<r>.txt`` on failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="WorkerConfig JSON written by the launcher")
    args = parser.parse_args(argv)
    # TensorFlow 2.15 ships Keras 2 as tf.keras; TF_USE_LEGACY_KERAS=1 (right for the pipeline
    # env's TF 2.21) would make it look for the tf_keras package, which the trainer env lacks.
    os.environ["TF_USE_LEGACY_KERAS"] = "0"
    rank = _env_rank()
    cfg_data = read_config(args.config)
    log_dir = Path(cfg_data.get("log_dir", "."))
    _setup_logging(log_dir, rank)
    (log_dir / f"pid_rank{rank}").write_text(str(os.getpid()), encoding="utf-8")
    try:
        cfg = WorkerConfig.from_dict(cfg_data)
        train(cfg)
    except BaseException as exc:
        # The launcher puts this text into the error the pipeline shows.
        text = "".join(traceback.format_exception(exc))
        (log_dir / f"error_rank{rank}.txt").write_text(text, encoding="utf-8")
        log.error("worker %d failed: %s", rank, exc)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
