"""Expectation suites: read and checked from GX 1.x JSON (derivation: :mod:`.derive`).

A suite is the GX 1.x ``ExpectationSuite`` JSON form::

    {"name": "...", "expectations": [{"type": "expect_...", "kwargs": {...}, "meta": {...}}]}

Great Expectations is imported only to check expectation types (:func:`check_suite`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common.errors import ParameterError

log = logging.getLogger(__name__)

#: dtype names (pandas columns) and value type names (object columns) GX accepts as numeric.
NUMERIC_TYPES = [
    *(f"{p}{b}" for p in ("int", "uint") for b in (8, 16, 32, 64)),
    *(f"{p}{b}" for p in ("Int", "UInt") for b in (8, 16, 32, 64)),
    "float16",
    "float32",
    "float64",
    "Float32",
    "Float64",
    "int",
    "float",
]
#: Text columns with more distinct values than this are free text or IDs: no value set.
MAX_CATEGORIES = 1000


def python_value(value: Any) -> Any:
    """Numpy scalar -> plain Python, so suites serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value


def expectation(type_: str, **kwargs: Any) -> dict[str, Any]:
    """One expectation in the suite JSON form."""
    return {"type": type_, "kwargs": kwargs, "meta": {}}


def is_numeric(series: pd.Series) -> bool:
    """Numeric dtype and not bool (pandas counts bool as numeric; GX and we do not)."""
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


#: What a suite derived from the data itself can and cannot check (report and log line).
SELF_DERIVED_NOTE = (
    "the suite was derived from the data itself, so it checks only that the table is usable "
    "on its own (no empty columns, numbers where most values are numbers, at least one row); "
    "pass a reference (e.g. the training data) or a suite to check the data against expectations"
)


def is_derived_from_data(suite: dict[str, Any]) -> bool:
    """Whether ``suite`` came from :func:`derive_suite_from_data`."""
    return (suite.get("meta") or {}).get("derived_from") == "data"


def check_margin(margin: float) -> None:
    """Raise :class:`ParameterError` unless ``0 <= margin < 1``."""
    if not 0 <= margin < 1:
        raise ParameterError(
            f"margin={margin} is out of range", "use a fraction in [0, 1), e.g. 0.1"
        )


def suite_columns(suite: dict[str, Any]) -> list[str]:
    """Every column a suite names (column sets, single, pair and multi-column checks)."""
    named: list[str] = []
    for exp in suite["expectations"]:
        kwargs = exp["kwargs"]
        found = [kwargs.get(k) for k in ("column", "column_A", "column_B")]
        found += list(kwargs.get("column_set") or []) + list(kwargs.get("column_list") or [])
        named += [str(c) for c in found if c is not None and str(c) not in named]
    return named


def check_shared_columns(suite: dict[str, Any], columns: list[str]) -> None:
    """Refuse a suite that shares no column with the data (a reference of another table).

    The label column does not count (every table here has a ``target``). Without this, such
    a pair fails with one "column ... is missing" line per reference column.

    Raises:
        ParameterError: One line naming both column lists and the fix.
    """
    meta = suite.get("meta") or {}
    named = [c for c in suite_columns(suite) if c != meta.get("target_column")]
    data = [str(c) for c in columns if str(c) != meta.get("target_column")]
    if not named or set(named) & set(data):
        return
    what = "reference" if meta.get("derived_from") == "reference" else "suite"
    raise ParameterError(
        f"the data shares no column with the {what} "
        f"(data: {_listed(data)}; {what}: {_listed(named)})",
        "pass a reference of the same table (e.g. its training data) or a suite for these "
        "columns, or give neither to derive the suite from the data itself",
    )


def _listed(columns: list[str], most: int = 5) -> str:
    shown = ", ".join(columns[:most])
    return f"{shown}, ... ({len(columns)} columns)" if len(columns) > most else shown or "none"


def _bad_suite(problem: str) -> ParameterError:
    return ParameterError(
        problem,
        'write the suite as {"name": "...", "expectations": [{"type": "expect_...", '
        '"kwargs": {...}}]} (GX 1.x ExpectationSuite JSON)',
    )


def check_suite(suite: Any) -> dict[str, Any]:
    """Check a suite's shape and that each expectation type exists in GX; return a clean copy.

    Accepts the pre-1.0 key ``expectation_type`` for ``type``.

    Raises:
        ParameterError: Naming the first malformed entry or unknown expectation type.
    """
    if not isinstance(suite, dict):
        raise _bad_suite(f"the suite is a JSON {type(suite).__name__}, not an object")
    expectations = suite.get("expectations")
    if not isinstance(expectations, list):
        raise _bad_suite("the suite has no 'expectations' list")
    from great_expectations import exceptions as gx_exceptions
    from great_expectations.expectations.registry import get_expectation_impl

    clean = []
    for i, exp in enumerate(expectations):
        if not isinstance(exp, dict):
            raise _bad_suite(f"expectation #{i} is a {type(exp).__name__}, not an object")
        type_ = exp.get("type", exp.get("expectation_type"))
        if not isinstance(type_, str):
            raise _bad_suite(f"expectation #{i} has no 'type'")
        kwargs = exp.get("kwargs", {})
        if not isinstance(kwargs, dict):
            raise _bad_suite(f"expectation #{i} ({type_}): 'kwargs' is not an object")
        try:
            get_expectation_impl(type_)
        except gx_exceptions.ExpectationNotFoundError as exc:
            raise ParameterError(
                f"unknown expectation type '{type_}' (expectation #{i})",
                "use a Great Expectations 1.x core expectation such as "
                "expect_column_values_to_not_be_null; check the spelling",
            ) from exc
        clean.append({"type": type_, "kwargs": dict(kwargs), "meta": dict(exp.get("meta") or {})})
    return {
        "name": str(suite.get("name") or "suite"),
        "expectations": clean,
        "meta": suite.get("meta") or {},
    }


def load_suite(suite_json: str) -> dict[str, Any]:
    """Read a suite from a JSON string or from the path of a JSON file.

    Raises:
        ParameterError: If the file is missing, the JSON is malformed (with line and
            column) or has the wrong shape, or an expectation type is unknown.
    """
    text = suite_json.strip()
    source = "suite_json"
    if not text:
        raise ParameterError(
            "the suite is empty", "pass a suite as JSON, a suite file or a reference"
        )
    if not text.startswith(("{", "[")):
        path = Path(text)
        if not path.is_file():
            raise ParameterError(
                f"suite file '{text}' does not exist",
                "check the path, or pass the suite itself as a JSON string starting with '{'",
            )
        source = f"suite file '{text}'"
        text = path.read_text(encoding="utf-8")
    try:
        suite = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParameterError(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            "fix the JSON there (e.g. double-quoted keys, no trailing commas); "
            "`python -m json.tool FILE` shows the error",
        ) from exc
    return check_suite(suite)
