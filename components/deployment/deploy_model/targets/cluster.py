"""The cluster target: a KServe InferenceService through the Kubernetes API.

``CustomObjectsApi``: create or replace, merge-patch ``canaryTrafficPercent``, wait for the
``Ready`` condition of the generation applied, restore the previous spec on rollback.

Each applied spec carries the specs the service ran before (newest first, at most
:data:`HISTORY_DEPTH`) in the ``kfp-mlops.io/history`` annotation, so a later rollback
(``rollback_model``) re-applies the exact spec of an earlier version.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from typing import Any

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.k8s import default_api_client
from kfp_mlops.components.deployment.deploy_model import manifests as m
from kfp_mlops.components.deployment.deploy_model.smoke import ReadyTimeout
from kfp_mlops.components.deployment.deploy_model.targets.base import Release, Target

# A field the API server does not know is an error, not silently dropped (its default).
STRICT = "Strict"
#: Annotation with the earlier specs of a service (JSON list, newest first).
ANNOTATION_HISTORY = "kfp-mlops.io/history"
#: Earlier specs kept (an annotation stays far below the API server's 256 KiB limit).
HISTORY_DEPTH = 5


def history_of(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The earlier specs recorded on an InferenceService (empty if none or unreadable)."""
    raw = ((obj or {}).get("metadata", {}).get("annotations") or {}).get(ANNOTATION_HISTORY)
    try:
        entries = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [e for e in entries if isinstance(e, dict) and e.get("version") and e.get("spec")]


def _entry(obj: dict[str, Any]) -> dict[str, Any]:
    """What :data:`ANNOTATION_HISTORY` keeps of one applied object: version, metadata, spec."""
    meta = obj.get("metadata", {})
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k != ANNOTATION_HISTORY
    }
    spec = copy.deepcopy(obj.get("spec", {}))
    spec.get("predictor", {}).pop("canaryTrafficPercent", None)  # the promoted state
    return {
        "version": annotations.get(m.ANNOTATION_VERSION, "unknown"),
        "labels": meta.get("labels") or {},
        "annotations": annotations,
        "spec": spec,
    }


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
        return m.preview_name(self.name)

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
                m.GROUP, m.VERSION, self.namespace, m.PLURAL, body, field_validation=STRICT
            )
            return
        body = json.loads(json.dumps(body))
        body["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
        self.api.replace_namespaced_custom_object(
            m.GROUP, m.VERSION, self.namespace, m.PLURAL, name, body, field_validation=STRICT
        )

    def _patch_canary(self, percent: int | None) -> None:
        # Merge patch: null deletes the field, which promotes the latest revision to 100 %.
        body = {"spec": {"predictor": {"canaryTrafficPercent": percent}}}
        self.api.patch_namespaced_custom_object(
            m.GROUP, m.VERSION, self.namespace, m.PLURAL, self.name, body, field_validation=STRICT
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
        if release.manifest is not None:
            obj = copy.deepcopy(release.manifest)
            obj["metadata"]["name"] = changes.get("name", self.name)
            predictor = obj["spec"].setdefault("predictor", {})
            if changes.get("canary_traffic_percent") is None:
                predictor.pop("canaryTrafficPercent", None)
            else:
                predictor["canaryTrafficPercent"] = changes["canary_traffic_percent"]
        elif release.spec is None:
            raise ParameterError("the cluster target needs a ServingSpec", "pass release.spec")
        else:
            obj = m.inference_service(dataclasses.replace(release.spec, **changes))
        if obj["metadata"]["name"] == self.name and self.previous_obj is not None:
            self._record_history(obj, release.version)
        return obj

    def _record_history(self, obj: dict[str, Any], version: str) -> None:
        """Put the live spec, then its own history, on ``obj`` (newest first, deduplicated)."""
        live = _entry(self.previous_obj or {})
        entries = [live] if live["version"] != version else []
        for old in history_of(self.previous_obj):
            if len(entries) >= HISTORY_DEPTH:
                break
            if old["version"] not in {version, *(e["version"] for e in entries)}:
                entries.append(old)
        annotations = obj["metadata"].setdefault("annotations", {})
        annotations[ANNOTATION_HISTORY] = json.dumps(entries, sort_keys=True, separators=(",", ":"))

    def recorded(self, version: str) -> Release | None:
        """The spec ``version`` ran with before, from the live service's history, if recorded."""
        for entry in history_of(self._get(self.name)):
            if entry["version"] == version:
                manifest = {
                    "apiVersion": m.API_VERSION,
                    "kind": m.KIND,
                    "metadata": {
                        "name": self.name,
                        "namespace": self.namespace,
                        "labels": entry["labels"],
                        "annotations": entry["annotations"],
                    },
                    "spec": entry["spec"],
                }
                return Release(self.name, version, manifest=manifest)
        return None

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
        # Measure the step only once the controller applied it (until then the old split serves).
        self.wait_ready(release, self._ready_timeout_s)

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
