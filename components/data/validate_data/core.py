"""Validate a table with Great Expectations 1.x and explain every failure in plain words.

A suite is the GX 1.x ``ExpectationSuite`` JSON form::

    {"name": "...", "expectations": [{"type": "expect_...", "kwargs": {...}, "meta": {...}}]}

It comes from a JSON string or file (:func:`load_suite`) or is derived from a reference
table (:func:`derive_suite`). :func:`validate` runs it through GX on an ephemeral context
and returns a :class:`ValidationResult` whose failures carry a sentence naming the column,
what was observed and the fix, computed with pandas from the same frame.

Great Expectations is imported lazily (about 15 s) so suite handling stays fast.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common import report
from kfp_mlops.components.common.errors import DataValidationError, ParameterError

# Before any GX import: no usage statistics from pods that may have no network.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

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
ON_FAILURE = ("fail", "warn")
_EXAMPLES = 3  # offending values quoted per explanation
_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": _EXAMPLES}


# --------------------------------------------------------------------------- suites


def _py(value: Any) -> Any:
    """Numpy scalar -> plain Python, so suites serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value


def _expectation(type_: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": type_, "kwargs": kwargs, "meta": {}}


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


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
    if not 0 <= margin < 1:
        raise ParameterError(
            f"margin={margin} is out of range", "use a fraction in [0, 1), e.g. 0.1"
        )
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
    columns = [str(c) for c in reference.columns]
    expectations = [
        _expectation("expect_table_columns_to_match_set", column_set=columns, exact_match=True),
        _expectation("expect_table_row_count_to_be_between", min_value=1, max_value=None),
    ]
    for column in columns:
        series = reference[column]
        non_null = float(series.notna().mean())
        if non_null == 0:
            raise ParameterError(
                f"reference column '{column}' is entirely empty (all NaN)",
                "drop the column from the reference or fix the export that wrote it",
            )
        if non_null < 1:
            mostly = math.floor(non_null * (1 - margin) * 1e4) / 1e4
            expectations.append(
                _expectation("expect_column_values_to_not_be_null", column=column, mostly=mostly)
            )
        else:
            expectations.append(_expectation("expect_column_values_to_not_be_null", column=column))
        values = series.dropna()
        if column != target_column and _is_numeric(series):
            finite = values[np.isfinite(values.astype("float64"))]
            low, high = float(finite.min()), float(finite.max())
            pad = margin * (high - low) or margin * max(abs(low), abs(high)) or margin
            expectations += [
                _expectation(
                    "expect_column_values_to_be_in_type_list",
                    column=column,
                    type_list=NUMERIC_TYPES,
                ),
                _expectation(
                    "expect_column_values_to_be_between",
                    column=column,
                    min_value=low - pad,
                    max_value=high + pad,
                ),
            ]
        elif column == target_column or not pd.api.types.is_datetime64_any_dtype(series):
            distinct = values.unique()
            if column == target_column or len(distinct) <= MAX_CATEGORIES:
                value_set = sorted((_py(v) for v in distinct), key=lambda v: (str(type(v)), v))
                expectations.append(
                    _expectation(
                        "expect_column_values_to_be_in_set", column=column, value_set=value_set
                    )
                )
    for exp in expectations:
        exp["meta"]["derived_from"] = "reference"
    log.info("derived suite '%s': %d expectations", name, len(expectations))
    return {"name": name, "expectations": expectations, "meta": {"margin": margin}}


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


# --------------------------------------------------------------------------- GX


_BATCH_DEFINITION: Any = None


def _batch_definition() -> Any:
    """One ephemeral context, pandas datasource and whole-dataframe batch definition per process.

    Building them costs far more than validating a small frame, so they are reused.
    """
    global _BATCH_DEFINITION  # noqa: PLW0603 - a process-wide cache
    if _BATCH_DEFINITION is None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine

        # GX fingerprints (hashes) every pandas batch under 1 GB, twice per validation: a third
        # of the time on a 1M-row frame, for a batch marker nothing here reads.
        pandas_execution_engine.HASH_THRESHOLD = 0

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(
            globally=False, metric_calculations=False
        )
        asset = context.data_sources.add_pandas("kfp_mlops").add_dataframe_asset("frame")
        _BATCH_DEFINITION = asset.add_batch_definition_whole_dataframe("whole")
    return _BATCH_DEFINITION


def gx_suite(suite: dict[str, Any]) -> Any:
    """Build a GX ``ExpectationSuite`` from the JSON form.

    Each expectation is built explicitly because ``ExpectationSuite`` only logs (and drops)
    an invalid one.

    Raises:
        ParameterError: If an expectation's kwargs are invalid for its type.
    """
    from great_expectations.core import ExpectationSuite
    from great_expectations.expectations.registry import get_expectation_impl

    checked = check_suite(suite)
    built = []
    for i, exp in enumerate(checked["expectations"]):
        impl = get_expectation_impl(exp["type"])
        try:
            built.append(impl(**copy.deepcopy(exp["kwargs"]), meta=exp["meta"]))
        except Exception as exc:  # pydantic.ValidationError and friends
            detail = "; ".join(line.strip() for line in str(exc).splitlines()[1:]) or str(exc)
            raise ParameterError(
                f"expectation #{i} ({exp['type']}) has invalid kwargs {exp['kwargs']}: {detail}",
                "fix its kwargs as the Great Expectations docs for that expectation describe",
            ) from exc
    return ExpectationSuite(name=checked["name"], expectations=built)


def _column_groups(frame: pd.DataFrame, suite: dict[str, Any]) -> dict[str | None, list[dict]]:
    """Expectations by the single existing column they read; ``None``: the whole frame."""
    groups: dict[str | None, list[dict]] = {}
    for exp in suite["expectations"]:
        column = exp["kwargs"].get("column")
        own = (
            isinstance(column, str)
            and column in frame.columns
            and "row_condition" not in exp["kwargs"]
        )
        groups.setdefault(column if own else None, []).append(exp)
    return groups


def run_gx(frame: pd.DataFrame, suite: dict[str, Any]) -> dict[str, Any]:
    """Validate with GX; return the ``ExpectationSuiteValidationResult`` as JSON.

    Each column's expectations run on a one-column frame, the rest (table checks, checks
    on missing columns or with row conditions) on the whole frame, and the results are
    merged into one. GX's pandas engine filters the whole batch frame for every column
    check, copying every column, which made a 20-column frame about 3x slower to validate.
    """
    batch_definition = _batch_definition()
    results: list[dict[str, Any]] = []
    meta: dict[str, Any] = {}
    for column, expectations in _column_groups(frame, suite).items():
        part = frame if column is None else frame[[column]]
        batch = batch_definition.get_batch(batch_parameters={"dataframe": part})
        group_suite = gx_suite({"name": suite["name"], "expectations": expectations})
        raw = batch.validate(group_suite, result_format=_RESULT_FORMAT).to_json_dict()
        results += raw["results"]
        meta = meta or raw["meta"]
    passed = sum(bool(r["success"]) for r in results)
    return {
        "success": passed == len(results),
        "results": results,
        "suite_name": suite["name"],
        "suite_parameters": {},
        "statistics": {
            "evaluated_expectations": len(results),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(results) - passed,
            "success_percent": 100.0 * passed / len(results) if results else 100.0,
        },
        "meta": meta,
    }


# --------------------------------------------------------------------------- explanations


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _examples(series: pd.Series, mask: pd.Series) -> str:
    """``'abc' at row 10, 'x' at row 12`` for the first offending values (0-based rows)."""
    positions = np.flatnonzero(mask.to_numpy())[:_EXAMPLES]
    return ", ".join(f"{_fmt(series.iloc[p])} at row {p}" for p in positions)


def _fmt(value: Any) -> str:
    """``'abc'`` for text, ``1e+06`` for numbers: readable in a log line."""
    value = _py(value)
    if isinstance(value, (list, tuple)):
        return f"({', '.join(map(_fmt, value))})"
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def _non_numeric(series: pd.Series) -> pd.Series:
    """Mask of non-null cells that do not parse as numbers."""
    parsed = pd.to_numeric(series, errors="coerce")
    return series.notna() & parsed.isna()


def _missing(column: str) -> str:
    # One wording for the table check and the column checks, so explain() merges them.
    return (
        f"column '{column}' is missing; fix: add it upstream (the suite expects it) "
        "or re-derive the suite without it"
    )


def _explain_column(
    type_: str, kwargs: dict[str, Any], gx_result: dict[str, Any], frame: pd.DataFrame
) -> tuple[str, str]:
    """(observed, explanation with fix) for a failed column expectation."""
    column = kwargs["column"]
    if column not in frame.columns:
        return "column missing", _missing(column)
    series = frame[column]
    n = len(series)
    nulls = series.isna()
    if nulls.all():
        return "all values NaN", (
            f"column '{column}' is entirely empty (all NaN); "
            "fix: check the export or join that fills it upstream"
        )
    if type_ in ("expect_column_values_to_be_in_type_list", "expect_column_values_to_be_between"):
        bad = _non_numeric(series)
        if bad.any():
            count = int(bad.sum())
            first = np.flatnonzero(bad.to_numpy())[0]
            return f"{count} non-numeric values, dtype {series.dtype}", (
                f"column '{column}' has {_plural(count, 'non-numeric value')} "
                f"(first: {_fmt(series.iloc[first])} at row {first}); one such cell makes the "
                "whole CSV column text; fix: clean those cells upstream or convert with "
                "pd.to_numeric(errors='coerce') and handle the NaNs"
            )
    if type_ == "expect_column_values_to_be_in_type_list" or (
        type_ == "expect_column_values_to_be_between" and not _is_numeric(series)
    ):
        return f"dtype {series.dtype}", (
            f"column '{column}' has dtype {series.dtype}, expected one of "
            f"{', '.join(kwargs.get('type_list') or NUMERIC_TYPES[:4])[:60]}...; "
            "fix: cast the column to a number upstream"
        )
    if type_ == "expect_column_values_to_be_between":
        values = pd.to_numeric(series, errors="coerce")
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        out = values.notna() & (
            (values < low if low is not None else False)
            | (values > high if high is not None else False)
        )
        count = int(out.sum())
        bounds = "[{}, {}]".format(
            "-inf" if low is None else _fmt(low), "inf" if high is None else _fmt(high)
        )
        return f"{count} values out of range, min {values.min():.6g}, max {values.max():.6g}", (
            f"column '{column}' has {_plural(count, 'value')} outside {bounds} "
            f"(e.g. {_examples(series, out)}); fix: check units and scaling upstream, or "
            "re-derive the suite from a newer reference if the shift is real"
        )
    if type_ == "expect_column_values_to_not_be_null":
        count = int(nulls.sum())
        allowed = kwargs.get("mostly", 1.0)
        return f"{count} missing of {n} ({100 * count / n:.1f}%)", (
            f"column '{column}' has {_plural(count, 'missing value')} "
            f"({100 * count / n:.1f}%, first at row {int(np.argmax(nulls.to_numpy()))}); "
            f"at most {100 * (1 - allowed):.1f}% may be missing; "
            "fix: fill or drop missing values upstream, or lower 'mostly' in the suite"
        )
    if type_ == "expect_column_values_to_be_in_set":
        value_set = kwargs.get("value_set") or []
        unseen = series.notna() & ~series.isin(value_set)
        counts = series[unseen].value_counts().head(_EXAMPLES)
        listed = ", ".join(f"{_fmt(v)} x{c}" for v, c in counts.items())
        shown = ", ".join(map(_fmt, value_set[:10])) + (", ..." if len(value_set) > 10 else "")
        return f"{int(unseen.sum())} values not in set: {listed}", (
            f"column '{column}' has {_plural(int(unseen.sum()), 'value')} not seen in the "
            f"reference (unseen: {listed}; expected: {shown}); fix: map them to known "
            "categories upstream, or re-derive the suite if the new category is legitimate"
        )
    observed = _describe(gx_result)
    return observed, (
        f"column '{column}' fails {type_} {kwargs} (observed: {observed}); "
        "fix: correct the data upstream or adjust this expectation"
    )


def _describe(gx_result: dict[str, Any]) -> str:
    """Observed value or unexpected count with examples, for expectations without a wording."""
    text = _observed(gx_result)
    examples = gx_result.get("partial_unexpected_list")
    if examples:
        text += f" (e.g. {', '.join(map(_fmt, examples[:_EXAMPLES]))})"
    return text or "GX could not evaluate it; see the raw result's exception_info"


def _explain(
    type_: str, kwargs: dict[str, Any], gx_result: dict[str, Any], frame: pd.DataFrame
) -> list[dict[str, Any]]:
    """Failure entries (column, expectation, observed, explanation) for one failed expectation."""
    if type_ == "expect_table_columns_to_match_set":
        expected = [str(c) for c in kwargs.get("column_set") or []]
        actual = [str(c) for c in frame.columns]
        entries = [
            {
                "column": c,
                "expectation": type_,
                "observed": "missing",
                "explanation": _missing(c),
            }
            for c in expected
            if c not in actual
        ]
        if kwargs.get("exact_match", True):
            entries += [
                {
                    "column": c,
                    "expectation": type_,
                    "observed": "unexpected",
                    "explanation": f"unexpected extra column '{c}'; fix: drop it upstream, or "
                    "re-derive the suite from a reference that has it",
                }
                for c in actual
                if c not in expected
            ]
        if entries:
            return entries
    if "column" in kwargs:
        observed, explanation = _explain_column(type_, kwargs, gx_result, frame)
        return [
            {
                "column": kwargs["column"],
                "expectation": type_,
                "observed": observed,
                "explanation": explanation,
            }
        ]
    if type_ == "expect_table_row_count_to_be_between":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        return [
            {
                "column": "",
                "expectation": type_,
                "observed": f"{len(frame)} rows",
                "explanation": f"the table has {len(frame)} rows, expected between {low} and "
                f"{high if high is not None else 'any number'}; fix: check the query or "
                "export that produced it",
            }
        ]
    observed = _describe(gx_result)
    columns = [kwargs[k] for k in ("column_A", "column_B") if k in kwargs]
    columns += kwargs.get("column_list") or []
    return [
        {
            "column": ", ".join(map(str, columns)),
            "expectation": type_,
            "observed": observed,
            "explanation": f"the table fails {type_} {kwargs} (observed: {observed}); "
            "fix: correct the data upstream or adjust this expectation",
        }
    ]


def _exception_message(info: Any) -> str:
    """First exception message in a GX ``exception_info`` (flat or keyed by metric)."""
    if not isinstance(info, dict):
        return ""
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "")
    for value in info.values():
        if isinstance(value, dict) and value.get("exception_message"):
            return str(value["exception_message"])
    return ""


def _observed(gx_result: dict[str, Any]) -> str:
    """A short observed value for the HTML table."""
    if "observed_value" in gx_result:
        return str(gx_result["observed_value"])[:200]
    if "unexpected_count" in gx_result:
        return f"{gx_result['unexpected_count']} unexpected of {gx_result.get('element_count')}"
    return ""


# --------------------------------------------------------------------------- results


@dataclass
class ValidationResult:
    """The outcome of :func:`validate`.

    Attributes:
        success: Whether every expectation passed.
        success_percent: Percentage of expectations that passed.
        evaluated: Number of expectations evaluated.
        failed: One dict per failure: column, expectation, observed, explanation (with fix).
        raw: The GX ``ExpectationSuiteValidationResult`` as JSON.
        expectations: One row per expectation: type, column, success, observed.
        suite: The suite that was run (JSON form).
    """

    success: bool
    success_percent: float
    evaluated: int
    failed: list[dict[str, Any]]
    raw: dict[str, Any]
    expectations: list[dict[str, Any]] = field(default_factory=list)
    suite: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_expectations(self) -> int:
        """Number of GX expectations that failed."""
        return sum(not e["success"] for e in self.expectations)

    def explain(self) -> str:
        """One line per failure (column, expectation, observation and fix); deduplicated."""
        if self.success:
            return f"all {self.evaluated} expectations passed"
        lines = [
            f"{self.failed_expectations} of {self.evaluated} expectations failed "
            f"({self.success_percent:.1f}% passed):"
        ]
        # Several expectations on one column often fail for one reason: one line per reason.
        grouped: dict[str, list[str]] = {}
        for f in self.failed:
            names = grouped.setdefault(f["explanation"], [])
            if f["expectation"] not in names:
                names.append(f["expectation"])
        lines += [f"- {text} [{', '.join(names)}]" for text, names in grouped.items()]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable summary, failures, the suite and the raw GX result."""
        return {
            "success": self.success,
            "success_percent": self.success_percent,
            "evaluated_expectations": self.evaluated,
            "failed_expectations": self.failed_expectations,
            "failed": self.failed,
            "expectations": self.expectations,
            "suite": self.suite,
            "gx_result": self.raw,
        }

    def write_html(self, path: str) -> None:
        """Write a self-contained HTML report: summary, failures and every expectation."""
        summary = report.table(
            ["result", "passed", "evaluated", "failed"],
            [
                [
                    report.status(self.success),
                    f"{self.success_percent:.1f}%",
                    self.evaluated,
                    self.failed_expectations,
                ]
            ],
            raw_columns=[0],
        )
        body = f"<h2>Summary</h2>{summary}"
        if self.failed:
            rows = [
                [f["column"], f["expectation"], f["observed"], f["explanation"]]
                for f in self.failed
            ]
            body += "<h2>Failures</h2>" + report.table(
                ["column", "expectation", "observed", "explanation and fix"], rows
            )
        rows = [
            [i, e["column"], e["type"], report.status(e["success"]), e["observed"]]
            for i, e in enumerate(self.expectations)
        ]
        body += "<h2>Expectations</h2>" + report.table(
            ["#", "column", "expectation", "result", "observed"], rows, raw_columns=[3]
        )
        report.write(path, f"Data validation: {self.suite.get('name', 'suite')}", body)


def validate(frame: pd.DataFrame, suite: dict[str, Any]) -> ValidationResult:
    """Run ``suite`` on ``frame`` with Great Expectations and explain the failures.

    Raises:
        ParameterError: If the suite is malformed.
    """
    checked = check_suite(suite)
    gx_suite(checked)  # every expectation's kwargs checked before any data is touched
    raw = run_gx(frame, checked)
    failed: list[dict[str, Any]] = []
    rows = []
    for res in raw["results"]:
        config = res["expectation_config"]
        type_ = config["type"]
        kwargs = {k: v for k, v in config["kwargs"].items() if k != "batch_id"}
        gx_result = res.get("result") or {}
        error = _exception_message(res.get("exception_info"))
        rows.append(
            {
                "type": type_,
                "column": kwargs.get("column", ""),
                "success": bool(res["success"]),
                "observed": _observed(gx_result)
                or (f"error: {error.splitlines()[0]}" if error else ""),
            }
        )
        if not res["success"]:
            failed += _explain(type_, kwargs, gx_result, frame)
    # GX reorders results; report failures in suite order (table checks first).
    rank = {
        (e["type"], e["kwargs"].get("column", "")): i for i, e in enumerate(checked["expectations"])
    }
    failed.sort(key=lambda f: rank.get((f["expectation"], f["column"]), -1))
    rows.sort(key=lambda r: rank.get((r["type"], r["column"]), -1))
    stats = raw["statistics"]
    result = ValidationResult(
        success=bool(raw["success"]),
        success_percent=float(stats.get("success_percent") or 0.0),
        evaluated=int(stats["evaluated_expectations"]),
        failed=failed,
        raw=raw,
        expectations=rows,
        suite=checked,
    )
    log.info("validation of %d rows: %s", len(frame), "passed" if result.success else "FAILED")
    if not result.success:
        log.warning("%s", result.explain())
    return result


def resolve_suite(
    suite_json: str = "",
    suite_path: str | None = None,
    reference: pd.DataFrame | None = None,
    target_column: str = "target",
    margin: float = 0.1,
) -> dict[str, Any]:
    """Pick the suite: a suite file, else a JSON string, else one derived from the reference.

    Raises:
        ParameterError: If none is given, or the given one is invalid.
    """
    if suite_path:
        return load_suite(suite_path)
    if suite_json.strip():
        return load_suite(suite_json)
    if reference is not None:
        return derive_suite(reference, target_column=target_column, margin=margin)
    raise ParameterError(
        "no expectation suite: neither a suite nor a reference dataset was given",
        "pass suite (a JSON artifact), suite_json (a JSON string) or reference "
        "(e.g. the training data, to derive the suite from)",
    )


def enforce(result: ValidationResult, on_failure: str = "fail") -> bool:
    """Apply the failure policy; return ``result.success``.

    Args:
        result: A validation result.
        on_failure: ``fail`` raises on any failed expectation; ``warn`` only logs.

    Raises:
        ParameterError: If ``on_failure`` is not ``fail`` or ``warn``.
        DataValidationError: If validation failed and ``on_failure`` is ``fail``.
    """
    if on_failure not in ON_FAILURE:
        raise ParameterError(
            f"on_failure='{on_failure}' is not supported", f"use one of {ON_FAILURE}"
        )
    if not result.success and on_failure == "fail":
        raise DataValidationError(
            "data validation failed: " + result.explain(),
            "fix the data upstream, re-derive the suite if the change is intended, "
            "or set on_failure='warn' to only report",
        )
    return result.success
