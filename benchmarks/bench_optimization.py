"""Benchmark of the optimization components on the bundled breast-cancer data.

Trains a 256-128 MLP in-process (large enough for compression to matter), then builds,
in the same run, four TFLite variants with the components' cores and compares them side
by side with the LiteRT interpreter:

* float32  - plain TFLite conversion of the trained model (the reference)
* pruned   - float32 TFLite of prune_model's stripped model
* int8     - quantize_model, full integer (int8 input/output)
* pruned+int8 - quantize_model on prune_model's output

For each: gzipped size and its ratio to float32, test accuracy and its change in
percentage points vs the Keras model, and batch-1 p50 latency and its ratio to float32
(rounds interleaved across variants so machine load hits all of them alike). Prints the
targets (pruned+int8 >= 12x smaller gzipped with <= 0.5 pp accuracy loss; int8 latency
<= 0.7x float32) as met / not met. ``--quick`` trains and fine-tunes for fewer epochs and
times fewer runs. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_COMPRESSION = 12.0
TARGET_MAX_DROP_PP = 0.5
TARGET_INT8_LATENCY_RATIO = 0.7
HIDDEN_UNITS = [256, 128]
FINAL_SPARSITY = 0.9


def _train(splits_dir: Path, model_dir: Path, epochs: int) -> None:
    from kfp_mlops.components.common.artifacts import KERAS_FILE, load_xy
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.training.model import ModelConfig, build_model, loss_name

    tf = import_tf()
    tf.keras.utils.set_random_seed(0)
    x, y, _ = load_xy(str(splits_dir / "train.parquet"))
    xv, yv, _ = load_xy(str(splits_dir / "validation.parquet"))
    model = build_model(x.shape[1], 2, ModelConfig(hidden_units=HIDDEN_UNITS, dropout=0.2))
    model.compile(tf.keras.optimizers.Adam(1e-3), loss=loss_name(2), metrics=["accuracy"])
    model.fit(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=32, verbose=0)
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(model_dir / KERAS_FILE), include_optimizer=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and timed runs")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING)

    from kfp_mlops.components.common.artifacts import load_keras, load_xy
    from kfp_mlops.components.common.inference import TFLiteModel
    from kfp_mlops.components.common.model_dir import TFLITE_FILE
    from kfp_mlops.components.data.load_dataset.core import load_builtin
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess
    from kfp_mlops.components.optimization.common import (
        accuracy,
        gzipped_size,
        keras_outputs,
        kernel_sparsity,
        p50_latency_ms,
    )
    from kfp_mlops.components.optimization.prune_model.core import prune
    from kfp_mlops.components.optimization.quantize_model.core import quantize
    from kfp_mlops.components.optimization.tflite import tflite_convert

    train_epochs, prune_epochs = (25, 4) if args.quick else (60, 10)
    rounds, runs = (3, 300) if args.quick else (7, 2000)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_opt_") as tmp:
        root = Path(tmp)
        split = split_and_preprocess(load_builtin("breast_cancer"), target_column="target")
        data = {}
        for name in ("train", "validation", "test"):
            path = root / f"{name}.parquet"
            getattr(split, name).to_parquet(path, index=False)
            data[name] = str(path)
        _train(root, root / "model", train_epochs)
        model = load_keras(str(root / "model"))
        x_test, y_test, _ = load_xy(data["test"])
        keras_accuracy = accuracy(keras_outputs(model, x_test), y_test)
        print(
            f"data: breast_cancer, {len(split.train)} train / {len(x_test)} test rows; "
            f"model {HIDDEN_UNITS} ({model.count_params()} parameters), Keras test accuracy "
            f"{keras_accuracy:.4f} (1 test row = {100 / len(x_test):.2f} pp)",
            flush=True,
        )

        common = {"gate_mode": "mark", "latency_runs": 50}
        splits_args = (data["train"], data["validation"], data["test"])
        (root / "float32").mkdir()
        (root / "float32" / TFLITE_FILE).write_bytes(tflite_convert(model))
        pruned = prune(
            str(root / "model"),
            *splits_args,
            str(root / "pruned"),
            final_sparsity=FINAL_SPARSITY,
            epochs=prune_epochs,
            **common,
        )
        quantize(str(root / "model"), *splits_args, str(root / "int8"), **common)
        quantize(str(root / "pruned"), *splits_args, str(root / "pruned_int8"), **common)
        sparsity = kernel_sparsity(load_keras(str(root / "pruned")))[0]

        variants = ["float32", "pruned", "int8", "pruned_int8"]
        runtimes = {v: TFLiteModel((root / v / TFLITE_FILE).read_bytes()) for v in variants}
        results = {}
        for v in variants:
            content = (root / v / TFLITE_FILE).read_bytes()
            acc = accuracy(runtimes[v].predict(x_test), y_test)
            results[v] = {"bytes": len(content), "gz": gzipped_size(content), "accuracy": acc}
        # Interleaved rounds: each variant's latency is the median of its per-round p50s.
        samples: dict[str, list[float]] = {v: [] for v in variants}
        row = x_test[:1]
        for _ in range(rounds):
            for v in variants:
                samples[v].append(p50_latency_ms(runtimes[v].runner(row), runs=runs, warmup=50))

    base = results["float32"]
    base_latency = statistics.median(samples["float32"])
    print(
        f"\npruned: final_sparsity {FINAL_SPARSITY}, achieved {sparsity:.4f} over Dense kernels "
        f"({prune_epochs} fine-tuning epochs; prune_model gate blessed={pruned.blessed})"
    )
    print(f"latency: LiteRT interpreter, 1 thread, batch 1, median of {rounds} x {runs} runs\n")
    header = (
        f"{'variant':<12} {'bytes':>8} {'gzipped':>8} {'gz ratio':>9} {'accuracy':>9} "
        f"{'change pp':>10} {'p50 ms':>8} {'lat ratio':>10}"
    )
    print(header)
    print("-" * len(header))
    for v in variants:
        r = results[v]
        latency = statistics.median(samples[v])
        r["ratio"] = base["gz"] / r["gz"]
        r["change_pp"] = (r["accuracy"] - keras_accuracy) * 100
        r["latency_ratio"] = latency / base_latency
        print(
            f"{v:<12} {r['bytes']:>8} {r['gz']:>8} {r['ratio']:>8.2f}x {r['accuracy']:>9.4f} "
            f"{r['change_pp']:>+10.2f} {latency:>8.4f} {r['latency_ratio']:>9.2f}x"
        )

    both = results["pruned_int8"]
    size_met = both["ratio"] >= TARGET_COMPRESSION and -both["change_pp"] <= TARGET_MAX_DROP_PP
    latency_met = results["int8"]["latency_ratio"] <= TARGET_INT8_LATENCY_RATIO
    print(
        f"\ntarget: pruned+int8 >= {TARGET_COMPRESSION:.0f}x smaller gzipped than float32 "
        f"TFLite with <= {TARGET_MAX_DROP_PP} pp accuracy loss: got {both['ratio']:.2f}x, "
        f"{both['change_pp']:+.2f} pp -> {'met' if size_met else 'NOT met'}"
    )
    print(
        f"target: int8 batch-1 latency <= {TARGET_INT8_LATENCY_RATIO}x float32: got "
        f"{results['int8']['latency_ratio']:.2f}x -> {'met' if latency_met else 'NOT met'}"
    )
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
