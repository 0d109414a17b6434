"""A real Prometheus Pushgateway (Debian's ``prometheus-pushgateway``) on loopback, for tests.

The fixture starts the binary on a free 127.0.0.1 port with persistence off (metrics only in
memory), waits for ``/-/ready`` and yields a :class:`Gateway` whose :meth:`Gateway.series`
reads back what was pushed from its ``/metrics``. It skips, saying why, when the binary is
not installed (``make system-deps`` installs it).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import free_port

BINARY = "prometheus-pushgateway"
#: Bounded start-up wait: READY_POLLS polls, READY_INTERVAL seconds apart.
READY_POLLS = 100
READY_INTERVAL = 0.1


@dataclass
class Gateway:
    """A running Pushgateway."""

    url: str
    process: subprocess.Popen

    def get(self, path: str) -> str:
        """GET ``path`` from the gateway (text)."""
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            return response.read().decode("utf-8")

    def series(self, job: str) -> dict[tuple[str, frozenset], float]:
        """The pushed samples of group ``job``: ``(name, labels without job/instance) -> value``.

        Read from the gateway's own ``/metrics``, which exposes every pushed group with its
        ``job`` label (and ``instance=""``), as Prometheus scrapes it.
        """
        from prometheus_client.parser import text_string_to_metric_families

        out = {}
        for family in text_string_to_metric_families(self.get("/metrics")):
            for sample in family.samples:
                labels = dict(sample.labels)
                if labels.pop("job", None) != job:
                    continue
                assert labels.pop("instance", "") == ""  # pushes carry no instance label
                out[(sample.name, frozenset(labels.items()))] = sample.value
        return out


def _wait_ready(gateway: Gateway) -> None:
    for _ in range(READY_POLLS):
        if gateway.process.poll() is not None:
            _, err = gateway.process.communicate(timeout=5)
            pytest.fail(f"{BINARY} exited with {gateway.process.returncode}: {err[-2000:]}")
        try:
            gateway.get("/-/ready")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(READY_INTERVAL)
    pytest.fail(f"{BINARY} at {gateway.url} not ready after {READY_POLLS * READY_INTERVAL:g} s")


@pytest.fixture
def pushgateway() -> Iterator[Gateway]:
    """A fresh, empty Pushgateway on a free loopback port; stopped after the test."""
    binary = shutil.which(BINARY)
    if binary is None:
        pytest.skip(f"{BINARY} is not installed (Debian package prometheus-pushgateway)")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--web.listen-address=127.0.0.1:{port}",
            "--persistence.file=",  # in memory only: no state between tests
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    gateway = Gateway(f"http://127.0.0.1:{port}", process)
    try:
        _wait_ready(gateway)
        yield gateway
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()
