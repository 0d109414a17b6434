"""Expectation suites: derived from a reference table, or read and checked from GX 1.x JSON.

A suite is the GX 1.x ``ExpectationSuite`` JSON form::

    {"name": "...", "expectations": [{"type": "expect_...", "kwargs": {...}, "meta": {...}}]}

Great Expectations is imported only to check expectation types (:func:`check_suite`).
"""

from __future__ import annotations

import json
import logging
import math
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


def _expectation(type_: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": type_, "kwargs": kwargs, "meta": {}}


def is_numeric(series: pd.Series) -> bool:
    """Numeric dtype and not bool (pandas counts bool as numeric; GX and we do not)."""
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


#: Share of a text column's values that must parse as numbers for it to count as numeric.
NUMBERS_AS_TEXT = 0.9
#: What a suite derived from the data itself can and cannot check (report and log line).
SELF_DERIVED_NOTE = (
    "the suite was derived from the data itself, so it checks only that the table is usable "
    "on its own (no empty columns, numbers where most values are numbers, at least one row); "
    "pass a reference (e.g. the training data) or a suite to check the data against expectations"
)


def derive_suite(
    reference: pd.DataFrame,
    target_column: str = "target",
    margin: float = 0.1,
    name: str = "derived",
) -> dict[str, Any]:
    """Derive an expectation suite from a reference table.

    Expectations:

    * the exact set of columns (catches missing and extra columns);
    * at least one row (no upper bound: batch sizes legitimately vary);
    * per column, not null; if the reference has nulls, ``mostly`` is its non-null
      fraction times ``1 - margin``, so a column that is entirely empty still fails;
    * numeric columns: a numeric dtype, and values within
      ``[min - margin * range, max + margin * range]`` of the reference;
    * the target, bool and text columns (up to :data:`MAX_CATEGORIES` distinct values):
      values in the reference's set. Datetime columns only get the not-null check.

    Args:
        reference: The table the suite describes (e.g. the training data).
        target_column: The label column; it must be in ``reference``.
        margin: Slack, as a fraction of each numeric column's range and of non-null rates.
        name: The suite's name.

    Raises:
        ParameterError: If the margin is negative, the reference is empty, lacks the target
            column, or has a column with no values.
    """
    _check_margin(margin)
    if reference.empty:
        raise ParameterError(
            "the reference table has no rows", "pass the training data as reference"
        )
    if target_column not in reference.columns:
        raise ParameterError(
            f"target column '{target_column}' is not in the reference "
            f"(columns: {', '.join(map(str, reference.columns[:10]))})",
            "set target_column to the label's column name",
        )
    for column in reference.columns:
        if reference[column].isna().all():
            raise ParameterError(
                f"reference column '{column}' is entirely empty (all NaN)",
                "drop the column from the reference or fix the export that wrote it",
            )
    return _derive(reference, target_column, margin, name, derived_from="reference")


def derive_suite_from_data(
    frame: pd.DataFrame,
    target_column: str = "target",
    margin: float = 0.1,
    name: str = "derived-from-data",
) -> dict[str, Any]:
    """Derive the suite from the table being validated, when no reference or suite is given.

    The same expectations as :func:`derive_suite`, so the suite saved with the result can
    serve as the suite of later runs. On the data itself they can only catch what makes the
    table unusable on its own: a column that is entirely empty, a column of numbers holding
    some text (at least :data:`NUMBERS_AS_TEXT` of its values parse as numbers) and an empty
    table. Those are failures of the validation, explained like any other.

    Raises:
        ParameterError: If the margin is out of range or the label column is not in ``frame``.
    """
    _check_margin(margin)
    if target_column not in frame.columns:
        raise ParameterError(
            f"target column '{target_column}' is not in the data "
            f"(columns: {', '.join(map(str, frame.columns[:10]))})",
            "set target_column to the label's column name",
        )
    log.warning("no reference or suite given: %s", SELF_DERIVED_NOTE)
    return _derive(frame, target_column, margin, name, derived_from="data")


def is_derived_from_data(suite: dict[str, Any]) -> bool:
    """Whether ``suite`` came from :func:`derive_suite_from_data`."""
    return (suite.get("meta") or {}).get("derived_from") == "data"


def _check_margin(margin: float) -> None:
    if not 0 <= margin < 1:
        raise ParameterError(
            f"margin={margin} is out of range", "use a fraction in [0, 1), e.g. 0.1"
        )


def _derive(
    frame: pd.DataFrame, target_column: str, margin: float, name: str, derived_from: str
) -> dict[str, Any]:
    """The suite of :func:`derive_suite`, after its checks; ``derived_from`` goes in meta."""
    columns = [str(c) for c in frame.columns]
    expectations = [
        _expectation("expect_table_columns_to_match_set", column_set=columns, exact_match=True),
        _expectation("expect_table_row_count_to_be_between", min_value=1, max_value=None),
    ]
    for column in columns:
        series = frame[column]
        if series.isna().all():  # only from the data itself: the reference's check raised
            expectations.append(_expectation("expect_column_values_to_not_be_null", column=column))
            continue
        expectations += _column_expectations(series, column, column == target_column, margin)
        if derived_from == "data" and _numbers_as_text(series):
            expectations.append(
                _expectation(
                    "expect_column_values_to_be_in_type_list",
                    column=column,
                    type_list=NUMERIC_TYPES,
                )
            )
    for exp in expectations:
        exp["meta"]["derived_from"] = derived_from
    log.info("derived suite '%s': %d expectations", name, len(expectations))
    meta = {"margin": margin, "target_column": target_column, "derived_from": derived_from}
    return {"name": name, "expectations": expectations, "meta": meta}


def _numbers_as_text(series: pd.Series) -> bool:
    """A text column whose values are nearly all numbers: a few stray cells made it text."""
    if is_numeric(series) or pd.api.types.is_bool_dtype(series):
        return False
    values = series.dropna()
    parsed = pd.to_numeric(values, errors="coerce")
    return len(values) > 0 and parsed.notna().mean() >= NUMBERS_AS_TEXT


def _column_expectations(
    series: pd.Series, column: str, is_target: bool, margin: float
) -> list[dict[str, Any]]:
    """Not-null, then numeric type and range, or a value set, for one reference column."""
    non_null = float(series.notna().mean())
    if non_null < 1:
        mostly = math.floor(non_null * (1 - margin) * 1e4) / 1e4
        found = [_expectation("expect_column_values_to_not_be_null", column=column, mostly=mostly)]
    else:
        found = [_expectation("expect_column_values_to_not_be_null", column=column)]
    values = series.dropna()
    if not is_target and is_numeric(series):
        finite = values[np.isfinite(values.astype("float64"))]
        low, high = float(finite.min()), float(finite.max())
        pad = margin * (high - low) or margin * max(abs(low), abs(high)) or margin
        found += [
            _expectation(
                "expect_column_values_to_be_in_type_list", column=column, type_list=NUMERIC_TYPES
            ),
            _expectation(
                "expect_column_values_to_be_between",
                column=column,
                min_value=low - pad,
                max_value=high + pad,
            ),
        ]
    elif is_target or not pd.api.types.is_datetime64_any_dtype(series):
        distinct = values.unique()
        if is_target or len(distinct) <= MAX_CATEGORIES:
            value_set = sorted((python_value(v) for v in distinct), key=lambda v: (str(type(v)), v))
            found.append(
                _expectation(
                    "expect_column_values_to_be_in_set", column=column, value_set=value_set
                )
            )
    return found


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


def resolve_suite(
    suite_json: str = "",
    suite_path: str | None = None,
    reference: pd.DataFrame | None = None,
    target_column: str = "target",
    margin: float = 0.1,
    data: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Pick the suite: a suite file, a JSON string, the reference's, or the data's own.

    Args:
        suite_json: A suite as a JSON string (or a file path); used when no ``suite_path``.
        suite_path: A suite file; wins over everything else.
        reference: A table to derive the suite from, when no suite is given.
        target_column: The label column of derived suites.
        margin: Slack of derived suites.
        data: The table being validated: the suite is derived from it when nothing else is
            given (:func:`derive_suite_from_data`).

    Raises:
        ParameterError: If nothing to take a suite from is given, or the given one is invalid.
    """
    if suite_path:
        return load_suite(suite_path)
    if suite_json.strip():
        return load_suite(suite_json)
    if reference is not None:
        return derive_suite(reference, target_column=target_column, margin=margin)
    if data is not None:
        return derive_suite_from_data(data, target_column=target_column, margin=margin)
    raise ParameterError(
        "no expectation suite: neither a suite nor a reference dataset was given",
        "pass suite (a JSON artifact), suite_json (a JSON string) or reference "
        "(e.g. the training data, to derive the suite from)",
    )
