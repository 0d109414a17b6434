"""Validate a training job, then run it under ``horovodrun`` in the trainer env.

Runs in the pipeline env (no TensorFlow import). Everything that can be checked before a
worker starts is checked here, so that a bad parameter fails in seconds with an error that
names the problem and the fix instead of after the workers have imported TensorFlow.

The workers run the trainer env's interpreter (TensorFlow 2.15.1 + Horovod 0.28.1):
``KFP_MLOPS_TRAINER_PYTHON`` when set (the Makefile exports it), else
``/opt/trainer-env/bin/python`` (the trainer image), else ``<repo>/.venv-trainer/bin/python``.
``horovodrun`` is taken from the same ``bin/`` directory. On CPU the collectives use Gloo;
in the trainer image with GPUs, Horovod is built with NCCL and uses it for GPU tensors
automatically (Gloo then only coordinates the processes).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.cpus import cpu_count
from kfp_mlops.components.common.errors import (
    ParameterError,
    WorkerError,
)
from kfp_mlops.components.training.train_model.config import (
    HISTORY_FILE,
    METRICS_FILE,
    WorkerConfig,
    default_threads,
)

log = logging.getLogger(__name__)

TRAINER_PYTHON_ENV = "KFP_MLOPS_TRAINER_PYTHON"
#: Overrides the slot count (CPU cores, or GPUs when some are visible).
SLOTS_ENV = "KFP_MLOPS_TRAINER_SLOTS"
IMAGE_TRAINER_PYTHON = "/opt/trainer-env/bin/python"
REPO_ROOT = Path(__file__).resolve().parents[3]
WORKER_MODULE = "kfp_mlops.components.training.train_model.worker"
MODEL_FN_MODULE = "kfp_mlops.components.training.model_fn"
#: Gloo rendezvous and collective timeout: long enough for slow TensorFlow imports.
GLOO_TIMEOUT_SECONDS = 300
ERROR_TAIL_LINES = 8


class TrainingError(WorkerError):
    """The Horovod job failed; the message carries the failing worker's own error."""


@dataclass
class LaunchResult:
    """What a finished Horovod job left behind."""

    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    output_dir: str
    log_dir: str
    weights: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------- environment


def trainer_python() -> str:
    """Path of the trainer env's interpreter.

    Raises:
        ParameterError: If no trainer interpreter exists.
    """
    explicit = os.environ.get(TRAINER_PYTHON_ENV)
    candidates = (
        [explicit]
        if explicit
        else [IMAGE_TRAINER_PYTHON, str(REPO_ROOT / ".venv-trainer/bin/python")]
    )
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    raise ParameterError(
        f"the trainer Python (TensorFlow 2.15 + Horovod) was not found at {', '.join(candidates)}",
        f"run `make install-trainer`, use the trainer image, or set {TRAINER_PYTHON_ENV}",
    )


def horovodrun_path(python: str) -> str:
    """``horovodrun`` next to the trainer interpreter.

    Raises:
        ParameterError: If it is missing (Horovod not installed in that env).
    """
    path = Path(python).parent / "horovodrun"
    if not path.exists():
        raise ParameterError(
            f"horovodrun not found next to the trainer Python {python}",
            "install Horovod 0.28.1 into the trainer env (`make install-trainer`)",
        )
    return str(path)


def visible_gpus() -> int:
    """GPUs the workers could use: ``CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi -L``."""
    cuda = os.environ.get("CUDA_VISIBLE_DEVICES")
    if cuda is not None:
        ids = [d for d in cuda.split(",") if d.strip() and d.strip() != "-1"]
        return len(ids)
    smi = shutil.which("nvidia-smi")
    if not smi:
        return 0
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def available_slots() -> tuple[int, str]:
    """How many workers fit here, and what they are counted in."""
    override = os.environ.get(SLOTS_ENV)
    if override:
        return int(override), SLOTS_ENV
    gpus = visible_gpus()
    if gpus:
        return gpus, "visible GPUs"
    return cpu_count(), "CPU cores"


# --------------------------------------------------------------------------- launching


def build_command(
    horovodrun: str, python: str, num_workers: int, config_path: str, output_dir: str
) -> list[str]:
    """The ``horovodrun`` command line: N local Gloo processes, per-rank stdout/stderr files.

    With only ``localhost`` hosts, horovodrun needs no ssh and picks the loopback interface
    itself; ``--output-filename`` keeps each rank's raw output (C++ aborts included). It is
    left out for one worker: horovodrun 0.28.1 then fails computing log10(np - 1).
    """
    output = ["--output-filename", output_dir] if num_workers > 1 else []
    return [
        horovodrun,
        "-np",
        str(num_workers),
        "-H",
        f"localhost:{num_workers}",
        "--gloo",
        *output,
        python,
        "-m",
        WORKER_MODULE,
        "--config",
        config_path,
    ]


def worker_env(python: str, threads: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of horovodrun and its workers."""
    env = dict(os.environ if base is None else base)
    bindir = str(Path(python).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["OMP_NUM_THREADS"] = str(threads)
    env["PYTHONUNBUFFERED"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = env.get("TF_CPP_MIN_LOG_LEVEL", "2")
    # TF 2.15's tf.keras is Keras 2 already; "1" would demand the absent tf_keras package.
    env["TF_USE_LEGACY_KERAS"] = "0"
    env.setdefault("HOROVOD_GLOO_TIMEOUT_SECONDS", str(GLOO_TIMEOUT_SECONDS))
    # A dead tracking server must not stall the workers for minutes of retries.
    env.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    env.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    return env


def tail(text: str, lines: int = ERROR_TAIL_LINES) -> str:
    """The last ``lines`` lines of a process's output, for error messages."""
    return "\n".join(text.strip().splitlines()[-lines:])


def worker_errors(log_dir: str | Path, output: str = "") -> tuple[int | None, str]:
    """The first failing rank (per horovodrun) and the error text of the failed ranks.

    Each worker writes its traceback to ``error_rank<r>.txt``; a rank killed by a signal
    writes none, so its exit code and the last lines of its raw stderr stand in.
    """
    log_dir = Path(log_dir)
    match = re.search(r"Process name: (\d+)\s*\nExit code: (-?\d+)", output)
    first = int(match.group(1)) if match else None
    code = int(match.group(2)) if match else None
    errors = {int(p.stem.removeprefix("error_rank")): p for p in log_dir.glob("error_rank*.txt")}
    order = ([first] if first is not None else []) + sorted(r for r in errors if r != first)
    parts = []
    seen: set[str] = set()
    for rank in order:
        if rank in errors:
            text = errors[rank].read_text(encoding="utf-8").strip()
            last = text.splitlines()[-1] if text else "(empty traceback)"
            if last in seen:
                parts.append(f"worker {rank} failed with the same error")
            elif not parts:
                # The first failure gets its traceback tail; the rest only their exception.
                parts.append(f"worker {rank} failed with {last}\ntraceback tail:\n{tail(text)}")
            else:
                parts.append(f"worker {rank} failed with {last}")
            seen.add(last)
            continue
        # No traceback: killed by a signal (-9 from Python, 128+9 from a shell) or a C++ abort.
        reason = f"exit code {code}"
        signum = (
            -code
            if code is not None and code < 0
            else (code - 128 if code and code > 128 else None)
        )
        if signum:
            try:
                reason += f" ({signal.Signals(signum).name}; SIGKILL usually means out of memory)"
            except ValueError:
                pass
        stderr_lines = [
            line for line in output.splitlines() if line.startswith(f"[{rank}]<stderr>:")
        ]
        raw = "\n".join(line.split(":", 1)[1] for line in stderr_lines[-ERROR_TAIL_LINES:])
        parts.append(
            f"worker {rank} stopped without a Python error, {reason}" + (f":\n{raw}" if raw else "")
        )
    return first, "\n".join(parts)


def launch(
    config: WorkerConfig,
    num_workers: int,
    *,
    python: str | None = None,
    timeout_s: float | None = None,
) -> LaunchResult:
    """Run ``config`` on ``num_workers`` Horovod processes and collect the results.

    Only the parameter-free preconditions are checked here (trainer env present); call
    :func:`validate_parameters` and :func:`validate_data` first.

    Args:
        config: The worker configuration; its ``log_dir`` receives config.json, the
            horovodrun output and every rank's log.
        num_workers: Horovod processes to start on this machine.
        python: Trainer interpreter; default :func:`trainer_python`.
        timeout_s: Kill the whole job after this many seconds (None: no limit).

    Raises:
        TrainingError: If horovodrun fails; the message holds the failing worker's error.
    """
    python = python or trainer_python()
    horovodrun = horovodrun_path(python)
    log_dir = Path(config.log_dir)
    config_path = _prepare(config, num_workers, log_dir)
    cmd = build_command(
        horovodrun, python, num_workers, str(config_path), str(log_dir / "horovodrun")
    )
    env = worker_env(python, config.intra_op_threads)
    log.info("launching: %s", " ".join(cmd))
    returncode, output, timed_out = _run_horovodrun(cmd, env, log_dir, timeout_s)
    if timed_out:
        raise TrainingError(
            f"Horovod training did not finish within {timeout_s} s and was stopped",
            f"raise the timeout or lower epochs; logs are in {log_dir}; "
            f"a re-run resumes from the checkpoints in {config.checkpoint_dir}",
        )
    if returncode != 0:
        _, detail = worker_errors(log_dir, output)
        if not detail:
            detail = "horovodrun output:\n" + tail(output, 20)
        raise TrainingError(
            f"Horovod training failed (horovodrun exit code {returncode}); {detail}",
            f"fix the cause above (logs: {log_dir}/worker_<rank>.log); a re-run resumes from the "
            f"last checkpoint in {config.checkpoint_dir}",
        )
    return _collect(config, log_dir)


def _prepare(config: WorkerConfig, num_workers: int, log_dir: Path) -> Path:
    """Clear a previous attempt's rank files, settle the thread counts, write config.json.

    Returns:
        The path of the written config.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    for pattern in ("error_rank*.txt", "pid_rank*", "weights_rank*.json"):
        for stale in log_dir.glob(pattern):
            stale.unlink()
    if not config.intra_op_threads:
        config.intra_op_threads = default_threads(cpu_count(), num_workers)
    if not config.inter_op_threads:
        config.inter_op_threads = config.intra_op_threads
    config_path = log_dir / "config.json"
    config.write(config_path)
    return config_path


def _run_horovodrun(
    cmd: list[str], env: dict[str, str], log_dir: Path, timeout_s: float | None
) -> tuple[int, str, bool]:
    """Run ``cmd``, teeing its output to ``horovodrun.log`` and the log.

    Returns:
        The exit code, the last 400 output lines, and whether the timeout killed the job.
    """
    recent: deque[str] = deque(maxlen=400)
    timed_out = threading.Event()
    with (log_dir / "horovodrun.log").open("w", encoding="utf-8") as out_file:
        # A new session makes the job's process group killable as a whole on timeout.
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=str(log_dir),
            start_new_session=True,
        )

        def _kill() -> None:
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout_s, _kill) if timeout_s else None
        if timer:
            timer.start()
        try:
            assert proc.stdout is not None
            for raw_line in proc.stdout:
                out_file.write(raw_line)
                line = raw_line.rstrip("\n")
                recent.append(line)
                if "cpu_feature_guard" not in line and "rebuild TensorFlow" not in line:
                    log.info("%s", line)
            returncode = proc.wait()
        finally:
            if timer:
                timer.cancel()
    return returncode, "\n".join(recent), timed_out.is_set()


def _collect(config: WorkerConfig, log_dir: Path) -> LaunchResult:
    """Read what rank 0 wrote (metrics, history) and every rank's weights digest."""
    out = Path(config.output_dir)
    try:
        metrics = json.loads((out / METRICS_FILE).read_text(encoding="utf-8"))
        history = json.loads((out / HISTORY_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TrainingError(
            f"horovodrun succeeded but rank 0 wrote no {exc.filename}", f"see the logs in {log_dir}"
        ) from exc
    weights = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(log_dir.glob("weights_rank*.json"))
    ]
    return LaunchResult(
        metrics=metrics, history=history, output_dir=str(out), log_dir=str(log_dir), weights=weights
    )
