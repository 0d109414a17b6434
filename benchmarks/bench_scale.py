"""Scale curve of the pipeline's steps: wall time and peak memory from 10k to 1M (10M) rows.

Synthetic tabular data (50 numeric + 5 categorical columns, a binary label) is written as
Parquet files of 250k rows (and, for the in-memory "before" path, as one file). Each step
runs in its own process, so its peak resident memory (``os.wait4``'s ``ru_maxrss``) is its
own: ``load`` (a glob into shards), ``validate`` (suite derived from the table, then the
table validated against it), ``drift`` (the table against itself: every bin and test
computed), ``split`` (split + preprocessor fit + sharded splits), ``train`` (one epoch, 2
Horovod workers, each streaming its own rows) and ``evaluate`` (the test split predicted
in batches). ``before`` runs today's in-memory code on the single file, up to 1M rows.

``python -m benchmarks bench_scale [--quick] [--full] [--no-before] [--steps=load,split]``;
``--full`` (or ``KFP_MLOPS_BENCH_FULL=1``) adds 10M rows (streaming steps only); ``--spark``
adds ``validate`` on GX's Spark engine in local mode (``spark`` rows; needs pyspark and Java),
the path past one pod, with the driver JVM's own peak beside the Python process's.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SIZES = (10_000, 100_000, 1_000_000)
FULL_SIZE = 10_000_000
BEFORE_MAX_ROWS = 1_000_000
STEPS = ("load", "validate", "drift", "split", "train", "evaluate")
FILE_ROWS = 250_000
N_NUMERIC, N_CATEGORICAL = 50, 5
TARGET_TIME_RATIO = 12.0  # 10M / 1M
TARGET_MEMORY_RATIO = 1.5
TARGET_MB = 2048


def make_chunk(rows: int, seed: int) -> pd.DataFrame:
    """One chunk of the synthetic table (columns x00..x49, c0..c4, target)."""
    rng = np.random.default_rng(seed)
    data = {f"x{j:02d}": rng.normal(j % 7, 1 + j % 3, rows) for j in range(N_NUMERIC)}
    frame = pd.DataFrame(data)
    frame.loc[rng.random(rows) < 0.01, "x01"] = np.nan  # gaps: imputation runs
    for j in range(N_CATEGORICAL):
        frame[f"c{j}"] = rng.choice([f"v{k}" for k in range(4 + j)], rows)
    score = frame["x00"] - 0.5 * frame["x02"] + (frame["c0"] == "v1") + rng.normal(0, 1, rows)
    frame["target"] = np.where(score > score.median(), "yes", "no")
    return frame


def make_raw(rows: int, folder: Path, single: bool) -> None:
    """Write ``rows`` rows as part files (and one single file), chunk by chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = folder / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    writer = None
    for i, start in enumerate(range(0, rows, FILE_ROWS)):
        frame = make_chunk(min(FILE_ROWS, rows - start), seed=i)
        # Row groups of 64k rows, as exports usually write: a reader decodes one at a time.
        frame.to_parquet(parts / f"part-{i:04d}.parquet", index=False, row_group_size=65_536)
        if single:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pq.ParquetWriter(folder / "all.parquet", table.schema)
            writer.write_table(table)
    if writer:
        writer.close()


# --- the steps, run in a child process --------------------------------------------------


def _splits(work: Path, mode: str) -> dict[str, str]:
    return {name: str(work / f"{mode}-{name}") for name in ("train", "validation", "test")}


def run_step(step: str, mode: str, work: Path) -> dict:
    """Run one step on the data in ``work``; return what it produced (for the log)."""

    dataset = str(work / ("before-dataset.parquet" if mode == "before" else "after-dataset"))
    if mode == "spark":
        return _spark_step(step, dataset)
    if step == "load":
        from kfp_mlops.components.data.load_dataset import core as load_core

        if mode == "after":
            summary = load_core.load_to(str(work / "parts" / "*.parquet"), dataset)
            return {"rows": summary.rows, "shards": len(summary.manifest.shards)}
        from kfp_mlops.components.common.io import save_dataset

        result = load_core.load(str(work / "all.parquet"))
        save_dataset(result.frame, dataset)
        return {"rows": len(result.frame)}
    if step == "validate":
        from kfp_mlops.components.data.validate_data import core as validate_core

        if mode == "after":
            from kfp_mlops.components.data.validate_data.streaming import (
                validate_dataset_streaming,
            )

            result = validate_dataset_streaming(dataset, dataset)
        else:
            frame = pd.read_parquet(dataset)
            result = validate_core.validate(frame, validate_core.derive_suite(frame))
        return {"success": result.success, "evaluated": result.evaluated}
    if step == "drift":
        if mode == "after":
            from kfp_mlops.components.data.detect_drift.streaming import feature_drift_streaming

            result, _, _ = feature_drift_streaming(dataset, dataset)
        else:
            from kfp_mlops.components.data.detect_drift.core import feature_drift

            result = feature_drift(pd.read_parquet(dataset), pd.read_parquet(dataset))
        return {"drift": result.drift_detected, "features": len(result.features)}
    if step == "split":
        from kfp_mlops.components.data.split_and_preprocess.core import split_to

        summary, proc, rows = split_to(
            dataset, _splits(work, mode), shard_above_rows=0 if mode == "before" else 1
        )
        proc.save(str(work / f"{mode}-preprocessor.json"))
        return rows
    splits = _splits(work, mode)
    if step == "train":
        from kfp_mlops.components.training.train_model.core import train

        result = train(
            splits["train"],
            splits["validation"],
            str(work / f"{mode}-model"),
            num_workers=2,
            epochs=1,
            batch_size=1024,
            grad_accum_steps=1,
            warmup_epochs=0,
            export_saved_model=False,
        )
        numbers = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}
        return {"metrics": {k: round(float(v), 4) for k, v in numbers.items()}}
    if step == "evaluate":
        from kfp_mlops.components.evaluation.evaluate_model.core import evaluate

        result = evaluate(
            splits["test"],
            str(work / f"{mode}-model"),
            str(work / f"{mode}-preprocessor.json"),
            repetitions=20,
            batch_repetitions=2,
        )
        return {"rows": result.rows, "accuracy": result.metrics.scalars.get("accuracy")}
    raise ValueError(f"unknown step {step}")


def _spark_step(step: str, dataset: str) -> dict:
    """Validate on GX's Spark engine in local mode; also the JVM's own peak RSS."""
    if step != "validate":
        raise ValueError(f"no Spark path for {step}")
    from kfp_mlops.components.data.validate_data.derive import derive_suite, profile_dataset
    from kfp_mlops.components.data.validate_data.spark import spark_session, validate_spark

    profiles, rows = profile_dataset(dataset, "target")
    session = spark_session("local[2]", driver_memory="1g")
    result = validate_spark(dataset, derive_suite(profiles, rows=rows), session=session)
    jvm = session.sparkContext._gateway.proc.pid  # the driver JVM (spark-submit execs java)
    status = Path(f"/proc/{jvm}/status").read_text().split("\n")
    hwm = next((line.split()[1] for line in status if line.startswith("VmHWM")), "0")
    session.stop()
    jvm_mb = int(hwm) / 1024
    return {"success": result.success, "evaluated": result.evaluated, "jvm_peak_mb": jvm_mb}


def _child(argv: list[str]) -> int:
    step, mode, work = argv
    import logging

    logging.basicConfig(level=logging.WARNING)
    out = run_step(step, mode, Path(work))
    print("RESULT " + json.dumps(out, default=str), flush=True)
    return 0


# --- the parent: one process per step, a table of times, memory and ratios ---------------


def measure(step: str, mode: str, work: Path, timeout: float | None = None) -> dict:
    """Run a step in a child; wall seconds, its own peak RSS (MB) and its result.

    The timeout (default 2 h, ``$KFP_MLOPS_BENCH_STEP_TIMEOUT`` seconds) kills a stuck step;
    a 10M-row step takes minutes here (validate 216 s), more on a loaded machine.
    """
    timeout = timeout or float(os.environ.get("KFP_MLOPS_BENCH_STEP_TIMEOUT", "7200"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_USE_LEGACY_KERAS": "1"}
    cmd = [sys.executable, "-m", "benchmarks.bench_scale", "--child", step, mode, str(work)]
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
            time.sleep(0.05)
        proc.returncode = returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.startswith("RESULT ")]
    record = {"step": step, "mode": mode, "seconds": wall, "peak_mb": usage.ru_maxrss / 1024}
    record["ok"] = returncode == 0 and bool(lines)
    record["result"] = json.loads(lines[-1][7:]) if lines else text.strip().splitlines()[-3:]
    return record


def _table(records: list[dict], sizes: list[int]) -> str:
    head = f"{'step':<9} {'mode':<6} " + " ".join(f"{f'{n:,} rows':>22}" for n in sizes)
    head += "   ratios (time x / memory x, each size vs the previous)"
    lines = [head]
    keys = sorted(
        {(r["step"], r["mode"]) for r in records}, key=lambda k: (STEPS.index(k[0]), k[1])
    )
    for step, mode in keys:
        by = {r["rows"]: r for r in records if r["step"] == step and r["mode"] == mode}
        cells, ratios = [], []
        for n in sizes:
            r = by.get(n)
            cells.append(
                f"{r['seconds']:>8.1f} s {r['peak_mb']:>7.0f} MB{'' if r['ok'] else '!'}"
                if r
                else f"{'-':>22}"
            )
        for a, b in itertools.pairwise(sizes):
            if a in by and b in by and by[a]["ok"] and by[b]["ok"]:
                ratios.append(
                    f"{b // a}x rows: {by[b]['seconds'] / by[a]['seconds']:.1f}x / "
                    f"{by[b]['peak_mb'] / by[a]['peak_mb']:.2f}x"
                )
        lines.append(
            f"{step:<9} {mode:<6} "
            + " ".join(f"{c:>22}" for c in cells)
            + "   "
            + "; ".join(ratios)
        )
    return "\n".join(lines)


def main(flags: list[str] | None = None) -> int:
    """Run the scale curve; print the table; non-zero if a step failed."""
    flags = list(sys.argv[1:] if flags is None else flags)
    if flags and flags[0] == "--child":
        return _child(flags[1:])
    if flags and flags[0] == "--make":
        make_raw(int(flags[1]), Path(flags[2]), flags[3] == "1")
        return 0
    sizes = [10_000, 100_000] if "--quick" in flags else list(SIZES)
    if "--full" in flags or os.environ.get("KFP_MLOPS_BENCH_FULL") == "1":
        sizes.append(FULL_SIZE)
    steps = list(STEPS)
    for flag in flags:
        if flag.startswith("--steps="):
            steps = flag.split("=", 1)[1].split(",")
        if flag.startswith("--sizes="):
            sizes = [int(float(s)) for s in flag.split("=", 1)[1].split(",")]
    before = "--no-before" not in flags
    records = []
    root = Path(os.environ.get("KFP_MLOPS_BENCH_DIR") or tempfile.mkdtemp(prefix="bench-scale-"))
    for rows in sizes:
        work = root / f"rows-{rows}"
        # In a child too: a child's ru_maxrss starts at its parent's RSS when it forks, so
        # the parent must stay small for the steps' peaks to be their own.
        single = "1" if before and rows <= BEFORE_MAX_ROWS else "0"
        make = [sys.executable, "-m", "benchmarks.bench_scale", "--make", str(rows), str(work)]
        subprocess.run([*make, single], check=True)
        modes = ["after"] + (["before"] if before and rows <= BEFORE_MAX_ROWS else [])
        for step in steps:
            for mode in modes + (["spark"] if "--spark" in flags and step == "validate" else []):
                record = {**measure(step, mode, work), "rows": rows}
                records.append(record)
                print(json.dumps(record, default=str), flush=True)
        subprocess.run(["rm", "-rf", str(work)], check=False)
    print(_table(records, sizes))
    failed = [r for r in records if not r["ok"]]
    for r in failed:
        print(f"FAILED {r['step']} {r['mode']} {r['rows']}: {r['result']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
