"""Benchmark of the model server: Keras backend vs an int8 TFLite backend, side by side.

Trains a small classifier on the bundled breast-cancer data, converts it to a fully int8
TFLite model (``tf.lite.TFLiteConverter`` with a representative dataset), starts the real
server (``python -m kfp_mlops.components.serving``) for each backend on loopback, and:

- ``throughput``: sends a bounded number of one-row V1 predictions from 4 concurrent clients
  (keep-alive ``http.client``); prints p50/p95/p99 latency and throughput per backend from the
  same run, their ratios, and whether the targets (p50 < 5 ms, p99 < 20 ms) are met;
- ``cold_start``: time from starting the process to its first answer, per backend (target
  for TFLite: under 3 s);
- ``hostile``: on the TFLite server, 300 one-row requests alone, then the same next to 2
  clients posting maximum-size requests (8 MiB / 10,000 rows) for ~10 s; prints single-row
  p50/p99 both ways (target p99 < 50 ms next to them) and checks every answer
  (:mod:`benchmarks.serving_hostile`).

- ``peers``: our server (Keras and TFLite) next to ``mlflow models serve`` and BentoML 1.4
  on the same Keras model (:mod:`benchmarks.serving_peers`), in the same run: cold start to
  first answer, then the same one-row load; ratios against the target (>= 2x BentoML's
  throughput at a lower p99). A peer that cannot run here prints ``skipped: <why>``.

``--quick`` sends 300 requests per backend instead of 2000, runs the hostile case ~5 s and
skips BentoML unless its env is already built.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.peer_env import built_venv
from benchmarks.serving_hostile import hostile_load, max_size_bodies, post
from kfp_mlops.components.deployment.deploy_model import processes
from kfp_mlops.components.deployment.deploy_model.smoke import probe, wait_ready

TARGET_P50_MS = 5.0
TARGET_P99_MS = 20.0
TARGET_COLD_START_S = 3.0
TARGET_HOSTILE_P99_MS = 50.0
CASES = ("throughput", "cold_start", "hostile", "peers")
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


def start(
    model_dir: Path, pre: Path, backend: str, log: Path, python: str | None = None
) -> processes.ServerProcess:
    """A server for ``model_dir`` on a free loopback port (not yet ready)."""
    return processes.start_server(
        str(model_dir), str(pre), "bench", log, backend=backend, access_log=False, python=python
    )


def cold_start(
    model_dir: Path, pre: Path, backend: str, row: dict, log: Path, python: str | None = None
) -> float:
    """Seconds from starting the server process to its first 200 answer to a prediction."""
    t0 = time.perf_counter()
    proc = start(model_dir, pre, backend, log, python)
    body = json.dumps({"instances": [row]}).encode()
    try:
        while time.perf_counter() - t0 < 600:
            if processes.exit_message(proc.pid, str(log)):
                raise RuntimeError(processes.exit_message(proc.pid, str(log)))
            try:
                conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=5)
                if post(conn, "/v1/models/bench:predict", body)[0] == 200:
                    return time.perf_counter() - t0
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"no answer after 600 s; log: {processes.log_tail(str(log))}")
    finally:
        processes.stop(proc.pid)


def tensorflow_imported(pid: int) -> bool:
    """Whether the process mapped TensorFlow's shared library (i.e. imported tensorflow)."""
    try:
        return "_pywrap_tensorflow" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def run_throughput(folders: dict[str, Path], pre: Path, rows: list[dict], n: int, tmp: Path):
    results: dict[str, dict[str, float]] = {}
    for backend, model_dir in folders.items():
        proc = start(model_dir, pre, backend, tmp / f"{backend}.log")
        try:
            log = str(tmp / f"{backend}.log")
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
    return all(r["errors"] == 0 for r in results.values())


def run_cold_start(
    folders: dict[str, Path], pre: Path, rows: list[dict], tmp: Path, build: bool = True
) -> bool:
    """Cold starts in this (pipeline) env, then TFLite in the TFLite serving image's env."""
    print("\ncold start (process start -> first answer):")
    runs = [(backend, model_dir, None, "") for backend, model_dir in folders.items()]
    python, why = serving_image_python(build)
    if python:
        runs.append(("tflite", folders["tflite"], python, " in the TFLite serving image's env"))
    for backend, model_dir, py, where in runs:
        log = tmp / f"cold_{backend}{'_image' if py else ''}.log"
        seconds = cold_start(model_dir, pre, backend, rows[0], log, py)
        target = ""
        if backend == "tflite":
            met = "met" if seconds < TARGET_COLD_START_S else "NOT met"
            target = f"  (target < {TARGET_COLD_START_S:g} s: {met})"
        print(f"  {backend:<7} {seconds:6.2f} s{where}{target}")
    if not python:
        print(f"  tflite in the serving image's env: skipped: {why}")
    return True


def serving_image_python(build: bool) -> tuple[str | None, str]:
    """The venv of ``containers/serving/requirements-tflite.in`` (what that image holds).

    Built with the pipeline env's uv and the pipeline constraints, as ``make install`` and
    ``tests/serving/test_tflite_image_env.py`` do; ``$KFP_MLOPS_BENCH_SERVING_ENV`` overrides
    the folder (``~/.cache/kfp-mlops/bench-serving-tflite``).
    """
    root = Path(__file__).resolve().parents[1]
    default = Path.home() / ".cache" / "kfp-mlops" / "bench-serving-tflite"
    env = Path(os.environ.get("KFP_MLOPS_BENCH_SERVING_ENV") or default)
    python, uv = env / "bin" / "python", Path(sys.executable).with_name("uv")
    # Usable and byte-compiled (an env built before --compile-bytecode is rebuilt).
    probe = "import os, ai_edge_litert, kserve, kfp_mlops.components.serving as s; "
    probe += "assert os.path.exists(kserve.__cached__)"
    serving = root / "containers" / "serving"
    steps = [
        [uv, "venv", "-q", "--clear", "-p", sys.executable, env],
        # --compile-bytecode: the image's pip writes .pyc files (without them, and with
        # PYTHONDONTWRITEBYTECODE=1, every start compiles KServe and pandas: +2 s).
        [uv, "pip", "install", "-q", "--compile-bytecode", "--python", python,
         "-r", serving / "requirements-tflite.in",
         "-c", root / "containers" / "pipeline" / "constraints.txt"],
        [uv, "pip", "install", "-q", "--python", python, "--no-deps", "-e", root],
    ]  # fmt: skip
    steps = [[str(a) for a in step] for step in steps]
    return built_venv("TFLite serving image", env, probe, steps, build)


def run_hostile(model_dir: Path, pre: Path, rows: list[dict], seconds: float, tmp: Path) -> bool:
    proc = start(model_dir, pre, "tflite", tmp / "hostile.log")
    try:
        log = str(tmp / "hostile.log")
        wait_ready(proc.url, "bench", 600, alive=lambda: processes.exit_message(proc.pid, log))
        # One max-size request first: the server's batch process is up before the clock runs.
        host, port = proc.url.removeprefix("http://").split(":")
        warm = http.client.HTTPConnection(host, int(port), timeout=600)
        post(warm, "/v1/models/bench:predict", max_size_bodies(rows, 8 * 1024**2, 10_000)[0][0])
        warm.close()
        alone = hostile_load(proc.url, "bench", rows, seconds=0, big_clients=0)
        loaded = hostile_load(proc.url, "bench", rows, seconds=seconds)
        no_tf = not tensorflow_imported(proc.pid)
    finally:
        processes.stop(proc.pid)
    v1_rows, v2_rows = loaded.big_rows
    print(
        f"\nhostile load (tflite int8): 300 one-row requests, alone and next to 2 clients "
        f"posting max-size requests (V1 {v1_rows:,} rows / V2 {v2_rows:,} rows, <= 8 MiB)"
    )
    print(f"  {'':<22}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for label, r in (("alone", alone), ("next to max-size", loaded)):
        print(f"  {label:<22}{r.p(50):>9.2f}{r.p(99):>9.2f}{max(r.single_ms):>9.2f}")
    met = "met" if loaded.p(99) < TARGET_HOSTILE_P99_MS else "NOT met"
    print(
        f"  max-size answers: {loaded.big_answers}; wrong answers: single "
        f"{len(loaded.single_wrong)}, max-size {len(loaded.big_wrong)}; "
        f"target p99 < {TARGET_HOSTILE_P99_MS:g} ms next to them: {met}; "
        f"TensorFlow loaded in the server: {'no' if no_tf else 'YES'}"
    )
    return not (loaded.single_wrong or loaded.big_wrong or alone.single_wrong)


def run_peers(folders: dict[str, Path], pre: Path, rows: list[dict], n: int, tmp: Path, build):
    """Ours (both backends) and the peers: cold start and one-row load, side by side."""
    from benchmarks import serving_peers

    results: dict[str, dict | str] = {}
    for backend, model_dir in folders.items():
        log = tmp / f"peers_{backend}.log"
        t0 = time.perf_counter()
        proc = start(model_dir, pre, backend, log)
        try:
            dead = lambda p=proc, lg=str(log): processes.exit_message(p.pid, lg) or ""  # noqa: E731
            label = "ours keras" if backend == "keras" else "ours tflite int8"
            results[label] = serving_peers.measure(proc.port, "ours", rows, n, t0, dead)
        finally:
            processes.stop(proc.pid)
    results.update(serving_peers.run_peers(tmp, folders["keras"], pre, rows, n, build))
    serving_peers.describe(results)
    return all(isinstance(r, str) or r["errors"] == 0 for r in results.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="300 requests per backend")
    parser.add_argument("--requests", type=int, default=0, help="override the request count")
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}"
    )
    args = parser.parse_args(argv)
    n = args.requests or (300 if args.quick else 2000)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {', '.join(CASES)}")
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

    print(f"serving benchmark: {', '.join(cases)}; {CLIENTS} concurrent clients, {n} requests")
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench_serving_") as tmp:
        folder = Path(tmp)
        keras_dir, tflite_dir, pre, rows = build_models(folder)
        h5_size = (keras_dir / "model.h5").stat().st_size
        size = (tflite_dir / "model.tflite").stat().st_size
        print(f"models: model.h5 {h5_size:,} B, int8 model.tflite {size:,} B")
        folders = {"keras": keras_dir, "tflite": tflite_dir}
        if "throughput" in cases:
            ok &= run_throughput(folders, pre, rows, n, folder)
        if "cold_start" in cases:
            ok &= run_cold_start(folders, pre, rows, folder, build=not args.quick)
        if "hostile" in cases:
            ok &= run_hostile(tflite_dir, pre, rows, 5.0 if args.quick else 10.0, folder)
        if "peers" in cases:
            ok &= run_peers(folders, pre, rows, n, folder, build=not args.quick)
    print(
        f"(machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        "client and server share them, so latency includes the clients' own CPU time)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
