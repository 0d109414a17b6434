"""What a Kubernetes API server does with a custom resource on create, for the stand-ins.

The KServe stand-in (tests/deployment/k8s_api.py) and the Trainer stand-in
(tests/training/trainjob_api.py) both admit objects here: validated against the published
CRD of their apiVersion, ``422 Invalid`` naming each field, ``400`` for unknown fields under
``fieldValidation=Strict``, otherwise unknown fields dropped (as the real server does).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from kfp_mlops.components.common import crd

_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[('(?:[^'\\]|\\.)*')\]")
_UNKNOWN = ": unknown field"


def status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    """A ``v1.Status`` failure body, as the API server answers."""
    answer = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
    answer.update(reason=reason, message=message)
    if details:
        answer["details"] = details
    return answer


def drop_field(obj: dict[str, Any], path: str) -> None:
    """Remove the field at a validator path (``$.spec.trainer['a.b'][0].x``) from ``obj``."""
    keys: list[Any] = [
        name or (int(index) if index else ast.literal_eval(quoted))
        for name, index, quoted in _STEP.findall(path)
    ]
    parent: Any = obj
    for key in keys[:-1]:
        parent = parent[key]
    del parent[keys[-1]]


def admit(
    obj: dict[str, Any], crd_dir: Path | None, strict: bool, warnings: list[str] | None = None
) -> tuple[int, Any] | None:
    """None if the API server would store ``obj``, else ``(status code, Status body)``.

    Unknown fields are refused under ``strict``, else dropped (and noted in ``warnings``).
    """
    if crd_dir is None:
        return None
    problems = crd.validate_in_dir(obj, crd_dir)
    unknown = [p.split(_UNKNOWN)[0] for p in problems if _UNKNOWN in p]
    invalid = [p for p in problems if _UNKNOWN not in p]
    kind, name = obj.get("kind", ""), obj.get("metadata", {}).get("name", "")
    group = str(obj.get("apiVersion", "")).split("/")[0]
    if invalid:
        causes = [{"reason": "FieldValueInvalid", "message": p} for p in invalid]
        message = f'{kind}.{group} "{name}" is invalid: ' + "; ".join(invalid)
        return 422, status(422, "Invalid", message, name=name, kind=kind, causes=causes)
    if unknown and strict:
        fields = ", ".join(f'unknown field "{p.lstrip("$.")}"' for p in unknown)
        return 400, status(400, "BadRequest", f"strict decoding error: {fields}")
    for path in unknown:
        drop_field(obj, path)
        if warnings is not None:
            warnings.append(f'unknown field "{path.lstrip("$.")}"')
    return None
