"""The walk of a value and its structural schema together (see the package docstring)."""

from __future__ import annotations

import copy
import datetime
import difflib
import logging
import re
from functools import cache
from typing import Any

try:  # RE2 is what the API server's patterns and CEL's matches() use
    import re2 as _regex
except ImportError:  # pragma: no cover - re2 comes with cel-python
    _regex = re

log = logging.getLogger(__name__)

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_OLD_SELF = re.compile(r"\boldSelf\b")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# ObjectMeta as a client may send it (kubernetes-validate checks the rest of core objects).
_STR: dict[str, Any] = {"type": "string"}
_STR_LIST = {"type": "array", "items": _STR}
_STR_MAP = {"type": "object", "additionalProperties": _STR}
_OBJECT_META: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 253},
        "generateName": _STR,
        "namespace": {"type": "string", "maxLength": 63},
        "labels": _STR_MAP,
        "annotations": _STR_MAP,
        "finalizers": _STR_LIST,
        "uid": _STR,
        "resourceVersion": _STR,
        "generation": {"type": "integer", "format": "int64"},
        "creationTimestamp": {"type": "string", "format": "date-time"},
        "deletionTimestamp": {"type": "string", "format": "date-time"},
        "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "managedFields": {"type": "array", "items": {"type": "object"}},
        "selfLink": _STR,
    },
}
# A label value (or key name): 63 characters at most, alphanumeric at both ends.
_LABEL = re.compile(r"^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def apply_defaults(value: Any, schema: dict[str, Any]) -> Any:
    """Fill in schema defaults where a field is absent (in place), as the API server does."""
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key, sub in props.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub:
                apply_defaults(child, sub)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for child in value:
            apply_defaults(child, schema["items"])
    return value


def cel_available() -> bool:
    """Whether ``cel-python`` (``celpy``) is importable to evaluate CEL rules."""
    try:
        import celpy  # noqa: F401
    except ImportError:
        return False
    return True


@cache
def _cel_program(rule: str) -> Any:
    import celpy

    env = celpy.Environment()
    return env.program(env.compile(rule))


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def _is_type(value: Any, expected: str) -> bool:
    actual = _json_type(value)
    return actual == expected or (expected == "number" and actual == "integer")


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if _IDENT.match(key) else f"{path}[{key!r}]"


class Checker:
    """Walks a value and its schema together, collecting problems."""

    def __init__(self, *, cel: bool, strict: bool = True) -> None:
        self.cel = cel
        self.strict = strict  # False inside anyOf/oneOf/not branches: value checks only
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        """Record one problem at ``path``."""
        self.problems.append(f"{path}: {message}")

    def check(self, value: Any, schema: dict[str, Any], path: str, root: bool = False) -> None:
        """Validate ``value`` at ``path`` against ``schema``."""
        if value is None:  # the API server drops nulls of non-nullable fields
            return
        expected = schema.get("type")
        if schema.get("x-kubernetes-int-or-string"):
            if _json_type(value) not in ("integer", "string"):
                self.add(path, f"expected an integer or a string, got {_json_type(value)}")
                return
        elif expected and not _is_type(value, expected):
            shown = repr(value) if not isinstance(value, (dict, list)) else _json_type(value)
            self.add(path, f"expected {expected}, got {_json_type(value)} {shown}"[:200])
            return
        if isinstance(value, dict):
            self._object(value, schema, path, root)
        elif isinstance(value, list):
            self._array(value, schema, path)
        else:
            self._scalar(value, schema, path)
        self._combinators(value, schema, path)
        if self.cel and schema.get("x-kubernetes-validations"):
            self._cel(value, schema["x-kubernetes-validations"], path)

    def _object(self, value: dict[str, Any], schema: dict[str, Any], path: str, root: bool) -> None:
        props = dict(schema.get("properties", {}))
        if root or schema.get("x-kubernetes-embedded-resource"):
            props["metadata"] = _OBJECT_META
            props.setdefault("apiVersion", _STR)
            props.setdefault("kind", _STR)
            for key in ("apiVersion", "kind"):
                if not value.get(key):
                    self.add(_child(path, key), "required field is missing")
            self._metadata(value.get("metadata"), _child(path, "metadata"))
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True
        for key, child in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                self.check(child, sub, _child(path, key))
            elif self.strict and not preserve:
                near = difflib.get_close_matches(key, list(props), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                self.add(_child(path, key), f"unknown field{hint}")
        for key in schema.get("required", []):
            if value.get(key) is None:
                self.add(_child(path, key), "required field is missing")
        if len(value) < schema.get("minProperties", 0):
            self.add(path, f"needs at least {schema['minProperties']} properties")
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            self.add(path, f"allows at most {schema['maxProperties']} properties")

    def _metadata(self, meta: Any, path: str) -> None:
        """What the API server checks in ObjectMeta beyond its schema: the name and labels."""
        if not isinstance(meta, dict):
            return
        name = meta.get("name")
        if isinstance(name, str) and not _DNS_SUBDOMAIN.match(name):
            self.add(_child(path, "name"), f"{name!r} is not a lowercase RFC 1123 subdomain")
        labels = meta.get("labels")
        for key, value in (labels or {}).items() if isinstance(labels, dict) else ():
            where = _child(_child(path, "labels"), key)
            prefix, _, label = key.rpartition("/")
            if not _LABEL.match(label) or (prefix and not _DNS_SUBDOMAIN.match(prefix)):
                self.add(where, "the key is not a qualified name ([prefix/]name, name <= 63)")
            if isinstance(value, str) and not _LABEL.match(value or "x"):
                self.add(where, f"{value!r} is not a valid label value (<= 63, [A-Za-z0-9_.-])")

    def _array(self, value: list[Any], schema: dict[str, Any], path: str) -> None:
        items = schema.get("items")
        if isinstance(items, dict):
            for i, child in enumerate(value):
                self.check(child, items, _child(path, i))
        if len(value) < schema.get("minItems", 0):
            self.add(path, f"needs at least {schema['minItems']} items, has {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            self.add(path, f"allows at most {schema['maxItems']} items, has {len(value)}")
        kind = schema.get("x-kubernetes-list-type")
        if kind == "set" or schema.get("uniqueItems"):
            keys = [repr(v) for v in value]
        elif kind == "map":
            names = schema.get("x-kubernetes-list-map-keys", [])
            keys = [repr([v.get(k) for k in names]) if isinstance(v, dict) else "" for v in value]
        else:
            return
        for i, key in enumerate(keys):
            if key in keys[:i]:
                self.add(_child(path, i), f"duplicate entry in a list-type {kind} ({key})")

    def _scalar(self, value: Any, schema: dict[str, Any], path: str) -> None:
        if "enum" in schema and value not in schema["enum"]:
            self.add(path, f"{value!r} is not one of {schema['enum']}")
        if isinstance(value, str):
            self._string(value, schema, path)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self._number(value, schema, path)

    def _string(self, value: str, schema: dict[str, Any], path: str) -> None:
        if "pattern" in schema and not _regex.search(schema["pattern"], value):
            shown = schema["pattern"] if len(schema["pattern"]) <= 60 else "the schema's pattern"
            self.add(path, f"{value!r} does not match {shown}")
        if len(value) < schema.get("minLength", 0):
            self.add(path, f"must have at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            self.add(path, f"must have at most {schema['maxLength']} characters, has {len(value)}")
        if schema.get("format") == "date-time":
            try:
                datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                self.add(path, f"{value!r} is not an RFC 3339 date-time")

    def _number(self, value: float, schema: dict[str, Any], path: str) -> None:
        low, high = _INT_RANGES.get(schema.get("format", ""), (None, None))
        if low is not None and not low <= value <= high:
            self.add(path, f"{value} is out of the {schema['format']} range")
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and (value < low or (value == low and schema.get("exclusiveMinimum"))):
            self.add(path, f"{value} is below the minimum {low}")
        if high is not None and (
            value > high or (value == high and schema.get("exclusiveMaximum"))
        ):
            self.add(path, f"{value} is above the maximum {high}")
        if schema.get("multipleOf") and value % schema["multipleOf"]:
            self.add(path, f"{value} is not a multiple of {schema['multipleOf']}")

    def _branch_ok(self, value: Any, schema: dict[str, Any], path: str) -> bool:
        sub = Checker(cel=self.cel, strict=False)
        sub.check(value, schema, path)
        return not sub.problems

    def _combinators(self, value: Any, schema: dict[str, Any], path: str) -> None:
        if schema.get("x-kubernetes-int-or-string"):
            return  # its anyOf only states "integer or string", checked above
        for sub in schema.get("allOf", []):
            self.check(value, sub, path)
        if "anyOf" in schema and not any(self._branch_ok(value, s, path) for s in schema["anyOf"]):
            self.add(path, "matches none of the schemas in anyOf")
        if "oneOf" in schema:
            matched = sum(self._branch_ok(value, s, path) for s in schema["oneOf"])
            if matched != 1:
                self.add(path, f"must match exactly one schema in oneOf, matches {matched}")
        if "not" in schema and self._branch_ok(value, schema["not"], path):
            self.add(path, "matches the schema in 'not'")

    def _cel(self, value: Any, rules: list[dict[str, Any]], path: str) -> None:
        import celpy

        for rule in rules:
            text = rule["rule"]
            if _OLD_SELF.search(text):
                continue  # a transition rule: the API server runs it on updates only
            try:
                program = _cel_program(text)
            except celpy.CELParseError as exc:  # a Kubernetes CEL library cel-python lacks
                log.warning("CEL rule %r at %s not evaluated: %s", text, path, exc)
                continue
            where = path + rule.get("fieldPath", "")  # fieldPath is relative, e.g. ".spec.x"
            try:
                result = program.evaluate({"self": celpy.json_to_cel(value)})
            except celpy.CELEvalError as exc:
                result = exc
            if isinstance(result, Exception):  # e.g. a missing key: the API server rejects too
                self.add(where, f"CEL rule {text!r} could not be evaluated ({result})")
            elif not bool(result):
                self.add(where, rule.get("message") or f"failed rule: {text}")
