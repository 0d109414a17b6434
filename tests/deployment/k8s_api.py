"""A loopback HTTP server that answers InferenceService requests like the Kubernetes API server.

It keeps objects in memory with resourceVersion/generation bookkeeping, applies JSON merge
patches (RFC 7386) and sets a ``status`` the way the KServe controller would (``Ready``
condition, URLs). Every request is recorded so tests can assert the paths, verbs and bodies
that the real ``kubernetes`` client built. ``ready`` switches the Ready condition.

Three behaviours of the real thing that a careless client trips over:

- **Admission**: with KServe's published CRD at hand (``crd_dir``), every written object is
  checked against its ``openAPIV3Schema`` and refused with ``422 Invalid`` as the API server
  does; unknown fields fail with ``400`` under ``fieldValidation=Strict`` and are silently
  dropped otherwise (the server's default).
- **Lag**: for ``stale_polls`` reads after each write, the object shows the status it had
  before (the controller has not reconciled yet): no status after a create, the old
  ``observedGeneration`` and old traffic after an update.
- **Revisions**: each model version is served by its own real server (``servers``, version
  -> URL); the canary's ``latest`` and ``prev`` tags point at the two versions' servers, and
  the main address at the revision that takes the traffic (``prev`` while a canary is at 0 %).
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.deployment.crds import CRD_DIR
from tests.k8s_admission import admit
from tests.k8s_admission import status as _status

_PATH = re.compile(
    r"^/apis/serving\.kserve\.io/v1beta1/namespaces/(?P<ns>[^/]+)/inferenceservices(?:/(?P<name>[^/?]+))?"
)


_ANNOTATION = "kfp-mlops.io/version"


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
    """State and behaviour of the fake API server.

    Attributes:
        server_url: Model server of any version without its own entry in ``servers``.
        servers: Version (the ``kfp-mlops.io/version`` annotation) -> its real server's URL.
        ready: Whether the controller reports the newest generation Ready.
        crd_dir: Folder of the published CRDs to admit writes against (None: no admission).
        stale_polls: Reads after each write that still show the status from before it.
    """

    server_url: str = "http://127.0.0.1:9"
    servers: dict[str, str] = field(default_factory=dict)
    ready: bool = True
    crd_dir: Path | None = CRD_DIR
    stale_polls: int = 2
    objects: dict[tuple[str, str], dict] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _rv: int = 0
    # key -> versions in the order they were deployed (the revisions); key -> [status, reads]
    _revisions: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _stale: dict[tuple[str, str], list[Any]] = field(default_factory=dict)

    def _url(self, version: str | None) -> str:
        return self.servers.get(version or "", self.server_url)

    def _status(self, obj: dict) -> dict:
        name = obj["metadata"]["name"]
        key = (obj["metadata"].get("namespace", ""), name)
        revisions = self._revisions.get(key) or [
            obj["metadata"].get("annotations", {}).get(_ANNOTATION, "")
        ]
        latest, prev = revisions[-1], (revisions[-2] if len(revisions) > 1 else None)
        ready = "True" if self.ready else "False"
        condition = {"type": "Ready", "status": ready}
        if not self.ready:
            condition.update(reason="RevisionMissing", message="Revision failed: container crashed")
        percent = obj["spec"].get("predictor", {}).get("canaryTrafficPercent")
        traffic = [{"tag": "latest", "url": self._url(latest), "latestRevision": True}]
        if prev is not None and percent is not None:
            traffic[0]["percent"] = percent
            traffic.append(
                {
                    "tag": "prev",
                    "url": self._url(prev),
                    "latestRevision": False,
                    "percent": 100 - percent,
                }
            )
        else:
            traffic[0]["percent"] = 100
        # The main address: whichever revision takes the traffic (no split is simulated).
        main = self._url(prev if prev is not None and percent == 0 else latest)
        return {
            "observedGeneration": obj["metadata"]["generation"],
            "conditions": [condition, {"type": "PredictorReady", "status": ready}],
            "url": f"http://{name}.example.com",
            "address": {"url": main},
            "components": {"predictor": {"traffic": traffic}},
        }

    def _store(self, obj: dict, generation: int) -> dict:
        self._rv += 1
        obj.setdefault("metadata", {})
        obj["metadata"]["resourceVersion"] = str(self._rv)
        obj["metadata"]["generation"] = generation
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        version = obj["metadata"].get("annotations", {}).get(_ANNOTATION, "")
        revisions = self._revisions.setdefault(key, [])
        if not revisions or revisions[-1] != version:
            revisions.append(version)
        obj["status"] = self._status(obj)
        return obj

    def _write(
        self, key: tuple[str, str], new: dict, generation: int, strict: bool
    ) -> tuple[int, Any]:
        """Admit ``new``, store it, and keep showing the status from before for a while."""
        refused = admit(new, self.crd_dir, strict)
        if refused:
            return refused
        before = self.objects.get(key)
        old_status = copy.deepcopy(before["status"]) if before else None
        self.objects[key] = self._store(new, generation)
        if self.stale_polls > 0:
            self._stale[key] = [old_status, self.stale_polls]
        return (201 if before is None else 200), self.objects[key]

    def _get(self, key: tuple[str, str]) -> tuple[int, Any]:
        current = self.objects.get(key)
        if current is None:
            return 404, _status(404, "NotFound", f'inferenceservices "{key[1]}" not found')
        shown = copy.deepcopy(current)
        shown["status"] = self._status(current)
        stale = self._stale.get(key)
        if stale:  # the controller has not caught up with the last write yet
            shown.pop("status")
            if stale[0] is not None:
                shown["status"] = copy.deepcopy(stale[0])
            stale[1] -= 1
            if stale[1] <= 0:
                del self._stale[key]
        return 200, shown

    def handle(self, method: str, path: str, ctype: str, body: Any) -> tuple[int, Any]:
        with self.lock:
            url = urlsplit(path)
            self.requests.append(Recorded(method, url.path, ctype, body))
            match = _PATH.match(url.path)
            if not match:
                return 404, {"kind": "Status", "code": 404, "message": f"no route {path}"}
            key = (match["ns"], match["name"] or (body or {}).get("metadata", {}).get("name"))
            strict = parse_qs(url.query).get("fieldValidation") == ["Strict"]
            current = self.objects.get(key)
            if method == "GET":
                return self._get(key)
            if method == "POST":
                if current is not None:
                    return 409, _status(409, "AlreadyExists", f'"{key[1]}" already exists')
                return self._write(key, copy.deepcopy(body), 1, strict)
            if current is None:
                return 404, _status(404, "NotFound", f'inferenceservices "{key[1]}" not found')
            generation = current["metadata"]["generation"] + 1
            if method == "PUT":
                if (
                    body["metadata"].get("resourceVersion")
                    != current["metadata"]["resourceVersion"]
                ):
                    return 409, _status(409, "Conflict", "the object has been modified")
                new = copy.deepcopy(body)
                new.pop("status", None)
                return self._write(key, new, generation, strict)
            if method == "PATCH":
                assert ctype == "application/merge-patch+json", ctype
                new = merge_patch({k: v for k, v in current.items() if k != "status"}, body)
                return self._write(key, new, generation, strict)
            if method == "DELETE":
                del self.objects[key]
                self._stale.pop(key, None)
                self._revisions.pop(key, None)
                return 200, {"kind": "Status", "status": "Success"}
            return 405, {"kind": "Status", "code": 405}

    def seed(self, obj: dict) -> dict:
        """Store ``obj`` as if it had been deployed and reconciled long ago (no lag)."""
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        self.objects[key] = self._store(copy.deepcopy(obj), 1)
        return self.objects[key]

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
