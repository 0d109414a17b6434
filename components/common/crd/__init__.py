"""Validate objects against a published CustomResourceDefinition, as the API server would.

The CRDs (KServe's InferenceService, Kubeflow Trainer's TrainJob and runtimes) are reference
data kept outside the repository: callers pass their folder, or set ``KFP_MLOPS_CRD_DIR``.
For an object, the version its ``apiVersion`` names is picked and its ``openAPIV3Schema`` is
applied the way a structural schema is on creation:

- schema ``default`` values are filled in first (the API server validates defaulted objects);
- unknown fields are errors (``kubectl apply``'s strict field validation), except under
  ``x-kubernetes-preserve-unknown-fields: true`` or an ``additionalProperties`` schema;
- ``x-kubernetes-int-or-string`` and ``x-kubernetes-embedded-resource`` (which must carry
  ``apiVersion``, ``kind`` and a valid ``metadata``) are honoured, and ``metadata`` is
  checked as an ObjectMeta;
- types, ``required``, ``enum``, ``pattern``, lengths, bounds, ``format`` (int32 / int64
  ranges, date-time), ``anyOf`` / ``allOf`` / ``oneOf`` / ``not``, and the uniqueness of
  ``x-kubernetes-list-type: set / map`` lists;
- the CEL rules (``x-kubernetes-validations``) with ``cel-python`` when it is installed;
  transition rules (those reading ``oldSelf``) do not run on creation and are skipped.

Each problem is one string: the JSON path of the field, then what is wrong.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from kfp_mlops.components.common.crd.checker import Checker, apply_defaults, cel_available
from kfp_mlops.components.common.errors import ParameterError

__all__ = [
    "CRD_DIR_ENV",
    "apply_defaults",
    "cel_available",
    "configured_dir",
    "find_crd",
    "load_crd",
    "locate_crd_dir",
    "validate_in_dir",
    "validate_object",
    "version_schema",
]

#: Environment variable naming the folder of published CRDs.
CRD_DIR_ENV = "KFP_MLOPS_CRD_DIR"


def locate_crd_dir(*fallbacks: str | Path) -> Path | None:
    """The folder of published CRDs: ``$KFP_MLOPS_CRD_DIR``, else the first fallback that exists."""
    for candidate in (os.environ.get(CRD_DIR_ENV, ""), *fallbacks):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def configured_dir(crd_dir: str | Path | None = None) -> Path | None:
    """The CRD folder a check was asked to use: ``crd_dir``, else ``$KFP_MLOPS_CRD_DIR``.

    None when neither is set (callers then skip the CRD check).

    Raises:
        ParameterError: If the folder named does not exist (a check asked for cannot run).
    """
    named = str(crd_dir or os.environ.get(CRD_DIR_ENV, ""))
    if not named:
        return None
    if not Path(named).is_dir():
        source = "crd_dir" if crd_dir else CRD_DIR_ENV
        raise ParameterError(
            f"the CRD folder {named} ({source}) does not exist",
            "mount the published CRDs there, or unset it to skip the CRD check",
        )
    return Path(named)


@cache
def load_crd(path: str | Path) -> dict[str, Any]:
    """A CRD file, parsed once per process.

    Raises:
        ParameterError: If the file is missing or is not a CustomResourceDefinition.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
        doc = _parse_cached(text)
    except (OSError, yaml.YAMLError) as exc:
        raise ParameterError(
            f"cannot read the CRD {path}: {exc}",
            f"point {CRD_DIR_ENV} (or the crd argument) at the published CRD files",
        ) from exc
    if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
        raise ParameterError(f"{path} is not a CustomResourceDefinition", "pass a CRD YAML file")
    return doc


def _parse_cached(text: str) -> Any:
    """YAML parsed once per content: the KServe CRD (2 MB) takes seconds as YAML, 0.1 s as JSON."""
    cache_dir = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kfp-mlops"
    cached = cache_dir / f"crd-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    try:
        return json.loads(cached.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    # A safe loader (the C one when built): bandit cannot see that through getattr.
    doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506  # nosec B506
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        tmp.replace(cached)  # atomic: parallel test workers never read half a file
    except (OSError, TypeError):  # a read-only home or a non-JSON value: parse each time
        pass
    return doc


def _header(path: Path) -> tuple[str, str]:
    """(group, kind) from a CRD's first lines, without parsing the whole (large) file."""
    head = path.read_text(encoding="utf-8")[:8192]
    group = re.search(r"^\s+group:\s*(\S+)", head, re.M)
    kind = re.search(r"^\s+kind:\s*(\S+)", head, re.M)
    if group and kind:
        return group.group(1), kind.group(1)
    spec = load_crd(path)["spec"]
    return spec["group"], spec["names"]["kind"]


def find_crd(crd_dir: str | Path, api_version: str, kind: str) -> Path:
    """The CRD file in ``crd_dir`` defining ``kind`` in the group of ``api_version``.

    Raises:
        ParameterError: If no file there defines it.
    """
    group = api_version.rpartition("/")[0]
    for path in sorted(Path(crd_dir).glob("*.y*ml")):
        if _header(path) == (group, kind):
            return path
    raise ParameterError(
        f"no CRD for {kind} ({api_version}) in {crd_dir}",
        f"add the published CRD of {group} to that folder or set {CRD_DIR_ENV}",
    )


def version_schema(crd: dict[str, Any], api_version: str) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of the served version that ``api_version`` names.

    Raises:
        ParameterError: If the group differs or the CRD does not serve that version.
    """
    group, _, version = api_version.rpartition("/")
    spec = crd["spec"]
    served = [v["name"] for v in spec["versions"] if v.get("served", True)]
    if group != spec["group"] or version not in served:
        raise ParameterError(
            f"apiVersion {api_version!r} is not served by the CRD {crd['metadata']['name']}",
            f"use {spec['group']}/{' or '.join(served)}",
        )
    chosen = next(v for v in spec["versions"] if v["name"] == version)
    return chosen["schema"]["openAPIV3Schema"]


def validate_object(
    obj: dict[str, Any], crd: str | Path | dict[str, Any], *, cel: bool = True
) -> list[str]:
    """Problems of ``obj`` against a CRD (a path or a loaded CRD), as on creation.

    Args:
        obj: The object (``apiVersion``, ``kind``, ``metadata``, ``spec`` ...).
        crd: The CRD file, or its parsed document.
        cel: Evaluate the ``x-kubernetes-validations`` rules (needs ``cel-python``).

    Returns:
        One string per problem, each starting with the field's JSON path; empty if valid.

    Raises:
        ParameterError: If the CRD cannot be read or does not define the object's version.
    """
    doc = crd if isinstance(crd, dict) else load_crd(crd)
    if obj.get("kind") != doc["spec"]["names"]["kind"]:
        return [f"$.kind: {obj.get('kind')!r} is not {doc['spec']['names']['kind']!r}"]
    schema = version_schema(doc, str(obj.get("apiVersion", "")))
    defaulted = apply_defaults(copy.deepcopy(obj), schema)
    checker = Checker(cel=cel and cel_available())
    checker.check(defaulted, schema, "$", root=True)
    return checker.problems


def validate_in_dir(obj: dict[str, Any], crd_dir: str | Path, *, cel: bool = True) -> list[str]:
    """:func:`validate_object` with the CRD for the object's kind found in ``crd_dir``."""
    path = find_crd(crd_dir, str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    return validate_object(obj, path, cel=cel)
