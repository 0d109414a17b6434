"""Benchmark of distill_model on the bundled breast_cancer and wine sets.

Per dataset, in one run: a 256-128 MLP teacher is trained in-process, distill_model's core
distills it into a 32-16 student (800 optimizer steps, 400 with ``--quick``), and both go
through prune_model (50% sparsity, a quarter of those steps) and quantize_model (int8)
with the components' cores. Compared side by side:

* teacher / student (Keras): parameters, model.h5 bytes, test accuracy;
* their float32 TFLite, and teacher+prune+int8 vs student+prune+int8 TFLite: bytes,
  gzipped bytes, test accuracy (LiteRT) and batch-1 p50 latency (LiteRT, 1 thread, rounds
  interleaved so machine load hits all variants alike).

Prints the target (student+prune+int8 >= 3x smaller gzipped than teacher+prune+int8 with
<= 1 pp accuracy loss against it) as met / not met. ``--quick`` trains fewer epochs and
times fewer runs. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

DATASETS = ("breast_cancer", "wine")
TEACHER_UNITS = [256, 128]
STUDENT_UNITS = "32,16"
SPARSITY = 0.5
TARGET_RATIO = 3.0
TARGET_MAX_DROP_PP = 1.0


def _teacher(data: dict[str, str], model_dir: Path, epochs: int) -> None:
    from kfp_mlops.components.common.artifacts import KERAS_FILE, load_xy
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.training.model import ModelConfig, build_model, loss_name

    tf = import_tf()
    tf.keras.utils.set_random_seed(0)
    x, y, _ = load_xy(data["train"])
    xv, yv, _ = load_xy(data["validation"])
    classes = int(y.max()) + 1
    model = build_model(x.shape[1], classes, ModelConfig(hidden_units=TEACHER_UNITS, dropout=0.2))
    model.compile(tf.keras.optimizers.Adam(1e-3), loss=loss_name(classes), metrics=["accuracy"])
    model.fit(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=32, verbose=0)
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(model_dir / KERAS_FILE), include_optimizer=False)


def _variants(
    root: Path, data: dict[str, str], epochs: int, distill_epochs: int, prune_epochs: int
) -> dict:
    """Build every model of one dataset; returns the distill result and the TFLite paths."""
    from kfp_mlops.components.common.artifacts import load_keras
    from kfp_mlops.components.common.model_dir import TFLITE_FILE
    from kfp_mlops.components.optimization.distill_model.core import distill
    from kfp_mlops.components.optimization.prune_model.core import prune
    from kfp_mlops.components.optimization.quantize_model.core import quantize
    from kfp_mlops.components.optimization.tflite import tflite_convert

    _teacher(data, root / "teacher", epochs)
    splits = (data["train"], data["validation"], data["test"])
    common = {"gate_mode": "mark", "latency_runs": 20}
    distilled = distill(
        str(root / "teacher"),
        *splits,
        str(root / "student"),
        student_hidden_units=STUDENT_UNITS,
        epochs=distill_epochs,
        **common,
    )
    for who in ("teacher", "student"):
        (root / f"{who}_f32").mkdir()
        content = tflite_convert(load_keras(str(root / who)))
        (root / f"{who}_f32" / TFLITE_FILE).write_bytes(content)
        prune(
            str(root / who),
            *splits,
            str(root / f"{who}_pruned"),
            final_sparsity=SPARSITY,
            epochs=prune_epochs,
            **common,
        )
        quantize(str(root / f"{who}_pruned"), *splits, str(root / f"{who}_pruned_int8"), **common)
    return distilled


def _bench(name: str, quick: bool) -> dict:
    """One dataset: train, distill, prune, quantize, measure; prints its tables."""
    from kfp_mlops.components.common.artifacts import load_xy
    from kfp_mlops.components.common.inference import TFLiteModel
    from kfp_mlops.components.common.model_dir import TFLITE_FILE
    from kfp_mlops.components.data.load_dataset.core import load_builtin
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess
    from kfp_mlops.components.optimization.common import accuracy, gzipped_size, p50_latency_ms

    epochs, steps = (40, 400) if quick else (80, 800)
    rounds, runs = (3, 300) if quick else (7, 2000)
    with tempfile.TemporaryDirectory(prefix=f"bench_distill_{name}_") as tmp:
        root = Path(tmp)
        split = split_and_preprocess(load_builtin(name), target_column="target")
        data = {}
        for part in ("train", "validation", "test"):
            data[part] = str(root / f"{part}.parquet")
            getattr(split, part).to_parquet(data[part], index=False)
        # The same number of optimizer steps on every set: wine has 1/3 of the rows.
        per_epoch = math.ceil(len(split.train) / 32)
        distill_epochs = math.ceil(steps / per_epoch)
        prune_epochs = math.ceil(steps / 4 / per_epoch)
        distilled = _variants(root, data, epochs, distill_epochs, prune_epochs)
        x_test, y_test, _ = load_xy(data["test"])
        names = ["teacher_f32", "student_f32", "teacher_pruned_int8", "student_pruned_int8"]
        runtimes = {v: TFLiteModel((root / v / TFLITE_FILE).read_bytes()) for v in names}
        results = {}
        for v in names:
            content = (root / v / TFLITE_FILE).read_bytes()
            acc = accuracy(runtimes[v].predict(x_test), y_test)
            results[v] = {"bytes": len(content), "gz": gzipped_size(content), "accuracy": acc}
        samples: dict[str, list[float]] = {v: [] for v in names}
        for _ in range(rounds):
            for v in names:
                samples[v].append(p50_latency_ms(runtimes[v].runner(x_test[:1]), runs=runs))
    for v in names:
        results[v]["latency"] = statistics.median(samples[v])
    m = distilled.metrics
    print(
        f"\n[{name}] {len(split.train)} train / {len(x_test)} test rows (1 row = "
        f"{100 / len(x_test):.2f} pp); teacher {TEACHER_UNITS}, student [{STUDENT_UNITS}], "
        f"distilled {distill_epochs} epochs (alpha 0.1, T 4), prune {SPARSITY:.0%}, int8"
    )
    print(
        f"keras: params {m['teacher_params']:.0f} -> {m['student_params']:.0f} "
        f"({m['params_ratio']:.1f}x), model.h5 {m['teacher_size_bytes']:.0f} -> "
        f"{m['size_bytes']:.0f} B ({m['size_ratio']:.2f}x), accuracy "
        f"{m['teacher_accuracy']:.4f} -> {m['accuracy']:.4f} ({m['accuracy_change_pp']:+.2f} pp)"
    )
    header = f"{'variant':<20} {'bytes':>8} {'gzipped':>8} {'accuracy':>9} {'p50 ms':>8}"
    print(header + "\n" + "-" * len(header))
    for v in names:
        r = results[v]
        print(f"{v:<20} {r['bytes']:>8} {r['gz']:>8} {r['accuracy']:>9.4f} {r['latency']:>8.4f}")
    pairs = (("float32", "teacher_f32", "student_f32"), ("prune+int8", *names[2:]))
    for label, t, s in pairs:
        rt, rs = results[t], results[s]
        print(
            f"student/teacher {label:<10}: {rt['bytes'] / rs['bytes']:.2f}x smaller, gzipped "
            f"{rt['gz'] / rs['gz']:.2f}x, accuracy {(rs['accuracy'] - rt['accuracy']) * 100:+.2f}"
            f" pp, latency {rs['latency'] / rt['latency']:.2f}x"
        )
    teacher, student = results["teacher_pruned_int8"], results["student_pruned_int8"]
    ratio = teacher["gz"] / student["gz"]
    drop = (teacher["accuracy"] - student["accuracy"]) * 100 + 0.0  # no "-0.00"
    met = ratio >= TARGET_RATIO and drop <= TARGET_MAX_DROP_PP
    print(
        f"target: student+prune+int8 >= {TARGET_RATIO:.0f}x smaller gzipped than "
        f"teacher+prune+int8 with <= {TARGET_MAX_DROP_PP} pp accuracy loss: got {ratio:.2f}x, "
        f"{0.0 - drop:+.2f} pp -> {'met' if met else 'NOT met'}",
        flush=True,
    )
    return {"ratio": ratio, "drop_pp": drop, "met": met}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark on every bundled classification set; returns 0 (nothing asserted)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and timed runs")
    parser.add_argument("--dataset", choices=DATASETS, action="append", help="default: all")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING)
    start = time.perf_counter()
    summary = {name: _bench(name, args.quick) for name in args.dataset or DATASETS}
    print("\nsummary (student+prune+int8 vs teacher+prune+int8, gzipped):")
    for name, s in summary.items():
        print(
            f"  {name:<14} {s['ratio']:.2f}x smaller, {0.0 - s['drop_pp']:+.2f} pp -> "
            f"{'met' if s['met'] else 'NOT met'}"
        )
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
