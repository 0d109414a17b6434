"""One Horovod worker: ``horovodrun ... python -m ...train_model.worker --config config.json``.

Runs in the trainer env (TensorFlow 2.15.1, Horovod 0.28.1), so it imports only TensorFlow,
NumPy, pandas, Horovod, mlflow-skinny and the standard library, plus the shared model
builder; never kfp or scikit-learn.

Every rank trains on its own part of the training rows: ``rows[rank::size]`` of a small split
held in memory, or its own row groups of a shard directory (or large file) streamed in
batches (:mod:`.worker_stream`); gradients are
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
import json
import logging
import os
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.common.tf import import_tf
from kfp_mlops.components.training.model_fn import build, default_loss, resolve
from kfp_mlops.components.training.train_model.config import (
    STATE_FILE,
    WorkerConfig,
    resolve_precision,
)
from kfp_mlops.components.training.train_model.worker_callbacks import callbacks
from kfp_mlops.components.training.train_model.worker_data import (
    WorkerData,
    is_uri,
    load_data,
    read_json,
    weights_digest,
    write_json,
)
from kfp_mlops.components.training.train_model.worker_outputs import (
    final_metrics,
    headline,
    save_outputs,
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


def read_config(path: str) -> dict[str, Any]:
    """The WorkerConfig JSON at a local path or a URI TensorFlow can read (``gs://``)."""
    if not is_uri(path):
        return json.loads(Path(path).read_text(encoding="utf-8"))
    tf = import_tf()
    with tf.io.gfile.GFile(path, "r") as handle:
        return json.loads(handle.read())


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


def _compile(tf: Any, hvd: Any, cfg: WorkerConfig, task: TaskSpec, policy: str, width: int):
    """Build the user's (or a built-in) model for the task and compile it with our optimizer."""
    model_fn = resolve(cfg.model_fn)
    model = build(model_fn, task, cfg.build_params(), width)
    opt = _make_optimizer(tf, hvd, cfg, policy)
    loss = model_fn.loss(task) if model_fn.loss else default_loss(task, cfg.robust_loss)
    metrics = model_fn.metrics(task) if model_fn.metrics else _default_metrics(tf, task)
    model.compile(optimizer=opt, loss=loss, metrics=metrics, jit_compile=False)
    # Create the optimizer slots now, so a checkpoint restores them instead of deferring.
    opt.build(model.trainable_variables)
    return model, opt


def _default_metrics(tf: Any, task: TaskSpec) -> list[Any]:
    if task.task_type == "regression":
        return [
            tf.keras.metrics.RootMeanSquaredError(name="rmse"),
            tf.keras.metrics.MeanAbsoluteError(name="mae"),
        ]
    return ["accuracy"]


def _restore(tf: Any, hvd_tf: Any, cfg: WorkerConfig, model: Any, opt: Any, shape: dict):
    """Rank 0 decides whether and from where to resume; all ranks then read the same files."""
    checkpoint = tf.train.Checkpoint(model=model, optimizer=opt)
    state_path = f"{cfg.checkpoint_dir.rstrip('/')}/{STATE_FILE}"
    state = read_json(state_path) if hvd_tf.rank() == 0 else None
    state = hvd_tf.broadcast_object(state, root_rank=0, name="resume_state")
    if state and state.get("shape", shape) != shape:
        raise ValueError(
            f"the checkpoint in {cfg.checkpoint_dir} is for a model of shape {state.get('shape')}, "
            f"not {shape}; pass a new checkpoint_uri (or delete that one) to train this model"
        )
    initial_epoch = 0
    if state:
        checkpoint.restore(state["checkpoint"]).assert_existing_objects_matched()
        initial_epoch = int(state["epoch"])
        log.info("resumed from %s (epoch %d)", state["checkpoint"], initial_epoch)
    # Identical starting point on every rank, before the first step.
    hvd_tf.broadcast_variables(model.variables, root_rank=0)
    opt_vars = opt.variables
    hvd_tf.broadcast_variables(list(opt_vars() if callable(opt_vars) else opt_vars), root_rank=0)
    return checkpoint, state, initial_epoch


def train(cfg: WorkerConfig) -> dict[str, Any]:
    """Train on this rank's shard; rank 0 writes the model and returns the final metrics."""
    tf = import_tf()
    import horovod.tensorflow as hvd_tf
    import horovod.tensorflow.keras as hvd

    rank, size, policy = _init(tf, hvd, cfg)
    task = cfg.task_spec()
    data = load_data(cfg, task, rank, size)
    val_ds = data.val_ds(tf, cfg.intra_op_threads)

    if task.feature_kind == "tabular" and not task.feature_names:
        # A spec without feature names (a config built by hand): the split's columns are.
        task = TaskSpec.from_json({**task.to_json(), "feature_names": list(data.names)})
    tf.keras.utils.set_random_seed(cfg.seed)
    model, opt = _compile(tf, hvd, cfg, task, policy, data.num_features)
    shape = _model_shape(cfg, task, data)
    checkpoint, state, initial_epoch = _restore(tf, hvd_tf, cfg, model, opt, shape)
    state = state or {}
    train_ds = data.train_ds(tf, cfg.seed + rank, initial_epoch, cfg.intra_op_threads)
    lr_cls, throughput_cls, ckpt_cls, mlflow_cls = callbacks(tf)
    lr_controller = lr_cls(cfg, size, state.get("lr_state"))
    throughput = throughput_cls()
    fit_callbacks = _rank_callbacks(tf, hvd, cfg, lr_controller, throughput)
    history: list[dict[str, Any]] = list(state.get("history", []))
    mlflow = run = None
    if rank == 0:
        if cfg.tracking_uri:
            params = _run_params(cfg, task, policy, size, data)
            mlflow, run = _start_mlflow(cfg, params, state.get("mlflow_run_id"))
        tf.io.gfile.makedirs(cfg.checkpoint_dir)
        manager = tf.train.CheckpointManager(checkpoint, cfg.checkpoint_dir, max_to_keep=2)
        extra = {"shape": shape, "mlflow_run_id": run.info.run_id if run else ""}
        fit_callbacks.append(ckpt_cls(manager, cfg, lr_controller, history, extra))
        if mlflow:
            fit_callbacks.append(mlflow_cls(mlflow))

    fit_seconds = _fit(model, cfg, data, train_ds, val_ds, initial_epoch, fit_callbacks)
    _write_weights_digest(model, Path(cfg.log_dir), rank)
    if rank != 0:
        return {}
    metrics = final_metrics(model, opt, data, task, history, throughput, size)
    metrics.update(
        fit_seconds=fit_seconds,
        precision_policy=policy,
        resumed_from_epoch=initial_epoch,
        streaming=cfg.streaming,
        mlflow_run_id=run.info.run_id if run else "",
    )
    save_outputs(model, cfg, data, history, metrics, mlflow)
    log.info("done: %s after %d epochs", headline(metrics, task), len(history))
    return metrics


def _init(tf: Any, hvd: Any, cfg: WorkerConfig) -> tuple[int, int, str]:
    """Start Horovod, pin this rank's devices and set the global precision policy.

    Returns:
        This rank, the world size and the precision policy in force.
    """
    hvd.init()
    rank, size = hvd.rank(), hvd.size()
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
    return rank, size, policy


def _model_shape(cfg: WorkerConfig, task: TaskSpec, data: WorkerData) -> dict[str, Any]:
    """What a checkpoint must match to be resumed by this run."""
    return {
        "num_features": data.num_features,
        "num_classes": task.num_classes,
        "hidden_units": list(cfg.hidden_units),
        "model_fn": cfg.model_fn,
    }


def _rank_callbacks(
    tf: Any, hvd: Any, cfg: WorkerConfig, lr_controller: Any, throughput: Any
) -> list[Any]:
    """The callbacks every rank runs, in the order they must run."""
    return [
        hvd.callbacks.BroadcastGlobalVariablesCallback(0),
        # Must come before every callback that reads the epoch's metrics.
        hvd.callbacks.MetricAverageCallback(),
        lr_controller,
        throughput,
        tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.early_stopping_patience),
    ]


def _fit(
    model: Any,
    cfg: WorkerConfig,
    data: WorkerData,
    train_ds: Any,
    val_ds: Any,
    initial_epoch: int,
    fit_callbacks: list[Any],
) -> float:
    """Fit from ``initial_epoch`` to ``cfg.epochs`` (nothing if already there); the seconds."""
    start = time.perf_counter()
    if initial_epoch < cfg.epochs:
        model.fit(
            train_ds,
            epochs=cfg.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=data.steps_per_epoch,
            validation_data=val_ds,
            callbacks=fit_callbacks,
            # Per-row loss weights; Keras wants int keys for every class 0..k-1.
            class_weight={int(c): w for c, w in cfg.class_weight.items()} or None,
            verbose=0,
        )
    return time.perf_counter() - start


def _write_weights_digest(model: Any, log_dir: Path, rank: int) -> None:
    """Write ``weights_rank<r>.json``: the weights' digest and this rank's peak memory."""
    # Peak resident memory of this rank (what bounded streaming is measured by).
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    digest = {"rank": rank, "peak_rss_mb": peak_mb, **weights_digest(model)}
    write_json(str(log_dir / f"weights_rank{rank}.json"), digest)


def _run_params(
    cfg: WorkerConfig, task: TaskSpec, policy: str, size: int, data: WorkerData
) -> dict:
    skip = {"train_path", "validation_path", "output_dir", "log_dir", "feature_names", "task"}
    return {
        "workers": size,
        "precision_policy": policy,
        "num_features": data.num_features,
        "num_classes": task.num_classes,
        "task_type": task.task_type,
        "train_rows": data.train_rows,
        "streaming": cfg.streaming,
        **{k: v for k, v in vars(cfg).items() if k not in skip},
    }


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
