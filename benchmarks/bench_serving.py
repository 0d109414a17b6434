"""Benchmark of the model server: Keras backend vs an int8 TFLite backend, side by side.

Trains a small classifier on the bundled breast-cancer data, converts it to a fully int8
TFLite model (``tf.lite.TFLiteConverter`` with a representative dataset), starts the real
server (``kfp_mlops.components.deployment.serve``) for each backend on loopback, and sends
a bounded number of one-row V1 predictions from 4 concurrent clients (keep-alive
``http.client``). Prints p50/p95/p99 latency and throughput per backend from the same run,
their ratios, and whether the targets (p50 < 5 ms, p99 < 20 ms) are met. ``--quick`` sends
300 requests per backend instead of 2000.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from kfp_mlops.components.deployment import processes
from kfp_mlops.components.deployment.smoke import probe, wait_ready

TARGET_P50_MS = 5.0
TARGET_P99_MS = 20.0
CLIENTS = 4
WARMUP = 50


def build_models(folder: Path) -> tuple[Path, Path, Path, list[dict]]:
    """Train the model, save model.h5 and an int8 model.tflite; returns dirs, preprocessor, rows."""
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.data.load_dataset.core import load_builtin
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess
    from kfp_mlops.components.optimization.common import tflite_convert
    from kfp_mlops.components.training.model import ModelConfig, build_model, loss_name

    tf = import_tf()
    tf.keras.utils.set_random_seed(0)
    frame = load_builtin("breast_cancer")
    split = split_and_preprocess(frame, seed=0)
    pre = folder / "preprocessor.json"
    split.preprocessor.save(str(pre))
    names = split.preprocessor.feature_names
    x = split.train[names].to_numpy("float32")
    model = build_model(len(names), 2, ModelConfig(hidden_units=[64, 32]))
    model.compile(optimizer="adam", loss=loss_name(2))
    model.fit(x, split.train["label"].to_numpy(), epochs=10, batch_size=32, verbose=0)
    keras_dir = folder / "keras"
    keras_dir.mkdir()
    model.save(str(keras_dir / "model.h5"))

    content = tflite_convert(model, "int8", representative=x[:200], io_type="int8")
    tflite_dir = folder / "tflite_int8"
    tflite_dir.mkdir()
    (tflite_dir / "model.tflite").write_bytes(content)
    rows = frame.drop(columns=["target"]).head(64).to_dict(orient="records")
    rows = [{k: float(v) for k, v in r.items()} for r in rows]
    return keras_dir, tflite_dir, pre, rows


def measure(url: str, rows: list[dict], n: int) -> dict[str, float]:
    """Latency percentiles (ms) and throughput (req/s) of ``n`` requests from CLIENTS threads."""
    probe(url, "bench", rows, WARMUP, CLIENTS)
    start = time.perf_counter()
    metrics = probe(url, "bench", rows, n, CLIENTS)["all"]
    wall = time.perf_counter() - start
    return {
        "p50": metrics.percentile(50),
        "p95": metrics.percentile(95),
        "p99": metrics.percentile(99),
        "rps": metrics.requests / wall,
        "errors": metrics.errors,
        "requests": metrics.requests,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="300 requests per backend")
    parser.add_argument("--requests", type=int, default=0, help="override the request count")
    args = parser.parse_args(argv)
    n = args.requests or (300 if args.quick else 2000)
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

    print(f"serving benchmark: {n} one-row V1 requests per backend, {CLIENTS} concurrent clients")
    with tempfile.TemporaryDirectory(prefix="bench_serving_") as tmp:
        folder = Path(tmp)
        keras_dir, tflite_dir, pre, rows = build_models(folder)
        h5_size = (keras_dir / "model.h5").stat().st_size
        size = (tflite_dir / "model.tflite").stat().st_size
        print(f"models: model.h5 {h5_size:,} B, int8 model.tflite {size:,} B")
        results: dict[str, dict[str, float]] = {}
        for backend, model_dir in (("keras", keras_dir), ("tflite", tflite_dir)):
            proc = processes.start_server(
                str(model_dir),
                str(pre),
                "bench",
                folder / f"{backend}.log",
                backend=backend,
                access_log=False,
            )
            try:
                log = str(folder / f"{backend}.log")
                wait_ready(
                    proc.url,
                    "bench",
                    600,
                    alive=lambda p=proc, lg=log: processes.exit_message(p.pid, lg),
                )
                results[backend] = measure(proc.url, rows, n)
            finally:
                processes.stop(proc.pid)

    print(f"\n{'backend':<14}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'req/s':>9}{'errors':>8}")
    for backend, r in results.items():
        label = "keras" if backend == "keras" else "tflite int8"
        print(
            f"{label:<14}{r['p50']:>9.2f}{r['p95']:>9.2f}{r['p99']:>9.2f}"
            f"{r['rps']:>9.0f}{int(r['errors']):>8d}"
        )
    k, t = results["keras"], results["tflite"]
    print(
        f"\nratio keras / tflite int8: p50 {k['p50'] / t['p50']:.2f}x, "
        f"p99 {k['p99'] / t['p99']:.2f}x, throughput {t['rps'] / k['rps']:.2f}x in favour of tflite"
    )
    for backend, r in results.items():
        p50_ok, p99_ok = r["p50"] < TARGET_P50_MS, r["p99"] < TARGET_P99_MS
        print(
            f"{backend:<7} target p50 < {TARGET_P50_MS:g} ms: {'met' if p50_ok else 'NOT met'} "
            f"({r['p50']:.2f}); p99 < {TARGET_P99_MS:g} ms: {'met' if p99_ok else 'NOT met'} "
            f"({r['p99']:.2f})"
        )
    print(
        f"(machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        "client and server share them, so latency includes the clients' own CPU time)"
    )
    return 0 if all(r["errors"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
