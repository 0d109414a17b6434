"""The training-side steps of the scale benchmark, each run in its own process.

``benchmarks/bench_scale.py`` times "train one epoch with 2 workers" and "evaluate" on a
sharded split through this module, one subprocess per step, so that each step's wall time
and peak memory are its own::

    python -m benchmarks.scale_train_steps train --train DIR --validation DIR --out DIR \\
        [--workers 2] [--batch-size 4096] [--epochs 1]
    python -m benchmarks.scale_train_steps evaluate --test DIR --model DIR \\
        --preprocessor FILE

Each prints one JSON line last: ``step``, ``rows``, ``wall_s``, ``peak_rss_mb`` (this
process: the launcher for ``train``), and for ``train`` ``worker_peak_rss_mb`` (the largest
Horovod rank, as each rank measures itself), ``workers``, ``steps_per_epoch`` and
``streaming``; for ``evaluate`` the headline metric. Splits may be single Parquet files or
shard directories (:mod:`kfp_mlops.components.common.shards`); a shard directory is
streamed per rank, a single file of up to ``IN_MEMORY_MAX_ROWS`` rows is read whole.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train_one_epoch(
    train: str,
    validation: str,
    out: str,
    workers: int = 2,
    batch_size: int = 4096,
    epochs: int = 1,
) -> dict[str, Any]:
    """Train the built-in MLP for ``epochs`` on ``workers`` Horovod processes; the numbers.

    A large global batch and no gradient accumulation keep the step count (rows / batch)
    what the scale curve measures; checkpoints go to ``<out>/ckpt`` (removed first, so a
    re-run does not resume).
    """
    import shutil

    from kfp_mlops.components.training.train_model import core

    shutil.rmtree(Path(out) / "ckpt", ignore_errors=True)
    start = time.perf_counter()
    result = core.train(
        train,
        validation,
        str(Path(out) / "model"),
        num_workers=workers,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=1e-3,
        warmup_epochs=0,
        grad_accum_steps=1,
        early_stopping_patience=max(1, epochs),
        export_saved_model=False,
        checkpoint_uri=str(Path(out) / "ckpt"),
    )
    wall = time.perf_counter() - start
    ranks = [w.get("peak_rss_mb", 0.0) for w in result.weights]
    return {
        "step": "train",
        "rows": int(result.metrics.get("train_rows", 0)),
        "wall_s": wall,
        "peak_rss_mb": _peak_mb(),
        "worker_peak_rss_mb": max(ranks) if ranks else 0.0,
        "workers": workers,
        "steps_per_epoch": int(result.metrics["steps_per_epoch"]),
        "streaming": bool(result.metrics.get("streaming", False)),
        "val_loss": float(result.metrics.get("val_loss", float("nan"))),
        "model_dir": result.model_dir,
    }


def evaluate(test: str, model: str, preprocessor: str) -> dict[str, Any]:
    """Evaluate ``model`` on ``test`` in batches (no gate limits, short latency timing)."""
    from kfp_mlops.components.evaluation.evaluate_model import core

    start = time.perf_counter()
    thresholds = core.Thresholds(
        min_accuracy=0.0, max_latency_p50_ms=0, max_latency_p95_ms=0, max_latency_p99_ms=0
    )
    result = core.evaluate(
        test, model, preprocessor, thresholds, repetitions=50, batch_repetitions=5
    )
    wall = time.perf_counter() - start
    scalars = result.metrics.scalars
    headline = "accuracy" if "accuracy" in scalars else "rmse"
    return {
        "step": "evaluate",
        "rows": result.rows,
        "wall_s": wall,
        "peak_rss_mb": _peak_mb(),
        headline: float(scalars[headline]),
    }


def main(argv: list[str] | None = None) -> int:
    """CLI: ``train`` or ``evaluate``; prints the step's numbers as one JSON line."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    train = sub.add_parser("train", help="train one epoch with 2 Horovod workers")
    train.add_argument("--train", required=True)
    train.add_argument("--validation", required=True)
    train.add_argument("--out", required=True, help="directory for the model and checkpoints")
    train.add_argument("--workers", type=int, default=2)
    train.add_argument("--batch-size", type=int, default=4096)
    train.add_argument("--epochs", type=int, default=1)
    ev = sub.add_parser("evaluate", help="evaluate a model on a test split in batches")
    ev.add_argument("--test", required=True)
    ev.add_argument("--model", required=True, help="a Model directory (model.h5)")
    ev.add_argument("--preprocessor", required=True, help="the split's preprocessor JSON")
    args = parser.parse_args(argv)
    if args.step == "train":
        numbers = train_one_epoch(
            args.train, args.validation, args.out, args.workers, args.batch_size, args.epochs
        )
    else:
        numbers = evaluate(args.test, args.model, args.preprocessor)
    print(json.dumps(numbers), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
