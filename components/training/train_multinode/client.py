"""The cluster side of a TrainJob run: create the runtime and the job, attach, retry, watch.

A retried step finds its own TrainJob by name and worker config: it attaches to a running or
completed one, re-creates a failed one (which resumes from the checkpoints it left) and
refuses a job of the same name that runs another config.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kfp_mlops.components.common.errors import InfrastructureError, UserError, WorkerError
from kfp_mlops.components.training.train_multinode.manifests import CONFIG_ANNOTATION
from kfp_mlops.components.training.train_multinode.schema import (
    GROUP,
    RUNTIME_PLURAL,
    TRAINJOB_PLURAL,
    VERSION,
)

log = logging.getLogger(__name__)


@dataclass
class JobOutcome:
    """How a TrainJob ended."""

    succeeded: bool
    reason: str
    message: str
    seconds: float


class TrainJobClient:
    """Creates the runtime and the TrainJob and waits for the TrainJob to finish.

    Args:
        api_client: A ``kubernetes.client.ApiClient`` (tests pass one pointed at a loopback
            server; in a pod, ``common.k8s.default_api_client`` gives the in-cluster one).
        poll_interval_s: Seconds between status polls.
        sleep: Sleep function (tests may speed polling up).
    """

    def __init__(
        self,
        api_client: Any,
        poll_interval_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from kubernetes import client

        self.api = client.CustomObjectsApi(api_client)
        self.poll_interval_s = poll_interval_s
        self.sleep = sleep

    def _get(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.api.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _api_error(exc, f"reading {plural}/{name}") from exc

    def apply(self, docs: list[dict[str, Any]]) -> None:
        """Create the runtime (reused when one of the same shape exists) and the TrainJob.

        A retried step finds its own TrainJob (same name and config): a running or completed
        one is attached to, a failed one is deleted and created again, and the new job resumes
        from the checkpoints the failed one left.

        Raises:
            UserError: If a TrainJob of that name runs another config (another run's job).
            InfrastructureError: If the API refuses an object or a failed job is not deleted.
        """
        from kubernetes.client.exceptions import ApiException

        for doc in docs:
            plural = RUNTIME_PLURAL if doc["kind"] == "TrainingRuntime" else TRAINJOB_PLURAL
            ns, name = doc["metadata"]["namespace"], doc["metadata"]["name"]
            existing = self._get(ns, plural, name)
            if existing is not None:
                if plural == RUNTIME_PLURAL:
                    log.info("TrainingRuntime %s/%s exists: reusing it", ns, name)
                    continue
                if not self._take_over(existing, doc):
                    continue
            try:
                # Strict: the server refuses an unknown field instead of dropping it silently.
                self.api.create_namespaced_custom_object(
                    GROUP, VERSION, ns, plural, doc, field_validation="Strict"
                )
            except ApiException as exc:
                raise _api_error(exc, f"creating {doc['kind']} {ns}/{name}") from exc
            log.info("created %s %s/%s", doc["kind"], ns, name)

    def _take_over(self, existing: dict[str, Any], doc: dict[str, Any]) -> bool:
        """Deal with an existing TrainJob of our name; True when it must be created anew."""
        from kubernetes.client.exceptions import ApiException

        ns, name = doc["metadata"]["namespace"], doc["metadata"]["name"]
        ours = doc["metadata"]["annotations"][CONFIG_ANNOTATION]
        theirs = (existing["metadata"].get("annotations") or {}).get(CONFIG_ANNOTATION)
        if theirs != ours:
            raise UserError(
                f"TrainJob {ns}/{name} already exists and runs another config ({theirs})",
                f"delete it (kubectl delete trainjob -n {ns} {name}) or use another job name",
            )
        failed = _true_condition(existing, "Failed")
        if not failed:
            log.info("TrainJob %s/%s exists for this step (a retry): waiting for it", ns, name)
            return False
        log.info(
            "TrainJob %s/%s failed before (%s): deleting and re-creating it",
            ns,
            name,
            failed.get("message", ""),
        )
        try:
            self.api.delete_namespaced_custom_object(
                GROUP, VERSION, ns, TRAINJOB_PLURAL, name, propagation_policy="Foreground"
            )
        except ApiException as exc:
            if exc.status != 404:
                raise _api_error(exc, f"deleting the failed TrainJob {ns}/{name}") from exc
        deadline = time.monotonic() + 300
        while self._get(ns, TRAINJOB_PLURAL, name) is not None:
            if time.monotonic() > deadline:
                raise InfrastructureError(
                    f"the failed TrainJob {ns}/{name} was not deleted within 300 s",
                    f"check its finalizers: kubectl get trainjob -n {ns} {name} -o yaml",
                )
            self.sleep(self.poll_interval_s)
        return True

    def wait(self, namespace: str, name: str, timeout_s: float) -> JobOutcome:
        """Poll the TrainJob until its Complete or Failed condition is True.

        Raises:
            InfrastructureError: If the TrainJob vanishes.
            WorkerError: If ``timeout_s`` passes first.
        """
        start = time.monotonic()
        last_state = ""
        while True:
            obj = self._get(namespace, TRAINJOB_PLURAL, name)
            if obj is None:
                raise InfrastructureError(
                    f"TrainJob {namespace}/{name} disappeared while it was watched",
                    "check who deleted it (kubectl get events) and run the step again",
                )
            for kind, ok in (("Complete", True), ("Failed", False)):
                cond = _true_condition(obj, kind)
                if cond:
                    return JobOutcome(
                        ok,
                        cond.get("reason", ""),
                        cond.get("message", ""),
                        time.monotonic() - start,
                    )
            conditions = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions", [])}
            state = ", ".join(f"{k}={c.get('status')}" for k, c in sorted(conditions.items()))
            if state != last_state:
                log.info("TrainJob %s/%s: %s", namespace, name, state or "no conditions yet")
                last_state = state
            if time.monotonic() - start > timeout_s:
                raise WorkerError(
                    f"TrainJob {namespace}/{name} did not finish within {timeout_s:.0f} s "
                    f"(conditions: {state or 'none'})",
                    "inspect it with kubectl describe trainjob; raise timeout_minutes or check "
                    "that the cluster has nodes with the requested GPUs",
                )
            self.sleep(self.poll_interval_s)


def _true_condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The object's ``kind`` condition when its status is True."""
    for cond in (obj.get("status") or {}).get("conditions", []):
        if cond.get("type") == kind and cond.get("status") == "True":
            return cond
    return None


def _api_error(exc: Any, doing: str) -> InfrastructureError:
    """The API server's refusal as an error naming its message and the fix."""
    try:  # the API server explains itself in a Status object
        message = json.loads(exc.body or "{}").get("message", "")
    except (TypeError, ValueError, AttributeError):
        message = ""
    if exc.status in (401, 403):
        fix = (
            "grant the pipeline's service account create/get on trainjobs and trainingruntimes "
            f"({GROUP})"
        )
    elif exc.status == 404:
        fix = "install Kubeflow Trainer (its CRDs are missing) or check the namespace"
    elif exc.status in (400, 422):
        fix = (
            "the cluster's Trainer refused the generated object: check that its version serves "
            f"{GROUP}/{VERSION} as published, else report this kfp-mlops bug with the message"
        )
    else:
        fix = "see the API server's message"
    detail = f": {message[:600]}" if message else ""
    problem = f"Kubernetes API error {exc.status} {doing}: {exc.reason}{detail}"
    return InfrastructureError(problem, fix)
