"""Model-server and router processes on loopback, started and stopped by process id.

Processes run in their own session (process group) so that stopping one also stops its
children, and they outlive the deploy call that started them when they are promoted: the
local target's state file records their ids. Before signalling a recorded id, its command
line is checked, so a recycled id of some unrelated process is never signalled.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SERVE_MODULE = "kfp_mlops.components.serving"
ROUTER_MODULE = "kfp_mlops.components.deployment.deploy_model.router"
_MARKER = "kfp_mlops.components."  # the server and router modules
_CHILDREN: dict[int, subprocess.Popen] = {}  # processes this interpreter started


@dataclass
class ServerProcess:
    """A started process: its id, port and log file."""

    pid: int
    port: int
    log_path: str

    @property
    def url(self) -> str:
        """Base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    def to_json(self) -> dict[str, Any]:
        """For the state file."""
        return asdict(self)


def free_port() -> int:
    """A TCP port that is free on loopback now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn(
    args: list[str],
    port: int,
    log_path: Path,
    extra_env: dict[str, str] | None = None,
    python: str | None = None,
) -> ServerProcess:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env.update(extra_env or {})
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [python or sys.executable, "-m", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    log.info("started pid %d on port %d: %s (log %s)", proc.pid, port, args[0], log_path)
    return ServerProcess(proc.pid, port, str(log_path))


def start_server(
    model_dir: str,
    preprocessor: str,
    model_name: str,
    log_path: str | Path,
    backend: str = "auto",
    port: int | None = None,
    access_log: bool = True,
    version: str = "",
    python: str | None = None,
) -> ServerProcess:
    """Start ``serve`` for one model version on a free loopback port.

    ``version`` labels the server's metrics (``KFP_MLOPS_MODEL_VERSION``), so alerts name it;
    ``python`` runs it in another env (the benchmark's serving-image env), default this one.
    """
    port = port or free_port()
    args = [
        SERVE_MODULE,
        "--model-dir",
        str(model_dir),
        "--preprocessor",
        str(preprocessor),
        "--model-name",
        model_name,
        "--http-port",
        str(port),
        "--host",
        "127.0.0.1",  # loopback only: the local target never exposes a model to the network
        "--backend",
        backend,
    ]
    if not access_log:
        args.append("--no-access-log")
    extra = {"KFP_MLOPS_MODEL_VERSION": version} if version else None
    return _spawn(args, port, Path(log_path), extra, python)


def start_router(
    state_file: str | Path, log_path: str | Path, port: int | None = None
) -> ServerProcess:
    """Start the traffic-splitting router that reads its routes from ``state_file``."""
    port = port or free_port()
    args = [ROUTER_MODULE, "--state", str(state_file), "--port", str(port)]
    return _spawn(args, port, Path(log_path))


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is one of our servers and still running (zombies count as dead)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            return False
    except (OSError, IndexError):
        pass
    cmd = _cmdline(pid)
    return not cmd or _MARKER in cmd  # no /proc (macOS): trust kill(0)


def exit_message(pid: int, log_path: str | None = None) -> str | None:
    """``None`` while running, else a line saying it exited, with the log's last lines."""
    if is_alive(pid):
        return None
    child = _CHILDREN.get(pid)
    code = child.returncode if child is not None else "?"
    return f"process {pid} exited (code {code}); log tail: {log_tail(log_path)}"


def log_tail(log_path: str | None, lines: int = 8) -> str:
    """Last lines of a log file, joined on one line."""
    if not log_path or not Path(log_path).exists():
        return ""
    text = Path(log_path).read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:])


def stop(pid: int, timeout_s: float = 15.0) -> bool:
    """SIGTERM the process group of one of our servers, SIGKILL after ``timeout_s``.

    Returns:
        True if something was stopped, False if it was not running (or not ours).
    """
    child = _CHILDREN.get(pid)
    if child is None:
        cmd = _cmdline(pid)
        if not is_alive(pid) or (cmd and _MARKER not in cmd):
            return False
    elif child.poll() is not None:
        _CHILDREN.pop(pid, None)
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and is_alive(pid):
        time.sleep(0.1)
    if is_alive(pid):
        log.warning("pid %d ignored SIGTERM for %.0f s: killing it", pid, timeout_s)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if child is not None:
        child.wait(timeout=10)
        _CHILDREN.pop(pid, None)
    log.info("stopped pid %d", pid)
    return True
