"""Where a model is deployed, behind one interface the strategies drive.

- :class:`ClusterTarget`: a KServe InferenceService through the Kubernetes API
  (``CustomObjectsApi``: create or replace, merge-patch ``canaryTrafficPercent``, wait for the
  ``Ready`` condition, restore the previous spec on rollback).
- :class:`GitOpsTarget`: kustomize-ready files in a directory that a GitOps controller
  (Argo CD, Flux) applies; nothing else in the directory is touched.
- :class:`LocalTarget`: real model-server processes on loopback behind a weighted router;
  a JSON state file remembers which version is live on which port, so the next deployment
  finds it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.k8s import default_api_client
from kfp_mlops.components.deployment import manifests as m
from kfp_mlops.components.deployment import processes
from kfp_mlops.components.deployment.smoke import DeploymentError, ReadyTimeout, request, wait_ready

log = logging.getLogger(__name__)


@dataclass
class Release:
    """One version of one model.

    Attributes:
        name: Service and model name (Kubernetes-safe).
        version: Content version (``bundle.version_of``).
        model_dir: Local Model artifact directory (local target).
        preprocessor: Local preprocessor JSON (local target).
        backend: Server backend: auto, keras or tflite.
        spec: InferenceService settings (cluster and GitOps targets).
    """

    name: str
    version: str
    model_dir: str = ""
    preprocessor: str = ""
    backend: str = "auto"
    spec: m.ServingSpec | None = None


class Target(ABC):
    """Operations a strategy needs; each target implements them its own way."""

    kind = ""
    #: False when nothing can be measured from here (GitOps): checks are recorded, not run.
    live_checks = True

    @abstractmethod
    def live(self) -> Release | None:
        """The version serving traffic now, or ``None``."""

    @abstractmethod
    def start(self, release: Release, strategy: str) -> None:
        """Bring ``release`` up: beside the live one (canary, blue-green) or in its place."""

    @abstractmethod
    def wait_ready(self, release: Release, timeout_s: float) -> None:
        """Block until ``release`` is ready; raise :class:`ReadyTimeout` otherwise."""

    @abstractmethod
    def endpoint(self, release: Release) -> str | None:
        """Base URL reaching ``release`` alone (for smoke tests); ``None`` if unreachable."""

    @abstractmethod
    def route_url(self) -> str | None:
        """Base URL of the service as clients see it (traffic split applies)."""

    @abstractmethod
    def set_traffic(self, release: Release, percent: int) -> None:
        """Send ``percent`` % of the service's traffic to ``release``, the rest to the live one."""

    @abstractmethod
    def promote(self, release: Release) -> None:
        """Make ``release`` the live version and retire the previous one."""

    @abstractmethod
    def rollback(self, release: Release, previous: Release | None) -> None:
        """Remove ``release``; ``previous`` (if any) serves all traffic again."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release anything a failed or finished deployment left (called in ``finally``)."""


# -- cluster --------------------------------------------------------------------------------
class ClusterTarget(Target):
    """A KServe InferenceService in a Kubernetes cluster.

    Untested against a real cluster: the tests drive it against a loopback HTTP server that
    answers like the API server.

    Args:
        name: InferenceService name.
        namespace: Namespace.
        api_client: A ``kubernetes.client.ApiClient``; by default from the in-cluster
            service account, else from ``kubeconfig`` (or ``~/.kube/config``).
        kubeconfig: Path of a kubeconfig file.
        poll_interval_s: Seconds between status polls.
    """

    kind = "cluster"

    def __init__(
        self,
        name: str,
        namespace: str,
        api_client: Any = None,
        kubeconfig: str = "",
        poll_interval_s: float = 2.0,
    ) -> None:
        from kubernetes import client

        if api_client is None:
            api_client = default_api_client(kubeconfig, "manage inferenceservices")
        self.name = name
        self.namespace = namespace
        self.api = client.CustomObjectsApi(api_client)
        self.poll_interval_s = poll_interval_s
        self.previous_obj: dict[str, Any] | None = None
        self._strategy = ""
        self._ready_timeout_s = 120.0

    @property
    def preview_name(self) -> str:
        """Name of the blue-green preview service."""
        return m.k8s_name(f"{self.name}-preview", m.MAX_ISVC_NAME)

    # API helpers
    def _get(self, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.api.get_namespaced_custom_object(
                m.GROUP, m.VERSION, self.namespace, m.PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _upsert(self, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        existing = self._get(name)
        if existing is None:
            self.api.create_namespaced_custom_object(
                m.GROUP, m.VERSION, self.namespace, m.PLURAL, body
            )
            return
        body = json.loads(json.dumps(body))
        body["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
        self.api.replace_namespaced_custom_object(
            m.GROUP, m.VERSION, self.namespace, m.PLURAL, name, body
        )

    def _patch_canary(self, percent: int | None) -> None:
        # Merge patch: null deletes the field, which promotes the latest revision to 100 %.
        body = {"spec": {"predictor": {"canaryTrafficPercent": percent}}}
        self.api.patch_namespaced_custom_object(
            m.GROUP, m.VERSION, self.namespace, m.PLURAL, self.name, body
        )

    def _delete(self, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.api.delete_namespaced_custom_object(
                m.GROUP, m.VERSION, self.namespace, m.PLURAL, name
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def _restore_previous(self) -> None:
        if self.previous_obj is None:
            self._delete(self.name)
            return
        body = {
            "apiVersion": m.API_VERSION,
            "kind": m.KIND,
            "metadata": {
                k: v
                for k, v in self.previous_obj["metadata"].items()
                if k in ("name", "namespace", "labels", "annotations")
            },
            "spec": self.previous_obj["spec"],
        }
        self._upsert(body)

    def _manifest(self, release: Release, **changes: Any) -> dict[str, Any]:
        if release.spec is None:
            raise ParameterError("the cluster target needs a ServingSpec", "pass release.spec")
        return m.inference_service(dataclasses.replace(release.spec, **changes))

    # Target interface
    def live(self) -> Release | None:
        """The InferenceService as it is now (its spec is kept for rollback)."""
        obj = self._get(self.name)
        self.previous_obj = obj
        if obj is None:
            return None
        version = obj["metadata"].get("annotations", {}).get(m.ANNOTATION_VERSION, "unknown")
        return Release(self.name, version)

    def start(self, release: Release, strategy: str) -> None:
        """Create or replace the service (canary at 0 %), or create the preview service."""
        self._strategy = strategy
        if strategy == "blue-green" and self.previous_obj is not None:
            preview = self._manifest(release, name=self.preview_name, model_name=self.name)
            self._upsert(preview)
        elif strategy == "canary" and self.previous_obj is not None:
            self._upsert(self._manifest(release, canary_traffic_percent=0))
        else:
            self._upsert(self._manifest(release, canary_traffic_percent=None))

    def _service_for(self, release: Release) -> str:
        if self._strategy == "blue-green" and self.previous_obj is not None:
            return self.preview_name
        return self.name

    def wait_ready(self, release: Release, timeout_s: float) -> None:
        """Poll until ``Ready`` is True for the generation we applied."""
        self._ready_timeout_s = timeout_s
        name = self._service_for(release)
        start = time.monotonic()
        last = "no status yet"
        while True:
            obj = self._get(name) or {}
            status = obj.get("status", {})
            conditions = {c.get("type"): c for c in status.get("conditions", [])}
            ready = conditions.get("Ready", {})
            generation = obj.get("metadata", {}).get("generation")
            observed = status.get("observedGeneration")
            current = generation is None or observed is None or observed >= generation
            if ready.get("status") == "True" and current:
                return
            if ready:
                last = " ".join(str(ready.get(k, "")) for k in ("status", "reason", "message"))
                last = f"Ready={last}"
            if time.monotonic() - start > timeout_s:
                raise ReadyTimeout(
                    f"InferenceService {self.namespace}/{name} was not ready after "
                    f"{timeout_s:g} s ({last.strip()})",
                    f"kubectl describe inferenceservice -n {self.namespace} {name}",
                )
            time.sleep(self.poll_interval_s)

    @staticmethod
    def _url(status: dict[str, Any]) -> str | None:
        # The cluster-local address works from a pipeline pod; the external URL may not.
        return (status.get("address") or {}).get("url") or status.get("url")

    def endpoint(self, release: Release) -> str | None:
        """The preview service, the canary's ``latest`` tag URL, or the service URL."""
        obj = self._get(self._service_for(release)) or {}
        status = obj.get("status", {})
        if self._strategy == "canary":
            traffic = status.get("components", {}).get("predictor", {}).get("traffic", [])
            for entry in traffic:
                if entry.get("tag") == "latest" and entry.get("url"):
                    return entry["url"]
        return self._url(status)

    def route_url(self) -> str | None:
        """The main service's URL."""
        return self._url((self._get(self.name) or {}).get("status", {}))

    def set_traffic(self, release: Release, percent: int) -> None:
        """Canary: patch the share. Blue-green at 100 %: switch the main service."""
        if self._strategy == "blue-green" and self.previous_obj is not None:
            if percent == 100:
                self._upsert(self._manifest(release, canary_traffic_percent=None))
                self._strategy = "switch"  # wait for the main service, not the preview
                try:
                    self.wait_ready(release, self._ready_timeout_s)
                finally:
                    self._strategy = "blue-green"
            return
        self._patch_canary(percent)

    def promote(self, release: Release) -> None:
        """Canary: drop ``canaryTrafficPercent``. Blue-green: delete the preview."""
        if self._strategy == "canary" and self.previous_obj is not None:
            self._patch_canary(None)
        elif self._strategy == "blue-green" and self.previous_obj is not None:
            self._delete(self.preview_name)

    def rollback(self, release: Release, previous: Release | None) -> None:
        """Traffic back to the previous revision, then its spec restored."""
        if self._strategy == "canary" and self.previous_obj is not None:
            self._patch_canary(0)  # instant: all traffic to the previous revision
            self._restore_previous()
        elif self._strategy == "blue-green" and self.previous_obj is not None:
            self._delete(self.preview_name)
            current = self._get(self.name) or {}
            annotations = current.get("metadata", {}).get("annotations", {})
            if annotations.get(m.ANNOTATION_VERSION) == release.version:
                self._restore_previous()  # the switch had happened
        else:
            self._restore_previous()


# -- gitops ---------------------------------------------------------------------------------
class GitOpsTarget(Target):
    """Kustomize-ready manifests under ``<root>/<name>/`` for a GitOps controller.

    Layout: ``base/`` (the new version's InferenceService and release ConfigMap, with a
    ``kustomization.yaml``), and for ``canary`` one overlay per step below 100 %
    (``overlays/canary-10`` patches ``canaryTrafficPercent: 10``), for ``blue-green`` an
    ``overlays/preview`` that deploys the new version as ``<name>-preview``. Apply the
    overlays in order, then ``base``. A manifest of the files written is kept in
    ``.kfp-mlops-files.json``: files from an earlier run that are no longer produced are
    removed, every other file in the directory is left alone. Output is deterministic.
    """

    kind = "gitops"
    live_checks = False
    INDEX = ".kfp-mlops-files.json"

    def __init__(self, root: str, name: str, steps: list[int] | None = None) -> None:
        if not root:
            raise ParameterError(
                "target=gitops needs gitops_dir", "set gitops_dir to a checkout of your repo"
            )
        self.root = Path(root)
        self.name = name
        self.steps = steps or [10, 50, 100]
        self.folder = self.root / name
        self.written: list[str] = []

    def live(self) -> Release | None:
        """The version in ``base/`` now, if any."""
        path = self.folder / "base" / "inferenceservice.yaml"
        if not path.exists():
            return None
        doc = m.from_yaml(path.read_text(encoding="utf-8"))[0]
        version = doc["metadata"].get("annotations", {}).get(m.ANNOTATION_VERSION, "unknown")
        return Release(self.name, version)

    def files(self, release: Release, strategy: str) -> dict[str, str]:
        """Relative path -> content of every file for ``release``."""
        if release.spec is None:
            raise ParameterError("the gitops target needs a ServingSpec", "pass release.spec")
        isvc = m.inference_service(dataclasses.replace(release.spec, canary_traffic_percent=None))
        files = {
            "base/inferenceservice.yaml": m.to_yaml(isvc),
            "base/release-configmap.yaml": m.to_yaml(
                m.release_configmap(release.spec, isvc, strategy)
            ),
            "base/kustomization.yaml": m.to_yaml(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": ["inferenceservice.yaml", "release-configmap.yaml"],
                }
            ),
        }
        if strategy == "canary":
            for percent in self.steps:
                if percent >= 100:
                    continue
                files[f"overlays/canary-{percent:03d}/kustomization.yaml"] = m.to_yaml(
                    {
                        "apiVersion": "kustomize.config.k8s.io/v1beta1",
                        "kind": "Kustomization",
                        "resources": ["../../base"],
                        "patches": [
                            {
                                "target": {"kind": m.KIND, "name": release.spec.name},
                                "patch": m.to_yaml(
                                    {
                                        "op": "add",
                                        "path": "/spec/predictor/canaryTrafficPercent",
                                        "value": percent,
                                    }
                                ).replace("---\n", ""),
                            }
                        ],
                    }
                )
        elif strategy == "blue-green":
            files["overlays/preview/kustomization.yaml"] = m.to_yaml(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": ["../../base/inferenceservice.yaml"],
                    "nameSuffix": "-preview",
                }
            )
        return files

    def start(self, release: Release, strategy: str) -> None:
        """Write the files (validated by the caller) and drop stale ones we wrote before."""
        files = self.files(release, strategy)
        index = self.folder / self.INDEX
        old: list[str] = []
        if index.exists():
            old = json.loads(index.read_text(encoding="utf-8")).get("files", [])
        for rel in sorted(set(old) - set(files)):
            path = self.folder / rel
            if path.is_file():
                path.unlink()
                for parent in path.parents:  # prune folders we emptied, up to ours
                    if parent == self.folder or any(parent.iterdir()):
                        break
                    parent.rmdir()
        for rel, content in sorted(files.items()):
            path = self.folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        index.write_text(
            json.dumps({"files": sorted(files), "version": release.version}, indent=1) + "\n",
            encoding="utf-8",
        )
        self.written = sorted(files)

    def wait_ready(self, release: Release, timeout_s: float) -> None:
        """Nothing runs here: readiness is the controller's business."""

    def endpoint(self, release: Release) -> str | None:
        """Not reachable from here."""
        return None

    def route_url(self) -> str | None:
        """Not reachable from here."""
        return None

    def set_traffic(self, release: Release, percent: int) -> None:
        """The overlay for each step was written by :meth:`start`."""

    def promote(self, release: Release) -> None:
        """``base/`` already holds the new version."""

    def rollback(self, release: Release, previous: Release | None) -> None:
        """Nothing was applied; the files stay for inspection."""


# -- local ----------------------------------------------------------------------------------
def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)  # atomic: the router never reads half a file


class LocalTarget(Target):
    """Model servers as local processes behind a weighted router, state in a JSON file.

    ``<state_dir>/<name>/state.json`` records the router and the live version (pid, port,
    model files); the router and the live server keep running after the deployment so the
    service stays up, and :func:`stop_local` stops them. Servers that a failed deployment
    started are always stopped.
    """

    kind = "local"

    def __init__(self, state_dir: str, name: str, router_timeout_s: float = 30.0) -> None:
        if not state_dir:
            raise ParameterError("target=local needs state_dir", "set state_dir to a folder")
        self.name = name
        self.folder = Path(state_dir) / name
        self.state_file = self.folder / "state.json"
        self.state: dict[str, Any] = {"name": name, "live": None, "routes": [], "history": []}
        if self.state_file.exists():
            self.state.update(json.loads(self.state_file.read_text(encoding="utf-8")))
        self.candidate: dict[str, Any] | None = None
        self._strategy = ""
        self._ensure_router(router_timeout_s)
        self._ensure_live()

    # state helpers
    def _save(self) -> None:
        _write_json(self.state_file, self.state)

    def _set_routes(self, weights: list[tuple[dict[str, Any], int]]) -> None:
        self.state["routes"] = [
            {"version": r["version"], "port": r["port"], "weight": w} for r, w in weights if w > 0
        ]
        self._save()

    def _ensure_router(self, timeout_s: float) -> None:
        router = self.state.get("router")
        if router and processes.is_alive(router["pid"]):
            return
        proc = processes.start_router(self.state_file, self.folder / "router.log")
        self.state["router"] = proc.to_json()
        self._save()
        deadline = time.monotonic() + timeout_s
        while request(proc.url, "GET", "/router/routes", timeout=2).status != 200:
            if time.monotonic() > deadline or not processes.is_alive(proc.pid):
                raise DeploymentError(
                    f"the local router did not start: {processes.log_tail(proc.log_path)}",
                    "check that python can run kfp_mlops.components.deployment.router",
                )
            time.sleep(0.2)

    def _spawn(self, record: dict[str, Any]) -> dict[str, Any]:
        version = record["version"]
        proc = processes.start_server(
            record["model_dir"],
            record["preprocessor"],
            self.name,
            self.folder / f"server-{version}-{int(time.time())}.log",
            backend=record.get("backend", "auto"),
        )
        return {**record, **proc.to_json()}

    def _ensure_live(self) -> None:
        """Restart the recorded live version if its process is gone (e.g. after a reboot)."""
        live = self.state.get("live")
        if live and not processes.is_alive(live["pid"]):
            log.warning(
                "live version %s (pid %d) is not running: restarting it",
                live["version"],
                live["pid"],
            )
            live = self._spawn(live)
            self.state["live"] = live
            self._set_routes([(live, 100)])
            wait_ready(
                f"http://127.0.0.1:{live['port']}",
                self.name,
                300,
                alive=lambda: processes.exit_message(live["pid"], live["log_path"]),
            )

    @property
    def router_url(self) -> str:
        """The service URL clients use."""
        return f"http://127.0.0.1:{self.state['router']['port']}"

    # Target interface
    def live(self) -> Release | None:
        """The live version from the state file."""
        live = self.state.get("live")
        if not live:
            return None
        return Release(
            self.name,
            live["version"],
            live["model_dir"],
            live["preprocessor"],
            live.get("backend", "auto"),
        )

    def start(self, release: Release, strategy: str) -> None:
        """Start the new version's server; ``rolling`` routes everything to it at once."""
        self._strategy = strategy
        record = {
            "version": release.version,
            "model_dir": str(Path(release.model_dir).resolve()),
            "preprocessor": str(Path(release.preprocessor).resolve()),
            "backend": release.backend,
        }
        self.candidate = self._spawn(record)
        self.state["candidate"] = self.candidate
        self._save()
        live = self.state.get("live")
        if strategy == "rolling" and live:
            self._set_routes([(self.candidate, 100)])  # replace directly
            processes.stop(live["pid"])

    def wait_ready(self, release: Release, timeout_s: float) -> None:
        """Poll the new server; fail at once if its process exits."""
        cand = self.candidate or {}
        try:
            wait_ready(
                f"http://127.0.0.1:{cand['port']}",
                self.name,
                timeout_s,
                alive=lambda: processes.exit_message(cand["pid"], cand["log_path"]),
            )
        except ReadyTimeout as exc:
            # The server logs why the model did not load: put that in the error.
            lines = Path(cand["log_path"]).read_text(errors="replace").splitlines()
            cause = next((ln for ln in reversed(lines) if "NOT ready" in ln), "")
            if cause:
                raise ReadyTimeout(
                    f"{exc.problem}; server log: {cause.split('NOT ready: ', 1)[-1]}", exc.fix
                ) from exc
            raise

    def endpoint(self, release: Release) -> str | None:
        """The new server directly (not through the router)."""
        return f"http://127.0.0.1:{self.candidate['port']}" if self.candidate else None

    def route_url(self) -> str | None:
        """The router."""
        return self.router_url

    def set_traffic(self, release: Release, percent: int) -> None:
        """Weights ``percent`` / ``100 - percent`` between the new and the live server."""
        live = self.state.get("live")
        weights = [(self.candidate, percent)]
        if live and percent < 100:
            weights.append((live, 100 - percent))
        self._set_routes(weights)

    def promote(self, release: Release) -> None:
        """All traffic to the new server, stop the old one, record the new one as live."""
        old = self.state.get("live")
        self._set_routes([(self.candidate, 100)])
        if old and self._strategy != "rolling":
            processes.stop(old["pid"])
        self.state["live"] = self.candidate
        self.state["candidate"] = None
        self.state["history"].append(
            {"version": release.version, "decision": "promoted", "strategy": self._strategy}
        )
        self._save()
        self.candidate = None

    def rollback(self, release: Release, previous: Release | None) -> None:
        """Route back to the live server (restarted after a rolling replace); stop the new one."""
        live = self.state.get("live")
        if live and self._strategy == "rolling":
            live = self._spawn(live)  # it was replaced: start the previous version again
            self.state["live"] = live
            wait_ready(
                f"http://127.0.0.1:{live['port']}",
                self.name,
                300,
                alive=lambda: processes.exit_message(live["pid"], live["log_path"]),
            )
        self._set_routes([(live, 100)] if live else [])
        if self.candidate:
            processes.stop(self.candidate["pid"])
        self.state["candidate"] = None
        self.state["history"].append(
            {"version": release.version, "decision": "rolled_back", "strategy": self._strategy}
        )
        self._save()
        self.candidate = None

    def close(self) -> None:
        """Stop a new server that was neither promoted nor rolled back (e.g. on a crash)."""
        if self.candidate and processes.is_alive(self.candidate["pid"]):
            processes.stop(self.candidate["pid"])
            self.state["candidate"] = None
            self._save()
        self.candidate = None


def stop_local(state_dir: str, name: str) -> list[int]:
    """Stop the router and servers of a local deployment; returns the ids stopped."""
    state_file = Path(state_dir) / name / "state.json"
    if not state_file.exists():
        return []
    state = json.loads(state_file.read_text(encoding="utf-8"))
    stopped = []
    for key in ("candidate", "live", "router"):
        rec = state.get(key)
        if rec and processes.stop(rec["pid"]):
            stopped.append(rec["pid"])
    state.update({"live": None, "candidate": None, "routes": [], "router": None})
    _write_json(state_file, state)
    return stopped
