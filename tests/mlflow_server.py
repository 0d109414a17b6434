"""Start a real ``mlflow server`` on loopback (SQLite backend, proxied artifact store).

Used by the registry and evaluation test fixtures; one server per test session per area.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

STARTUP_TIMEOUT_S = 300.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _mlflow_executable() -> str:
    candidate = Path(sys.executable).with_name("mlflow")
    return str(candidate) if candidate.exists() else "mlflow"


def start_mlflow_server(
    tmp_dir: str | Path, artifact_root: str = ""
) -> tuple[str, subprocess.Popen]:
    """Start ``mlflow server`` in ``tmp_dir`` and wait until ``/health`` answers.

    Args:
        tmp_dir: Directory for the SQLite database, the artifacts and the server log.
        artifact_root: Clients write artifacts straight there (e.g. ``gs://bucket/mlflow``,
            as a cluster's MLflow with a bucket does); empty: proxied through the server.

    Returns:
        The server URL (``http://127.0.0.1:<port>``) and its process; terminate it when done.

    Raises:
        RuntimeError: If the server does not answer within STARTUP_TIMEOUT_S (log included).
    """
    tmp = Path(tmp_dir)
    tmp.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log_path = tmp / "mlflow-server.log"
    # The job runner (huey consumers) is not needed for the registry and slows startup.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(log_path, "wb") as log:  # the child keeps its own handle
        process = subprocess.Popen(
            [
                _mlflow_executable(),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{tmp / 'mlflow.db'}",
                *(
                    ["--default-artifact-root", artifact_root, "--no-serve-artifacts"]
                    if artifact_root
                    else ["--artifacts-destination", str(tmp / "artifacts"), "--serve-artifacts"]
                ),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp,
            env=env,
            start_new_session=True,  # its own process group, so workers stop with it
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return url, process
        except OSError:
            time.sleep(0.5)
    stop_mlflow_server(process)
    raise RuntimeError(
        f"mlflow server did not start on {url}: {log_path.read_text(errors='replace')[-3000:]}"
    )


def stop_mlflow_server(process: subprocess.Popen) -> None:
    """Terminate the server started by :func:`start_mlflow_server` (kill if it hangs)."""
    # The server forks uvicorn workers: signal its whole (own) process group, even if the
    # parent already exited.
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def closed_port_uri() -> str:
    """A loopback URL where nothing listens (for "unreachable registry" tests)."""
    return f"http://127.0.0.1:{_free_port()}"
