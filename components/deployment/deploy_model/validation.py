"""Offline validation of the manifests before anything is applied or committed.

- The InferenceService against KServe's published CRD (``openAPIV3Schema`` of ``v1beta1``,
  unknown fields rejected, enums, quantity patterns, required fields:
  :mod:`kfp_mlops.components.common.crd`), when a folder of published CRDs is given
  (``crd_dir``, else ``$KFP_MLOPS_CRD_DIR``). The CRD is reference data, not shipped.
- The InferenceService against the KServe Python SDK's models, generated from the same
  OpenAPI (every field name and type, recursively, including the Kubernetes types it embeds;
  unknown fields and wrong types are errors, then the objects are built and serialized back
  and must round-trip unchanged). Always run: it needs no CRD.
- Core Kubernetes objects (the release ConfigMap, the InferenceService's ``metadata`` and the
  predictor's container as a Pod) by ``kubernetes-validate`` against the Kubernetes OpenAPI
  schemas it ships, in strict mode (unknown fields are errors).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kfp_mlops.components.common import crd
from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.k8s import lost_paths, validate_core

_PRIMITIVES = {"str", "int", "float", "bool", "object", "date", "datetime"}


class ManifestError(ParameterError):
    """A manifest is not valid."""


def validate_with_crd(obj: dict[str, Any], crd_dir: str | Path) -> list[str]:
    """Problems of a KServe object against its published CRD in ``crd_dir``.

    Raises:
        ParameterError: If ``crd_dir`` holds no CRD serving the object's kind and version.
    """
    return [f"{obj.get('kind')} (CRD) {p}" for p in crd.validate_in_dir(obj, crd_dir)]


def _resolve(name: str) -> Any:
    """A generated model class from the KServe SDK, or the Kubernetes client it embeds."""
    import kserve.models
    import kubernetes.client.models

    return getattr(kserve.models, name, None) or getattr(kubernetes.client.models, name, None)


def _build(data: Any, klass: str, path: str, errors: list[str]) -> Any:
    """Strictly deserialize ``data`` as OpenAPI type ``klass`` (SDK notation), collecting errors."""
    if klass.startswith("list["):
        if not isinstance(data, list):
            errors.append(f"{path}: expected a list, got {type(data).__name__}")
            return data
        inner = klass[5:-1]
        return [_build(v, inner, f"{path}[{i}]", errors) for i, v in enumerate(data)]
    if klass.startswith("dict("):
        if not isinstance(data, dict):
            errors.append(f"{path}: expected an object, got {type(data).__name__}")
            return data
        inner = klass[5:-1].split(", ", 1)[1]
        return {k: _build(v, inner, f"{path}.{k}", errors) for k, v in data.items()}
    if klass in _PRIMITIVES:
        expected = {
            "str": (str,),
            "date": (str,),
            "datetime": (str,),
            "int": (int,),
            "float": (int, float),
            "bool": (bool,),
            "object": (object,),
        }[klass]
        is_bool = isinstance(data, bool)
        if not isinstance(data, expected) or (is_bool and klass in ("int", "float")):
            errors.append(f"{path}: expected {klass}, got {type(data).__name__} {data!r}")
        return data
    cls = _resolve(klass)
    if cls is None:  # e.g. ResourceQuantity: a string or number in JSON
        return data
    if not isinstance(data, dict):
        errors.append(f"{path}: expected a {klass} object, got {type(data).__name__}")
        return data
    by_json = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    for key in data:
        if key not in by_json:
            errors.append(f"{path}.{key}: unknown field of {klass}")
    kwargs = {
        by_json[k]: _build(v, cls.openapi_types[by_json[k]], f"{path}.{k}", errors)
        for k, v in data.items()
        if k in by_json
    }
    try:
        return cls(**kwargs)  # the generated setters check required fields and enums
    except (ValueError, TypeError) as exc:
        errors.append(f"{path}: {klass}: {exc}")
        return None


def validate_with_sdk(isvc: dict[str, Any]) -> list[str]:
    """Problems of an InferenceService per the KServe SDK's generated models (round-trip)."""
    from kserve import ApiClient

    errors: list[str] = []
    built = _build(isvc, "V1beta1InferenceService", "InferenceService", errors)
    if errors or built is None:
        return errors
    back = ApiClient().sanitize_for_serialization(built)
    return [
        f"{path}: changed by the KServe SDK round-trip"
        for path in lost_paths(isvc, back, "InferenceService")
    ]


def validate_inference_service(
    isvc: dict[str, Any], crd_dir: str | Path | None = None
) -> list[str]:
    """Every check of an InferenceService: the CRD (when given), SDK round-trip, core objects.

    Args:
        isvc: The InferenceService.
        crd_dir: Folder of the published CRDs (None: ``$KFP_MLOPS_CRD_DIR``; no CRD check
            when that is unset too).

    Raises:
        ParameterError: If the CRD folder named does not exist or lacks KServe's CRD.
    """
    folder = crd.configured_dir(crd_dir)
    problems = validate_with_crd(isvc, folder) if folder is not None else []
    problems += validate_with_sdk(isvc)
    meta = isvc.get("metadata", {})
    problems += [
        p.replace("ConfigMap", "InferenceService metadata", 1)
        for p in validate_core({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})
    ]
    for container in isvc.get("spec", {}).get("predictor", {}).get("containers", []):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": meta.get("name", "x")},
            "spec": {"containers": [container]},
        }
        problems += [p.replace("Pod", "predictor container", 1) for p in validate_core(pod)]
    return problems


def validate_all(docs: list[dict[str, Any]], crd_dir: str | Path | None = None) -> None:
    """Validate every manifest; raise one error listing all problems.

    Args:
        docs: The manifests (InferenceServices and core objects).
        crd_dir: Folder of the published CRDs (None: ``$KFP_MLOPS_CRD_DIR``, else no CRD check).

    Raises:
        ManifestError: Naming each invalid field.
        ParameterError: If the CRD folder named does not exist or lacks KServe's CRD.
    """
    problems: list[str] = []
    for doc in docs:
        if doc.get("kind") == "InferenceService":
            problems += validate_inference_service(doc, crd_dir)
        else:
            problems += validate_core(doc)
    if problems:
        raise ManifestError(
            "invalid manifests: " + "; ".join(problems[:10]),
            "this is a bug in the manifest builder or a bad parameter (see the field named)",
        )
