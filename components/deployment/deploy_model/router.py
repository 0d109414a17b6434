"""A tiny HTTP router that splits traffic between local model servers by weight.

Run by the local deployment target::

    python -m kfp_mlops.components.deployment.deploy_model.router --state STATE.json --port P

It reads ``routes`` (``[{"version": ..., "port": ..., "weight": ...}]``) from the state file,
re-reading it whenever the file changes, and forwards each request to one backend chosen by
smooth weighted round-robin (deterministic: weights 10/90 send exactly 1 request in 10 to
the first). Answers carry ``x-served-by: <version>`` so a canary's own error rate and
latency can be measured. ``GET /router/routes`` shows the table. Standard library only, so it
starts in well under a second.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class WeightedPicker:
    """Smooth weighted round-robin (as nginx): spreads picks evenly and exactly by weight."""

    def __init__(self, routes: list[dict[str, Any]]) -> None:
        self.routes = [r for r in routes if int(r.get("weight", 0)) > 0]
        self._current = [0] * len(self.routes)
        self._lock = threading.Lock()

    def pick(self) -> dict[str, Any] | None:
        """The next backend, or ``None`` when no route has weight."""
        if not self.routes:
            return None
        with self._lock:
            total = 0
            best = 0
            for i, route in enumerate(self.routes):
                weight = int(route["weight"])
                self._current[i] += weight
                total += weight
                if self._current[i] > self._current[best]:
                    best = i
            self._current[best] -= total
            return self.routes[best]


class RouteTable:
    """Routes loaded from the state file, reloaded when its modification time changes."""

    def __init__(self, state_file: str) -> None:
        self.path = Path(state_file)
        self._mtime = -1.0
        self._lock = threading.Lock()
        self.picker = WeightedPicker([])

    def current(self) -> WeightedPicker:
        """The picker for the file as it is now."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return self.picker
        with self._lock:
            if mtime != self._mtime:
                try:
                    routes = json.loads(self.path.read_text()).get("routes", [])
                except (OSError, ValueError):
                    return self.picker  # mid-write: keep the previous table
                self.picker = WeightedPicker(routes)
                self._mtime = mtime
                log.info("routes: %s", routes)
            return self.picker


def make_handler(table: RouteTable) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``table``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive with clients

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the model servers log requests."""

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _forward(self) -> None:
            if self.path == "/router/routes":
                routes = table.current().routes
                self._send(
                    200,
                    json.dumps({"routes": routes}).encode(),
                    {"Content-Type": "application/json"},
                )
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            route = table.current().pick()
            if route is None:
                msg = {"error": "no backend has traffic: nothing is deployed"}
                self._send(503, json.dumps(msg).encode(), {"Content-Type": "application/json"})
                return
            version = str(route["version"])
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
            conns = self.server.__dict__.setdefault("_conns", threading.local())
            pool = conns.__dict__.setdefault("pool", {})
            port = int(route["port"])
            for attempt in range(2):  # a kept-alive backend connection may have been closed
                conn = pool.get(port) or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                pool[port] = conn
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    break
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    pool.pop(port, None)
                    if attempt == 1:
                        msg = {"error": f"backend {version} on port {port} failed: {exc}"}
                        self._send(
                            502,
                            json.dumps(msg).encode(),
                            {"Content-Type": "application/json", "x-served-by": version},
                        )
                        return
            out = {k: v for k, v in resp.getheaders() if k.lower() not in _HOP_HEADERS}
            out["x-served-by"] = version
            self._send(resp.status, data, out)

        do_GET = _forward
        do_POST = _forward

    return Handler


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--state", required=True, help="state JSON with a 'routes' list")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s router %(levelname)s %(message)s")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(RouteTable(args.state)))
    server.daemon_threads = True
    log.info("router on 127.0.0.1:%d, routes from %s (pid %d)", args.port, args.state, os.getpid())
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
