"""A loopback HTTP server answering Kubeflow Trainer requests like the Kubernetes API server.

It stores TrainingRuntimes and TrainJobs in memory and records every request, so tests
can assert the paths, verbs and bodies the real ``kubernetes`` client built. What the
Trainer controller would do is up to each test: ``on_create`` is called (in a thread) with
every created TrainJob and may set its status through :meth:`FakeTrainerApi.set_condition`.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.deployment.k8s_api import FakeKubeServer

_PATH = re.compile(
    r"^/apis/trainer\.kubeflow\.org/v1alpha1/namespaces/(?P<ns>[^/]+)/"
    r"(?P<plural>trainjobs|trainingruntimes)(?:/(?P<name>[^/?]+))?"
)


@dataclass
class FakeTrainerApi:
    """State and behaviour of the fake API server."""

    objects: dict[tuple[str, str, str], dict] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    on_create: Callable[[dict], None] | None = None
    deny: int = 0  # answer every request with this status (401/403) when set
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_condition(self, ns: str, name: str, kind: str, reason: str, message: str) -> None:
        """Set the TrainJob's ``kind`` condition (Complete / Failed) to True."""
        with self.lock:
            obj = self.objects[("trainjobs", ns, name)]
            obj.setdefault("status", {})["conditions"] = [
                {"type": kind, "status": "True", "reason": reason, "message": message}
            ]

    def handle(self, method: str, path: str, ctype: str, body: Any) -> tuple[int, Any]:
        with self.lock:
            self.requests.append((method, path.split("?")[0], body))
            if self.deny:
                return self.deny, {"kind": "Status", "code": self.deny, "reason": "Forbidden"}
            match = _PATH.match(path)
            if not match:
                return 404, {"kind": "Status", "code": 404, "message": f"no route {path}"}
            name = match["name"] or (body or {}).get("metadata", {}).get("name")
            key = (match["plural"], match["ns"], name)
            current = self.objects.get(key)
            if method == "GET":
                if current is None:
                    return 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
                return 200, copy.deepcopy(current)
            if method == "POST":
                if current is not None:
                    return 409, {"kind": "Status", "code": 409, "reason": "AlreadyExists"}
                obj = copy.deepcopy(body)
                obj["metadata"]["resourceVersion"] = "1"
                self.objects[key] = obj
                if match["plural"] == "trainjobs" and self.on_create:
                    threading.Thread(target=self.on_create, args=(copy.deepcopy(obj),)).start()
                return 201, obj
            if method == "DELETE":
                if current is None:
                    return 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
                del self.objects[key]
                return 200, {"kind": "Status", "status": "Success"}
            return 405, {"kind": "Status", "code": 405}

    def calls(self) -> list[tuple[str, str]]:
        """(verb, path) of every request but GETs (the polling)."""
        return [(m, p) for m, p, _ in self.requests if m != "GET"]


def FakeTrainerServer(api: FakeTrainerApi) -> FakeKubeServer:
    """Runs :class:`FakeTrainerApi` on a loopback port (the deployment tests' HTTP server)."""
    return FakeKubeServer(api)  # type: ignore[arg-type]
