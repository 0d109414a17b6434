"""Real Prometheus, Alertmanager and Pushgateway on loopback, a webhook receiver, model servers.

Debian's binaries (``prometheus``, ``prometheus-alertmanager``, ``prometheus-pushgateway``;
``make system-deps`` installs them) run as child processes on free 127.0.0.1 ports with
their data in a temporary folder; :func:`need` skips a test, saying why, when one is
missing. Every wait is bounded. Callers stop what they start with :meth:`Service.stop`
(or use the ``with`` form), which signals only that process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import free_port

PROMETHEUS, ALERTMANAGER, PUSHGATEWAY = (
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-pushgateway",
)
READY_TIMEOUT = 60.0


def need(binary: str) -> str:
    """The binary's path, or skip the test naming the Debian package."""
    path = shutil.which(binary)
    if path is None:
        package = "prometheus" if binary == "promtool" else binary
        pytest.skip(f"{binary} is not installed (Debian package {package}; make system-deps)")
    return path


def http_get(url: str, timeout: float = 5.0) -> bytes:
    """GET ``url``; raises on a non-2xx answer."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Call ``check`` until it returns something truthy; fail naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    pytest.fail(f"{what} not seen within {timeout:g} s (last: {last!r})")


@dataclass
class Service:
    """A child process serving HTTP on ``url``; its output goes to ``log``."""

    name: str
    url: str
    process: subprocess.Popen
    log: Path

    def get(self, path: str) -> bytes:
        """GET a path of the service."""
        return http_get(self.url + path)

    def wait_ready(self, path: str = "/-/ready", timeout: float = READY_TIMEOUT) -> None:
        """Poll ``path`` until it answers 2xx; fail with the log's tail if the process exits."""

        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.process.returncode}: {self.tail()}")
            self.get(path)
            return True

        wait_until(ready, timeout, f"{self.name} ready at {self.url}{path}")

    def tail(self, chars: int = 3000) -> str:
        """The end of the service's log."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; only this process."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _spawn(name: str, args: list[str], port: int, folder: Path, env: dict | None = None) -> Service:
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    return Service(name, f"http://127.0.0.1:{port}", process, log)


# --- Pushgateway ------------------------------------------------------------------------


def start_pushgateway(folder: Path) -> Service:
    """An empty, in-memory Pushgateway."""
    port = free_port()
    args = [
        need(PUSHGATEWAY),
        f"--web.listen-address=127.0.0.1:{port}",
        "--persistence.file=",
        "--log.level=warn",
    ]
    service = _spawn("pushgateway", args, port, folder)
    service.wait_ready()
    return service


# --- Alertmanager and its webhook receiver -----------------------------------------------


@dataclass
class Notification:
    """One webhook POST from Alertmanager."""

    path: str
    body: dict

    @property
    def alerts(self) -> list[dict]:
        """The notification's alerts (each with ``labels``, ``annotations``, ``status``)."""
        return self.body.get("alerts", [])


@dataclass
class WebhookReceiver:
    """A tiny HTTP server in a thread recording every POSTed JSON body."""

    server: ThreadingHTTPServer
    received: list[Notification] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """Base URL (append a path per receiver)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def alerts(self, path: str | None = None) -> list[tuple[str, dict]]:
        """``(path, alert)`` of every alert received so far (on ``path`` only, if given)."""
        with self.lock:
            notes = list(self.received)
        return [(n.path, a) for n in notes if path in (None, n.path) for a in n.alerts]

    def wait_for(self, match: Callable[[str, dict], bool], timeout: float, what: str) -> dict:
        """The first received alert ``match(path, alert)`` accepts; fail after ``timeout``."""
        found = wait_until(
            lambda: [a for p, a in self.alerts() if match(p, a)], timeout, what, interval=0.5
        )
        return found[0]

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def start_receiver() -> WebhookReceiver:
    """A webhook receiver on a free loopback port."""
    holder: dict[str, WebhookReceiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            receiver = holder["receiver"]
            with receiver.lock:
                receiver.received.append(Notification(self.path, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass  # quiet test output

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = WebhookReceiver(server)
    holder["receiver"] = receiver
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


def alertmanager_config(routes: dict[str, str], default: str) -> dict:
    """Route by ``severity`` to webhook paths: ``routes`` maps a severity to a receiver URL."""
    receivers = [{"name": "default", "webhook_configs": [{"url": default}]}]
    children = []
    for severity, url in routes.items():
        receivers.append({"name": severity, "webhook_configs": [{"url": url}]})
        children.append({"receiver": severity, "matchers": [f'severity="{severity}"']})
    return {
        "route": {
            "receiver": "default",
            "group_by": ["alertname", "model", "version"],
            "group_wait": "1s",  # quick for tests; minutes in production
            "group_interval": "1s",
            "repeat_interval": "1h",
            "routes": children,
        },
        "receivers": receivers,
    }


def start_alertmanager(folder: Path, config: dict) -> Service:
    """Alertmanager with ``config``, clustering off, state in ``folder``."""
    port = free_port()
    path = folder / "alertmanager.yml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    args = [
        need(ALERTMANAGER),
        f"--config.file={path}",
        f"--storage.path={folder / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # a single instance: no gossip port
        "--log.level=warn",
    ]
    service = _spawn("alertmanager", args, port, folder)
    service.wait_ready()
    return service


# --- Prometheus ---------------------------------------------------------------------------


@dataclass
class Prometheus(Service):
    """A Prometheus server with its HTTP API."""

    def api(self, path: str, **params: str) -> Any:
        """``/api/v1/<path>``'s ``data``."""
        query = "?" + urllib.parse.urlencode(params) if params else ""
        answer = json.loads(self.get(f"/api/v1/{path}{query}"))
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, expr: str) -> list[dict]:
        """An instant query's result vector."""
        return self.api("query", query=expr)["result"]

    def alerts(self) -> list[dict]:
        """Alerts pending or firing now."""
        return self.api("alerts")["alerts"]

    def targets_up(self) -> bool:
        """Whether every scrape target answered its last scrape."""
        active = self.api("targets")["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)


def prometheus_config(
    jobs: dict[str, list[str]],
    rule_files: list[str],
    alertmanager: str | None = None,
    pushgateway: str | None = None,
    interval: str = "1s",
) -> dict:
    """Scrape ``jobs`` (name -> host:port targets) and the Pushgateway (honouring its labels)."""
    scrapes = [
        {"job_name": job, "static_configs": [{"targets": targets}]} for job, targets in jobs.items()
    ]
    if pushgateway:
        scrapes.append(
            {
                "job_name": "pushgateway",
                "honor_labels": True,  # keep the pushed job, model and version labels
                "static_configs": [{"targets": [pushgateway]}],
            }
        )
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "rule_files": rule_files,
        "scrape_configs": scrapes,
    }
    if alertmanager:
        config["alerting"] = {
            "alertmanagers": [
                {"api_version": "v2", "static_configs": [{"targets": [alertmanager]}]}
            ]
        }
    return config


def start_prometheus(folder: Path, config: dict) -> Prometheus:
    """Prometheus with ``config`` (rule files relative to ``folder``), TSDB in ``folder``."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    args = [
        need(PROMETHEUS),
        f"--config.file={path}",
        f"--storage.tsdb.path={folder / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    service = _spawn("prometheus", args, port, folder)
    prometheus = Prometheus(service.name, service.url, service.process, service.log)
    prometheus.wait_ready()
    return prometheus


def host_port(url: str) -> str:
    """``127.0.0.1:1234`` of ``http://127.0.0.1:1234``."""
    return urllib.parse.urlsplit(url).netloc


# --- The model server ----------------------------------------------------------------------


def start_model_server(
    folder: Path, model_dir: Path, preprocessor: Path, name: str, version: str
) -> Service:
    """The real model server (TFLite or Keras) serving ``name``, labelled ``version``."""
    from kfp_mlops.components.deployment.deploy_model.smoke import wait_ready

    port = free_port()
    args = [
        sys.executable, "-m", "kfp_mlops.components.serving", "--model-dir", str(model_dir),
        "--preprocessor", str(preprocessor), "--model-name", name, "--http-port", str(port),
        "--no-access-log",
    ]  # fmt: skip
    env = dict(os.environ, KFP_MLOPS_MODEL_VERSION=version, TF_CPP_MIN_LOG_LEVEL="2")
    service = _spawn(f"model-server-{version}", args, port, folder, env)
    alive = lambda: None if service.process.poll() is None else service.tail()  # noqa: E731
    try:
        wait_ready(service.url, name, 240, alive=alive)
    except Exception:
        service.stop()
        raise
    return service
