"""The server's tests use the deployment tests' real models (trained in seconds, plus really
broken ones): one definition of them, re-exported here. ``serve`` starts a real server
process on loopback with any flags."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kfp_mlops.components.deployment.deploy_model import processes
from kfp_mlops.components.deployment.deploy_model.smoke import wait_ready
from tests.deployment.conftest import Models, file_inputs, models  # noqa: F401


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    """``serve(model_dir, preprocessor, *flags, python=) -> url``: stopped after the module."""
    started: list[subprocess.Popen] = []

    def start(
        model_dir, preprocessor, *flags: str, timeout: float = 240, python: str = sys.executable
    ) -> str:
        port = processes.free_port()
        log = tmp_path_factory.mktemp("server") / "server.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [python, "-m", "kfp_mlops.components.serving", "--model-dir",
                 str(model_dir), "--preprocessor", str(preprocessor), "--model-name", "clf",
                 "--http-port", str(port), "--no-access-log", *flags],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # so processes.stop can stop its process group
            )  # fmt: skip
        started.append(proc)
        url = f"http://127.0.0.1:{port}"
        alive = lambda: None if proc.poll() is None else log.read_text()[-2000:]  # noqa: E731
        wait_ready(url, "clf", timeout, alive=alive)
        return url

    yield start
    for proc in started:
        processes.stop(proc.pid)  # SIGTERM, SIGKILL after 15 s
        proc.wait(timeout=10)
