"""Plain-word explanations of failed expectations: the column, what was observed and the fix.

Each sentence is computed with pandas from the frame GX validated, so it can quote the
offending values and their rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common import report
from kfp_mlops.components.data.validate_data.gx_runner import EXAMPLES as _EXAMPLES
from kfp_mlops.components.data.validate_data.suites import NUMERIC_TYPES, is_numeric, python_value


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _examples(series: pd.Series, mask: pd.Series) -> str:
    """``'abc' at row 10, 'x' at row 12`` for the first offending values (0-based rows)."""
    positions = np.flatnonzero(mask.to_numpy())[:_EXAMPLES]
    return ", ".join(f"{_fmt(series.iloc[p])} at row {p}" for p in positions)


def _fmt(value: Any) -> str:
    """``'abc'`` for text, ``1e+06`` for numbers: readable in a log line."""
    value = python_value(value)
    if isinstance(value, (list, tuple)):
        return f"({', '.join(map(_fmt, value))})"
    if isinstance(value, float):
        return report.fmt(value, 6, missing="nan")
    return repr(value)  # quoted: 'abc' reads as text, unlike a number


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
        type_ == "expect_column_values_to_be_between" and not is_numeric(series)
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
    text = observed_value(gx_result)
    examples = gx_result.get("partial_unexpected_list")
    if examples:
        text += f" (e.g. {', '.join(map(_fmt, examples[:_EXAMPLES]))})"
    return text or "GX could not evaluate it; see the raw result's exception_info"


def explain(
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


def exception_message(info: Any) -> str:
    """First exception message in a GX ``exception_info`` (flat or keyed by metric)."""
    if not isinstance(info, dict):
        return ""
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "")
    for value in info.values():
        if isinstance(value, dict) and value.get("exception_message"):
            return str(value["exception_message"])
    return ""


def observed_value(gx_result: dict[str, Any]) -> str:
    """A short observed value for the HTML table."""
    if "observed_value" in gx_result:
        return str(gx_result["observed_value"])[:200]
    if "unexpected_count" in gx_result:
        return f"{gx_result['unexpected_count']} unexpected of {gx_result.get('element_count')}"
    return ""
