"""A loopback HTTP server that answers InferenceService requests like the Kubernetes API server.

It keeps objects in memory with resourceVersion/generation bookkeeping, applies JSON merge
patches (RFC 7386) and sets a ``status`` the way the KServe controller would (``Ready``
condition, URLs). Every request is recorded so tests can assert the paths, verbs and bodies
that the real ``kubernetes`` client built. ``ready`` switches the Ready condition.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PATH = re.compile(
    r"^/apis/serving\.kserve\.io/v1beta1/namespaces/(?P<ns>[^/]+)/inferenceservices(?:/(?P<name>[^/?]+))?"
)


@dataclass
class Recorded:
    method: str
    path: str
    content_type: str
    body: Any


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@dataclass
class FakeKubeApi:
    """State and behaviour of the fake API server."""

    server_url: str = "http://127.0.0.1:9"  # where status URLs point (a real model server)
    ready: bool = True
    objects: dict[tuple[str, str], dict] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _rv: int = 0

    def _status(self, obj: dict) -> dict:
        name = obj["metadata"]["name"]
        ready = "True" if self.ready else "False"
        condition = {"type": "Ready", "status": ready}
        if not self.ready:
            condition.update(reason="RevisionMissing", message="Revision failed: container crashed")
        return {
            "observedGeneration": obj["metadata"]["generation"],
            "conditions": [condition, {"type": "PredictorReady", "status": ready}],
            "url": f"http://{name}.example.com",
            "address": {"url": self.server_url},
            "components": {
                "predictor": {
                    "traffic": [
                        {"tag": "latest", "url": self.server_url, "latestRevision": True},
                        {"tag": "prev", "url": self.server_url, "latestRevision": False},
                    ]
                }
            },
        }

    def _store(self, obj: dict, generation: int) -> dict:
        self._rv += 1
        obj.setdefault("metadata", {})
        obj["metadata"]["resourceVersion"] = str(self._rv)
        obj["metadata"]["generation"] = generation
        obj["status"] = self._status(obj)
        return obj

    def handle(self, method: str, path: str, ctype: str, body: Any) -> tuple[int, Any]:
        with self.lock:
            self.requests.append(Recorded(method, path.split("?")[0], ctype, body))
            match = _PATH.match(path)
            if not match:
                return 404, {"kind": "Status", "code": 404, "message": f"no route {path}"}
            key = (match["ns"], match["name"] or (body or {}).get("metadata", {}).get("name"))
            current = self.objects.get(key)
            if method == "GET":
                if current is None:
                    return 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
                current["status"] = self._status(current)
                return 200, current
            if method == "POST":
                if current is not None:
                    return 409, {"kind": "Status", "code": 409, "reason": "AlreadyExists"}
                self.objects[key] = self._store(copy.deepcopy(body), 1)
                return 201, self.objects[key]
            if current is None:
                return 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
            if method == "PUT":
                if (
                    body["metadata"].get("resourceVersion")
                    != current["metadata"]["resourceVersion"]
                ):
                    return 409, {"kind": "Status", "code": 409, "reason": "Conflict"}
                new = copy.deepcopy(body)
                new.pop("status", None)
                self.objects[key] = self._store(new, current["metadata"]["generation"] + 1)
                return 200, self.objects[key]
            if method == "PATCH":
                assert ctype == "application/merge-patch+json", ctype
                new = merge_patch({k: v for k, v in current.items() if k != "status"}, body)
                self.objects[key] = self._store(new, current["metadata"]["generation"] + 1)
                return 200, self.objects[key]
            if method == "DELETE":
                del self.objects[key]
                return 200, {"kind": "Status", "status": "Success"}
            return 405, {"kind": "Status", "code": 405}

    def calls(self) -> list[tuple[str, str]]:
        """(verb, path) of every request but GETs (the polling)."""
        return [(r.method, r.path) for r in self.requests if r.method != "GET"]


class FakeKubeServer:
    """Runs :class:`FakeKubeApi` on a loopback port."""

    def __init__(self, api: FakeKubeApi) -> None:
        self.api = api
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _do(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                status, answer = outer.api.handle(
                    self.command, self.path, self.headers.get("Content-Type", ""), body
                )
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _do

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def api_client(self) -> Any:
        """A real kubernetes ApiClient pointed at this server."""
        from kubernetes import client

        cfg = client.Configuration()
        cfg.host = self.url
        return client.ApiClient(cfg)

    def __enter__(self) -> FakeKubeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
