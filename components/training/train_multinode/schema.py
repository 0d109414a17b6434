"""The Kubeflow Trainer API (trainer.kubeflow.org/v1alpha1) and offline checks against it.

Before anything is sent to a cluster, both generated objects are checked against the
published Trainer API (the ``kubeflow-trainer-api`` models, generated from the Trainer's
OpenAPI spec) and the pod templates of the runtime against the Kubernetes core schemas.
"""

from __future__ import annotations

from typing import Any

from kfp_mlops.components.common.errors import ComponentError
from kfp_mlops.components.common.k8s import K8S_VERSION, lost_paths, validate_core

GROUP = "trainer.kubeflow.org"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
TRAINJOB_PLURAL = "trainjobs"
RUNTIME_PLURAL = "trainingruntimes"


def validate_with_api(obj: dict[str, Any]) -> list[str]:
    """Problems of a TrainJob or TrainingRuntime against the published Trainer API models.

    The models reject wrong types and missing required fields; a round trip back to a dict
    catches fields the API does not have (the models drop them silently).
    """
    from kubeflow_trainer_api import models
    from pydantic import ValidationError

    model = {
        "TrainJob": models.TrainerV1alpha1TrainJob,
        "TrainingRuntime": models.TrainerV1alpha1TrainingRuntime,
    }.get(obj.get("kind", ""))
    if model is None:
        return [f"kind {obj.get('kind')!r} is not a Trainer object"]
    if obj.get("apiVersion") != API_VERSION:
        return [f"apiVersion {obj.get('apiVersion')!r} is not {API_VERSION}"]
    try:
        back = model.from_dict(obj).to_dict()
    except ValidationError as exc:
        kind = obj["kind"]
        return [f"{kind} {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    # The models' fields are strict (StrictInt, StrictStr): a value cannot change type on the
    # way, so a lost path is a field the API does not have.
    return [f"{p}: not a field of the published API" for p in lost_paths(obj, back, obj["kind"])]


def pod_templates(runtime: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(replicated job name, pod template) of every job of a TrainingRuntime."""
    jobs = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    return [(job["name"], job["template"]["spec"]["template"]) for job in jobs]


def validate(docs: list[dict[str, Any]]) -> None:
    """Check both objects against the Trainer API and their pod templates against Kubernetes.

    Raises:
        ComponentError: Listing every problem found.
    """
    problems: list[str] = []
    for doc in docs:
        problems += validate_with_api(doc)
        if doc.get("kind") == "TrainingRuntime":
            for job, template in pod_templates(doc):
                pod = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": job}}
                pod["template"] = template
                problems += [f"{job}: {p}" for p in validate_core(pod, K8S_VERSION)]
    if problems:
        raise ComponentError(
            "the generated TrainJob manifests are invalid: " + "; ".join(problems[:10]),
            "this is a bug in kfp-mlops: report it with the parameters used",
        )
