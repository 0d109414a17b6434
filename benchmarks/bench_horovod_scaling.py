"""Horovod data-parallel scaling: 1 process vs 2 processes on the same data and global batch.

Each process is pinned to one TensorFlow intra-op and one inter-op thread (OMP_NUM_THREADS=1),
so 2 processes use about 2 cores where 1 process uses about 1: the ratio of training
samples/second (validation and the first, graph-tracing epoch excluded; measured by the
workers themselves) shows what the allreduce costs. Gradient accumulation is off by default,
so every step allreduces; ``--accum 4`` measures the component's default (one grouped
allreduce every 4 batches).

Two models side by side: the MLP 256-256 on 64 features, where communication dominates, and
``builtin:cnn`` (conv 32-64) on the digits as 8x8 images at a large global batch, where
compute does; each prints its compute-to-allreduce time estimate. Beside them, the
library's overhead: ``train_model``'s single worker against a plain ``model.fit`` of the same
MLP and data in one trainer-env process (target >= 0.95x samples/s).

A second section compares mixed_float16 with float32 step throughput on one GPU worker; it
runs only when a GPU is visible and prints "skipped: no GPU" otherwise.

    python -m benchmarks.bench_horovod_scaling [--quick] [--rows N] [--epochs N] [--batch N]
        [--accum N]
"""

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from kfp_mlops.components.training.train_model import launcher
from kfp_mlops.components.training.train_model.config import WorkerConfig

TARGET_RATIO = 1.7


def make_splits(rows: int, features: int, base: Path, seed: int = 0) -> tuple[str, str]:
    """Synthetic binary task (a noisy linear rule) as train/validation Parquet files."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features)).astype("float32")
    w = rng.standard_normal(features)
    y = ((x @ w + 0.5 * rng.standard_normal(rows)) > 0).astype("int64")
    frame = pd.DataFrame(x, columns=[f"f{i:02d}" for i in range(features)])
    frame["label"] = y
    cut = int(rows * 0.9)
    frame.iloc[:cut].to_parquet(base / "train.parquet", index=False)
    frame.iloc[cut:].to_parquet(base / "validation.parquet", index=False)
    return str(base / "train.parquet"), str(base / "validation.parquet")


def image_splits(copies: int, base: Path) -> tuple[tuple[str, str], dict]:
    """builtin:digits_images as processed splits (pixels), the training split repeated
    ``copies`` times so an epoch is long enough to time; returns the paths and the task."""
    from kfp_mlops.components.data.load_dataset.images import digits_images
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess

    result = split_and_preprocess(digits_images(), seed=0)
    train = pd.concat([result.train] * copies, ignore_index=True)
    train.to_parquet(base / "img_train.parquet", index=False)
    result.validation.to_parquet(base / "img_validation.parquet", index=False)
    paths = (str(base / "img_train.parquet"), str(base / "img_validation.parquet"))
    return paths, result.preprocessor.task_spec.to_json()


def run(
    splits: tuple[str, str],
    base: Path,
    name: str,
    workers: int,
    epochs: int,
    batch: int,
    precision: str = "float32",
    accum: int = 1,
    model: dict | None = None,
) -> dict:
    """One Horovod job; returns rank 0's metrics. ``model``: WorkerConfig overrides."""
    model = model or {"num_classes": 2, "hidden_units": [256, 256]}
    config = WorkerConfig(
        train_path=splits[0],
        validation_path=splits[1],
        output_dir=str(base / name / "model"),
        log_dir=str(base / name / "logs"),
        checkpoint_dir=str(base / name / "ckpt"),
        **model,
        dropout=0.0,
        epochs=epochs,
        batch_size=batch,
        warmup_epochs=0,
        grad_accum_steps=accum,
        early_stopping_patience=epochs + 1,
        precision=precision,
        intra_op_threads=1,
        inter_op_threads=1,
        export_saved_model=False,
    )
    return launcher.launch(config, workers).metrics


#: A plain Keras fit of the same MLP on the same split, in the trainer env's TensorFlow, one
#: thread, samples/s over the epochs after the first (graph tracing), as the workers count.
_PLAIN_FIT = """
import sys, time
import pandas as pd, tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
frame = pd.read_parquet(sys.argv[1])
x = frame.drop(columns=["label"]).to_numpy("float32")
y = frame["label"].to_numpy("float32")
epochs, batch = int(sys.argv[2]), int(sys.argv[3])
model = tf.keras.Sequential([tf.keras.Input((x.shape[1],))] + [
    tf.keras.layers.Dense(256, activation="relu") for _ in range(2)
] + [tf.keras.layers.Dense(1, activation="sigmoid")])
model.compile(tf.keras.optimizers.Adam(1e-3), "binary_crossentropy", ["accuracy"])
times = []
class Clock(tf.keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        times.append(time.perf_counter() - self.t)
model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0, callbacks=[Clock()], shuffle=True)
print(len(x) * (epochs - 1) / sum(times[1:]))
"""


def plain_fit(train_path: str, epochs: int, batch: int) -> float:
    """Samples/s of a plain ``model.fit`` of the MLP (no Horovod, no library) in one process."""
    import subprocess  # nosec B404 - the trainer env's own interpreter, fixed arguments

    # The workers' environment (Keras 2 of TensorFlow 2.15, one thread, no GPU).
    env = {**launcher.worker_env(launcher.trainer_python(), 1), "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run(  # nosec B603
        [launcher.trainer_python(), "-c", _PLAIN_FIT, train_path, str(epochs), str(batch)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return float(out.stdout.strip().splitlines()[-1])


def scaling(label: str, one: dict, two: dict, batch: int) -> None:
    """Print samples/s of 1 and 2 processes, the ratio, and compute vs allreduce per step.

    The split is estimated from the two runs: with the same global batch each of 2
    processes computes half of what 1 process does, so ideal 2-process step time is half
    the 1-process one and the rest is communication (allreduce and its negotiation).
    """
    ratio = two["samples_per_second"] / one["samples_per_second"]
    step_one = batch / one["samples_per_second"]
    step_two = batch / two["samples_per_second"]
    compute = step_one / 2
    comm = max(step_two - compute, 1e-9)
    verdict = "meets" if ratio >= TARGET_RATIO else "below"
    print(f"  {label}")
    print(f"    1 process  : {one['samples_per_second']:10.0f} samples/s")
    print(f"    2 processes: {two['samples_per_second']:10.0f} samples/s")
    print(f"    speed-up 2 vs 1: {ratio:.2f}x ({verdict} the {TARGET_RATIO}x target)")
    print(
        f"    per step: compute ~{compute * 1e3:.1f} ms, allreduce and other 2-process "
        f"overhead ~{comm * 1e3:.1f} ms (compute-to-allreduce {compute / comm:.1f}:1, "
        "estimated from the two runs)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, few epochs")
    parser.add_argument(
        "--rows", type=int, default=0, help="training rows (default 200k, 50k quick)"
    )
    parser.add_argument("--epochs", type=int, default=0, help="epochs (default 5, 4 quick)")
    parser.add_argument("--batch", type=int, default=1024, help="global batch size")
    parser.add_argument("--accum", type=int, default=1, help="gradient accumulation steps")
    args = parser.parse_args(argv)
    rows = args.rows or (50_000 if args.quick else 200_000)
    epochs = args.epochs or (4 if args.quick else 5)
    batch = args.batch

    cores = launcher.cpu_count()
    gpus = launcher.visible_gpus()
    with tempfile.TemporaryDirectory(prefix="bench_horovod_") as tmp:
        base = Path(tmp)
        splits = make_splits(rows, 64, base)
        print(
            f"Horovod scaling on CPU: {rows} rows x 64 features, MLP 256-256, global batch {batch},"
        )
        print(
            f"{epochs} epochs, gradient accumulation {args.accum}, 1 thread per process "
            f"({cores} CPU cores here)"
        )
        if cores < 2:
            print("  skipped: fewer than 2 CPU cores, cannot run 2 processes side by side")
        else:
            # The scaling section is about CPU processes: hide GPUs from its workers.
            saved = os.environ.get("CUDA_VISIBLE_DEVICES")
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
            try:
                one = run(splits, base, "np1", 1, epochs, batch, accum=args.accum)
                two = run(splits, base, "np2", 2, epochs, batch, accum=args.accum)
                scaling("MLP 256-256 on 64 features (communication dominates)", one, two, batch)
                plain = plain_fit(splits[0], epochs, batch)
                overhead = one["samples_per_second"] / plain
                print(
                    f"  overhead: train_model with 1 worker {one['samples_per_second']:.0f} vs "
                    f"a plain model.fit {plain:.0f} samples/s: {overhead:.2f}x "
                    f"({'meets' if overhead >= 0.95 else 'below'} the 0.95x target)"
                )
                # Compute dominates: builtin:cnn (conv 32-64) on the digits as 8x8 images.
                img, task = image_splits(4 if args.quick else 12, base)
                cnn = {
                    "num_classes": 10,
                    "model_fn": "builtin:cnn",
                    "task": task,
                    "feature_names": task["feature_names"],
                    "hidden_units": [32, 64],
                }
                cnn_batch = 2048
                c1 = run(img, base, "cnn1", 1, epochs, cnn_batch, accum=args.accum, model=cnn)
                c2 = run(img, base, "cnn2", 2, epochs, cnn_batch, accum=args.accum, model=cnn)
                scaling(
                    f"builtin:cnn 32-64 on 8x8 digit images, global batch {cnn_batch} "
                    "(compute dominates)",
                    c1,
                    c2,
                    cnn_batch,
                )
            finally:
                if saved is None:
                    os.environ.pop("CUDA_VISIBLE_DEVICES")
                else:
                    os.environ["CUDA_VISIBLE_DEVICES"] = saved
            print("  note: the cores are shared with whatever else runs on this machine")

        print("Mixed precision (1 GPU worker): mixed_float16 vs float32")
        if gpus == 0:
            print("  skipped: no GPU")
            return 0
        fp32 = run(splits, base, "gpu_fp32", 1, epochs, batch * 8, precision="float32")
        fp16 = run(splits, base, "gpu_fp16", 1, epochs, batch * 8, precision="mixed_float16")
        if fp16["precision_policy"] != "mixed_float16":
            print("  skipped: the trainer env's TensorFlow sees no GPU")
            return 0
        speedup = fp16["samples_per_second"] / fp32["samples_per_second"]
        print(f"  float32      : {fp32['samples_per_second']:10.0f} samples/s")
        print(f"  mixed_float16: {fp16['samples_per_second']:10.0f} samples/s")
        print(f"  mixed_float16 vs float32 throughput: {speedup:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
