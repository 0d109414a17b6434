"""The Kubeflow Trainer API (trainer.kubeflow.org/v1alpha1) and offline checks against it.

Before anything is sent to a cluster, both generated objects are checked against the
published Trainer API (the ``kubeflow-trainer-api`` models, generated from the Trainer's
OpenAPI spec) and the pod templates of the runtime against the Kubernetes core schemas.

When a folder of the Trainer's published CRDs is given (``crd_dir``, else the
``KFP_MLOPS_CRD_DIR`` variable), both objects are also checked against the
``openAPIV3Schema`` of their CRD as the API server checks them on creation
(:mod:`kfp_mlops.components.common.crd`): enums, bounds and the CEL rules, which the models
do not carry (e.g. ``mpiImplementation: OpenMPl``, ``startupPolicy: InOrder`` next to
``dependsOn``, ``numProcPerNode: 0``). A pod has no such folder unless one is mounted, so the
check is optional there; the tests always run it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from kfp_mlops.components.common import crd
from kfp_mlops.components.common.errors import InfrastructureError, ParameterError
from kfp_mlops.components.common.k8s import K8S_VERSION, lost_paths, validate_core

log = logging.getLogger(__name__)

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


def crd_folder(crd_dir: str | Path | None = None) -> Path | None:
    """The folder of published CRDs to check against: ``crd_dir``, else ``$KFP_MLOPS_CRD_DIR``.

    None when neither is set (the CRD check is then skipped).

    Raises:
        ParameterError: If the folder named does not exist (a check asked for cannot run).
    """
    named, source = (crd_dir, "crd_dir") if crd_dir else (os.environ.get(crd.CRD_DIR_ENV), None)
    if not named:
        return None
    if not Path(named).is_dir():
        raise ParameterError(
            f"the CRD folder {named} ({source or crd.CRD_DIR_ENV}) does not exist",
            "mount the Trainer's published CRDs there, or unset it to skip the CRD check",
        )
    return Path(named)


def validate_with_crd(obj: dict[str, Any], crd_dir: str | Path) -> list[str]:
    """Problems of a Trainer object against its published CRD in ``crd_dir``.

    Raises:
        ParameterError: If ``crd_dir`` holds no CRD for the object's kind and version.
    """
    kind = obj.get("kind", "")
    return [f"{kind} (CRD) {p}" for p in crd.validate_in_dir(obj, crd_dir)]


def validate(docs: list[dict[str, Any]], crd_dir: str | Path | None = None) -> None:
    """Check both objects against the Trainer API and their pod templates against Kubernetes.

    Args:
        docs: The TrainingRuntime and the TrainJob.
        crd_dir: Folder of the Trainer's published CRDs (None: ``$KFP_MLOPS_CRD_DIR``, and
            no CRD check when that is unset either).

    Raises:
        InfrastructureError: Listing every problem found (a bug here, not the user's).
        ParameterError: If the CRD folder named does not exist or lacks a Trainer CRD.
    """
    folder = crd_folder(crd_dir)
    if folder is None:
        log.debug("no CRD folder: checking against the kubeflow-trainer-api models only")
    problems: list[str] = []
    for doc in docs:
        problems += validate_with_api(doc)
        if folder is not None:
            problems += validate_with_crd(doc, folder)
        if doc.get("kind") == "TrainingRuntime":
            for job, template in pod_templates(doc):
                pod = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": job}}
                pod["template"] = template
                problems += [f"{job}: {p}" for p in validate_core(pod, K8S_VERSION)]
    if problems:
        raise InfrastructureError(
            "the generated TrainJob manifests are invalid: " + "; ".join(problems[:10]),
            "this is a bug in kfp-mlops: report it with the parameters used",
        )
