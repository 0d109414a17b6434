"""Our server vs ``mlflow models serve`` and BentoML 1.4 on the same Keras model, one run.

Each peer serves the bench's ``model.h5`` with the same preprocessor (its pandas path,
:meth:`Preprocessor.transform_features`) and the same call, ``model(x, training=False)``,
so the comparison is of the serving stacks:

- MLflow: a pyfunc "model from code" (``mlflow.pyfunc.save_model(python_model=<file>)``)
  served by ``mlflow models serve --env-manager local`` from the pipeline env;
- BentoML: a ``@bentoml.service`` with one ``@bentoml.api`` served by ``bentoml serve`` from
  its own venv (``~/.cache/kfp-mlops/bench-bentoml`` or ``$KFP_MLOPS_BENCH_BENTOML_ENV``,
  built on demand) that sees the pipeline env's TensorFlow through a ``.pth`` file placed
  after its own packages.

A peer that cannot be installed or started prints ``skipped: <why>``, never a number.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.peer_env import peer_python
from kfp_mlops.components.deployment.deploy_model import processes

BENTOML = "bentoml==1.4.40"
TARGET_THROUGHPUT_RATIO = 2.0

_LOAD = """
import os
import numpy as np
import pandas as pd
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
import tensorflow as tf
from kfp_mlops.components.data.split_and_preprocess.preprocessor import Preprocessor


def load(model_path, preprocessor_path):
    return tf.keras.models.load_model(model_path, compile=False), Preprocessor.load(
        preprocessor_path
    )


def answer(model, pre, records):
    x = pre.transform_features(pd.DataFrame.from_records(records))
    probs = np.asarray(model(x, training=False))
    return {"predictions": probs.argmax(axis=1).tolist(), "probabilities": probs.tolist()}
"""

_MLFLOW_MODEL = (
    _LOAD
    + """
import mlflow


class Classifier(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.model, self.pre = load(
            context.artifacts["model"], context.artifacts["preprocessor"]
        )

    def predict(self, context, model_input, params=None):
        out = answer(self.model, self.pre, model_input.to_dict(orient="records"))
        return pd.DataFrame({"prediction": out["predictions"]})


mlflow.models.set_model(Classifier())
"""
)

_BENTO_SERVICE = (
    _LOAD
    + """
import bentoml


@bentoml.service(workers=1)
class Classifier:
    def __init__(self):
        self.model, self.pre = load(os.environ["BENCH_MODEL"], os.environ["BENCH_PREPROCESSOR"])

    @bentoml.api
    def predict(self, instances: list[dict]) -> dict:
        return answer(self.model, self.pre, instances)
"""
)


def bentoml_python(build: bool) -> tuple[str | None, str]:
    """The BentoML env's interpreter (built when ``build`` and missing), or None and why."""
    probe = "import bentoml, tensorflow"

    def link_pipeline_env(python: Path) -> str:
        # TensorFlow and kfp_mlops from the pipeline env, after BentoML's own packages.
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        pipeline_site = sysconfig.get_paths()["purelib"]
        (Path(site) / "zz_pipeline_env.pth").write_text(
            f"import site; site.addsitedir({pipeline_site!r})\n"
        )
        check = [str(python), "-c", probe]
        if subprocess.run(check, capture_output=True, check=False).returncode:
            return "BentoML env cannot import TensorFlow from the pipeline env"
        return ""

    return peer_python(
        "BentoML", "KFP_MLOPS_BENCH_BENTOML_ENV", "bench-bentoml", probe, [BENTOML], build,
        after=link_pipeline_env,
    )  # fmt: skip


def save_mlflow_model(folder: Path, keras_dir: Path, pre: Path) -> Path:
    """An MLflow pyfunc model directory for the Keras model and its preprocessor."""
    import mlflow.pyfunc

    code = folder / "mlflow_classifier.py"
    code.write_text(_MLFLOW_MODEL)
    target = folder / "mlflow_model"
    shutil.rmtree(target, ignore_errors=True)  # save_model refuses a non-empty directory
    mlflow.pyfunc.save_model(
        str(target),
        python_model=str(code),
        artifacts={"model": str(keras_dir / "model.h5"), "preprocessor": str(pre)},
    )
    return target


def start_mlflow(model: Path, log: Path) -> tuple[subprocess.Popen, int]:
    """``mlflow models serve`` for ``model`` on a free loopback port."""
    port = processes.free_port()
    mlflow = str(Path(sys.executable).parent / "mlflow")
    args = [mlflow, "models", "serve", "-m", str(model), "--env-manager", "local"]
    args += ["--host", "127.0.0.1", "-p", str(port)]
    # It runs ``uvicorn`` by name: the pipeline env's bin first on PATH.
    env = dict(os.environ, PATH=f"{Path(mlflow).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return _spawn(args, log, env, model.parent), port


def start_bentoml(python: str, folder: Path, keras_dir: Path, pre: Path, log: Path):
    """``bentoml serve`` of the bench service on a free loopback port."""
    (folder / "bento_service.py").write_text(_BENTO_SERVICE)
    port = processes.free_port()
    bentoml = str(Path(python).parent / "bentoml")
    args = [bentoml, "serve", "bento_service:Classifier", "--host", "127.0.0.1"]
    args += ["--port", str(port)]
    env = dict(os.environ, BENCH_MODEL=str(keras_dir / "model.h5"), BENCH_PREPROCESSOR=str(pre))
    env["BENTOML_DO_NOT_TRACK"] = "True"
    return _spawn(args, log, env, folder), port


def _spawn(args: list[str], log: Path, env: Any, cwd: Path) -> subprocess.Popen:
    env = dict(env, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    with open(log, "ab") as out:
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (its workers too), SIGKILL if it lingers."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def exited(proc: subprocess.Popen, log: Path) -> Callable[[], str]:
    """A check that says why ``proc`` exited (empty while it runs)."""

    def check() -> str:
        if proc.poll() is None:
            return ""
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        return f"exited {proc.returncode}: {' | '.join(tail)}"

    return check


def first_answer(port: int, path: str, body: bytes, t0: float, dead: Callable[[], str]) -> float:
    """Seconds from ``t0`` to the first 200 answer on ``path`` (the cold start)."""
    while time.perf_counter() - t0 < 600:
        if why := dead():
            raise RuntimeError(why)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            conn.close()
            if resp.status == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("no answer after 600 s")


def load(port: int, path: str, bodies: list[bytes], n: int, clients: int) -> dict[str, float]:
    """``n`` requests (``bodies`` in turn) from ``clients`` keep-alive threads: ms and req/s."""
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(n))
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            start = time.perf_counter()
            conn.request("POST", path, body=bodies[i % len(bodies)], headers=_JSON)
            resp = conn.getresponse()
            raw = resp.read()
            ms = (time.perf_counter() - start) * 1000
            with lock:
                latencies.append(ms)
                if resp.status != 200:
                    errors.append(f"{resp.status} {raw[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]

    return {"p50": pct(50), "p99": pct(99), "rps": len(ordered) / wall, "errors": len(errors)}


_JSON = {"Content-Type": "application/json"}


def bodies_for(kind: str, rows: list[dict]) -> tuple[str, list[bytes]]:
    """The path and one-row bodies each server takes (``ours``, ``mlflow``, ``bentoml``)."""
    if kind == "mlflow":
        return "/invocations", [json.dumps({"dataframe_records": [r]}).encode() for r in rows]
    path = "/predict" if kind == "bentoml" else "/v1/models/bench:predict"
    return path, [json.dumps({"instances": [r]}).encode() for r in rows]


def describe(results: dict[str, dict | str]) -> None:
    """Print the side-by-side table and ratios (ours Keras vs each peer)."""
    print(f"\n{'server (same Keras model)':<28}{'cold s':>8}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>8}")
    for label, r in results.items():
        if isinstance(r, str):
            print(f"{label:<28}skipped: {r}")
            continue
        print(
            f"{label:<28}{r['cold']:>8.1f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['rps']:>8.0f}"
            + (f"  ({r['errors']} errors)" if r["errors"] else "")
        )
    ours = results.get("ours keras")
    if not isinstance(ours, dict):
        return
    for label, r in results.items():
        if label.startswith("ours") or isinstance(r, str):
            continue
        ratio = ours["rps"] / r["rps"]
        line = (
            f"ours keras vs {label}: throughput {ratio:.2f}x, p99 {r['p99'] / ours['p99']:.2f}x "
            f"lower, cold start {r['cold'] / ours['cold']:.2f}x"
        )
        if "bentoml" in label:
            met = ratio >= TARGET_THROUGHPUT_RATIO and ours["p99"] < r["p99"]
            line += f" (target >= 2x at a lower p99: {'met' if met else 'NOT met'})"
        print(line)


def measure(
    port: int, kind: str, rows: list[dict], n: int, t0: float, dead: Callable[[], str]
) -> dict[str, float]:
    """Cold start (from ``t0``), then a warm-up and ``n`` one-row requests from 4 clients."""
    path, bodies = bodies_for(kind, rows)
    cold = first_answer(port, path, bodies[0], t0, dead)
    load(port, path, bodies, 50, 4)
    return {"cold": cold, **load(port, path, bodies, n, 4)}


def run_peers(folder: Path, keras_dir: Path, pre: Path, rows: list[dict], n: int, build: bool):
    """MLflow and BentoML results (or why each was skipped), keyed by label."""
    results: dict[str, dict | str] = {}
    try:
        model = save_mlflow_model(folder, keras_dir, pre)
        log = folder / "mlflow.log"
        t0 = time.perf_counter()
        proc, port = start_mlflow(model, log)
        try:
            results["mlflow models serve"] = measure(port, "mlflow", rows, n, t0, exited(proc, log))
        finally:
            stop(proc)
    except Exception as exc:  # a peer's failure is reported, not ours
        results["mlflow models serve"] = textwrap.shorten(f"{type(exc).__name__}: {exc}", 160)
    python, why = bentoml_python(build)
    if python is None:
        results[BENTOML] = why
        return results
    try:
        log = folder / "bentoml.log"
        t0 = time.perf_counter()
        proc, port = start_bentoml(python, folder, keras_dir, pre, log)
        try:
            results[BENTOML] = measure(port, "bentoml", rows, n, t0, exited(proc, log))
        finally:
            stop(proc)
    except Exception as exc:
        results[BENTOML] = textwrap.shorten(f"{type(exc).__name__}: {exc}", 160)
    return results
