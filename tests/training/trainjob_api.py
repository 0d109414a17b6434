"""A loopback HTTP server answering Kubeflow Trainer requests like the Kubernetes API server.

It stores TrainingRuntimes and TrainJobs in memory and records every request, so tests
can assert the paths, verbs and bodies the real ``kubernetes`` client built. What the
Trainer controller would do is up to each test: ``on_create`` is called (in a thread) with
every created TrainJob and may set its status through :meth:`FakeTrainerApi.set_condition`.

Two behaviours of the real API server that a careless client trips over:

- **Admission**: with the published CRDs at hand (``CRD_DIR``), a created object is checked
  against its CRD's ``openAPIV3Schema`` and CEL rules and refused with ``422 Invalid``, as
  the API server does. Unknown fields fail with ``400`` only when the client asks for
  ``fieldValidation=Strict``; otherwise they are dropped from the stored object with a
  warning (the server's default, ``Warn``), so a misspelled field silently disappears.
- **Lag**: for ``stale_polls`` reads after each write, an object shows the status it had
  before the write (the controller has not reconciled yet): a new TrainJob shows none even
  when the controller has already set a condition, and a deleted one lingers, with its old
  status and a ``deletionTimestamp``, while its JobSet is deleted in the foreground.
"""

from __future__ import annotations

import copy
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from kfp_mlops.components.common import crd
from tests.deployment.k8s_api import FakeKubeServer
from tests.k8s_admission import admit
from tests.k8s_admission import status as _status

ROOT = Path(__file__).resolve().parents[2]
#: The published Trainer CRDs (../shared/schemas/crds or $KFP_MLOPS_CRD_DIR), or None.
CRD_DIR = crd.locate_crd_dir(ROOT.parent / "shared" / "schemas" / "crds")
needs_crds = pytest.mark.skipif(
    CRD_DIR is None,
    reason="the published Trainer CRDs are absent (../shared/schemas/crds, or set "
    f"{crd.CRD_DIR_ENV})",
)

_PATH = re.compile(
    r"^/apis/trainer\.kubeflow\.org/v1alpha1/namespaces/(?P<ns>[^/]+)/"
    r"(?P<plural>trainjobs|trainingruntimes)(?:/(?P<name>[^/?]+))?"
)


@dataclass
class FakeTrainerApi:
    """State and behaviour of the fake API server.

    Attributes:
        crd_dir: Folder of the published CRDs to admit objects against (None: no admission).
        stale_polls: Reads after each write that still show the status from before it.
        warnings: The ``Warning`` messages the server would send (dropped unknown fields).
    """

    objects: dict[tuple[str, str, str], dict] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    on_create: Callable[[dict], None] | None = None
    deny: int = 0  # answer every request with this status (401/403) when set
    crd_dir: Path | None = CRD_DIR
    stale_polls: int = 2
    warnings: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # key -> [status shown (None: none), reads left]; key -> reads left before it is gone
    _stale: dict[tuple[str, str, str], list[Any]] = field(default_factory=dict)
    _deleting: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def set_condition(self, ns: str, name: str, kind: str, reason: str, message: str) -> None:
        """Set the TrainJob's ``kind`` condition (Complete / Failed) to True."""
        with self.lock:
            obj = self.objects[("trainjobs", ns, name)]
            obj.setdefault("status", {})["conditions"] = [
                {"type": kind, "status": "True", "reason": reason, "message": message}
            ]

    def handle(self, method: str, path: str, ctype: str, body: Any) -> tuple[int, Any]:
        with self.lock:
            url = urlsplit(path)
            self.requests.append((method, url.path, body))
            if self.deny:
                return self.deny, {"kind": "Status", "code": self.deny, "reason": "Forbidden"}
            match = _PATH.match(url.path)
            if not match:
                return 404, {"kind": "Status", "code": 404, "message": f"no route {path}"}
            name = match["name"] or (body or {}).get("metadata", {}).get("name")
            key = (match["plural"], match["ns"], name)
            if method == "GET":
                return self._get(key)
            if method == "POST":
                strict = parse_qs(url.query).get("fieldValidation") == ["Strict"]
                return self._create(key, body, strict)
            if method == "DELETE":
                return self._delete(key)
            return 405, {"kind": "Status", "code": 405}

    def _get(self, key: tuple[str, str, str]) -> tuple[int, Any]:
        if key in self._deleting:
            self._deleting[key] -= 1
            if self._deleting[key] < 0:  # the foreground deletion has finished
                del self._deleting[key], self.objects[key]
                self._stale.pop(key, None)
        current = self.objects.get(key)
        if current is None:
            return 404, _status(404, "NotFound", f'{key[0]} "{key[2]}" not found')
        shown = copy.deepcopy(current)
        stale = self._stale.get(key)
        if stale:
            shown.pop("status", None)
            if stale[0] is not None:
                shown["status"] = copy.deepcopy(stale[0])
            stale[1] -= 1
            if stale[1] <= 0:
                del self._stale[key]
        return 200, shown

    def _wrote(self, key: tuple[str, str, str], before: dict[str, Any] | None) -> None:
        """Reads of ``key`` show the status from ``before`` the write for a while."""
        if self.stale_polls > 0:
            status = copy.deepcopy((before or {}).get("status"))
            self._stale[key] = [status, self.stale_polls]

    def _create(self, key: tuple[str, str, str], body: Any, strict: bool) -> tuple[int, Any]:
        plural, _ns, name = key
        if key in self.objects:
            being = " (the object is being deleted)" if key in self._deleting else ""
            message = f'{plural}.trainer.kubeflow.org "{name}" already exists{being}'
            return 409, _status(409, "AlreadyExists", message)
        obj = copy.deepcopy(body)
        refused = self._admit(obj, strict)
        if refused:
            return refused
        meta = obj["metadata"]
        meta.update(resourceVersion="1", generation=1, uid=str(uuid.uuid4()))
        self.objects[key] = obj
        self._wrote(key, None)
        if plural == "trainjobs" and self.on_create:
            threading.Thread(target=self.on_create, args=(copy.deepcopy(obj),)).start()
        return 201, copy.deepcopy(obj)

    def _admit(self, obj: dict[str, Any], strict: bool) -> tuple[int, Any] | None:
        """Admit ``obj`` (None) or refuse it; unknown fields are dropped unless ``strict``."""
        return admit(obj, self.crd_dir, strict, self.warnings)

    def _delete(self, key: tuple[str, str, str]) -> tuple[int, Any]:
        current = self.objects.get(key)
        if current is None:
            return 404, _status(404, "NotFound", f'{key[0]} "{key[2]}" not found')
        if self.stale_polls <= 0:  # no lag: gone at once
            del self.objects[key]
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
        current["metadata"].setdefault("deletionTimestamp", "2026-01-01T00:00:00Z")
        self._deleting.setdefault(key, self.stale_polls)
        self._wrote(key, current)
        return 200, copy.deepcopy(current)

    def calls(self) -> list[tuple[str, str]]:
        """(verb, path) of every request but GETs (the polling)."""
        return [(m, p) for m, p, _ in self.requests if m != "GET"]


def FakeTrainerServer(api: FakeTrainerApi) -> FakeKubeServer:
    """Runs :class:`FakeTrainerApi` on a loopback port (the deployment tests' HTTP server)."""
    return FakeKubeServer(api)  # type: ignore[arg-type]
