"""Deriving a suite from a table's column profiles, in memory or batch by batch.

A :class:`ColumnProfile` holds what derivation needs of one column (rows, non-null count,
finite range, distinct values up to :data:`~.suites.MAX_CATEGORIES`, values that parse as
numbers); profiles of batches merge, so a table larger than memory yields the same suite
as the whole frame (:func:`profile_dataset`). :func:`resolve_suite` picks the suite.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.data.validate_data.suites import (
    MAX_CATEGORIES,
    NUMERIC_TYPES,
    SELF_DERIVED_NOTE,
    check_margin,
    expectation,
    is_numeric,
    load_suite,
    python_value,
)

log = logging.getLogger("kfp_mlops.components.data.validate_data.suites")

#: Share of a text column's values that must parse as numbers for it to count as numeric.
NUMBERS_AS_TEXT = 0.9


@dataclass
class ColumnProfile:
    """What suite derivation reads of one column; :meth:`merge` adds a batch's profile."""

    rows: int
    non_null: int
    numeric: bool
    boolean: bool
    datetime: bool
    low: float = math.nan
    high: float = math.nan
    distinct: list[Any] | None = None  # None: more than MAX_CATEGORIES (or not collected)
    parsed: int = 0  # non-null text values that parse as numbers

    @classmethod
    def of(cls, series: pd.Series, is_target: bool) -> ColumnProfile:
        """The profile of one column (or one batch of it)."""
        values = series.dropna()
        profile = cls(
            rows=len(series),
            non_null=len(values),
            numeric=is_numeric(series),
            boolean=pd.api.types.is_bool_dtype(series),
            datetime=pd.api.types.is_datetime64_any_dtype(series),
        )
        if profile.numeric and not is_target:
            finite = values[np.isfinite(values.astype("float64"))]
            if len(finite):
                profile.low, profile.high = float(finite.min()), float(finite.max())
        elif is_target or not profile.datetime:
            distinct = [python_value(v) for v in values.unique()]
            profile.distinct = distinct if is_target or len(distinct) <= MAX_CATEGORIES else None
        if not profile.numeric and not profile.boolean:
            profile.parsed = int(pd.to_numeric(values, errors="coerce").notna().sum())
        return profile

    def merge(self, other: ColumnProfile, is_target: bool) -> None:
        """Add the profile of another batch of the same column."""
        self.rows += other.rows
        self.non_null += other.non_null
        self.parsed += other.parsed
        self.low = min(self.low, other.low) if not math.isnan(self.low) else other.low
        self.high = max(self.high, other.high) if not math.isnan(self.high) else other.high
        if self.distinct is not None and other.distinct is not None:
            merged = list(dict.fromkeys([*self.distinct, *other.distinct]))
            self.distinct = merged if is_target or len(merged) <= MAX_CATEGORIES else None
        elif not self.rows - other.rows:  # the first batch had no rows
            self.distinct = other.distinct
        else:
            self.distinct = None

    @property
    def numbers_as_text(self) -> bool:
        """A text column whose values are nearly all numbers: a few stray cells made it text."""
        if self.numeric or self.boolean or not self.non_null:
            return False
        return self.parsed / self.non_null >= NUMBERS_AS_TEXT


def profiles_of(frame: pd.DataFrame, target_column: str) -> dict[str, ColumnProfile]:
    """Profiles of every column of an in-memory frame."""
    return {str(c): ColumnProfile.of(frame[c], str(c) == target_column) for c in frame.columns}


def profile_dataset(
    path: str, target_column: str, batch_rows: int = 65_536
) -> tuple[dict[str, ColumnProfile], int]:
    """Profiles of a dataset (file or shards) built batch by batch, and its row count."""
    from kfp_mlops.components.common import shards

    profiles: dict[str, ColumnProfile] = {}
    rows = 0
    for frame in shards.iter_frames(path, batch_rows=batch_rows):
        rows += len(frame)
        for column, profile in profiles_of(frame, target_column).items():
            if column in profiles:
                profiles[column].merge(profile, column == target_column)
            else:
                profiles[column] = profile
    if not profiles:  # no batch at all: the schema's columns, no rows
        empty = shards.read_table(path)
        profiles = profiles_of(empty, target_column)
    return profiles, rows


def derive_suite(
    reference: pd.DataFrame | dict[str, ColumnProfile],
    target_column: str = "target",
    margin: float = 0.1,
    name: str = "derived",
    rows: int | None = None,
) -> dict[str, Any]:
    """Derive an expectation suite from a reference table (or its column profiles).

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
        reference: The table the suite describes (e.g. the training data), or the
            profiles of it (:func:`profile_dataset`) with ``rows``.
        target_column: The label column; it must be in ``reference``.
        margin: Slack, as a fraction of each numeric column's range and of non-null rates.
        name: The suite's name.
        rows: Rows of the reference when profiles are given.

    Raises:
        ParameterError: If the margin is negative, the reference is empty, lacks the target
            column, or has a column with no values.
    """
    check_margin(margin)
    if isinstance(reference, pd.DataFrame):
        rows, profiles = (
            (0 if reference.empty else len(reference)),
            profiles_of(reference, target_column),
        )
    else:
        profiles = reference
    if not rows:
        raise ParameterError(
            "the reference table has no rows", "pass the training data as reference"
        )
    if target_column not in profiles:
        raise ParameterError(
            f"target column '{target_column}' is not in the reference "
            f"(columns: {', '.join(list(profiles)[:10])})",
            "set target_column to the label's column name",
        )
    for column, profile in profiles.items():
        if profile.non_null == 0:
            raise ParameterError(
                f"reference column '{column}' is entirely empty (all NaN)",
                "drop the column from the reference or fix the export that wrote it",
            )
    return _derive(profiles, target_column, margin, name, derived_from="reference")


def derive_suite_from_data(
    frame: pd.DataFrame | dict[str, ColumnProfile],
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
    check_margin(margin)
    profiles = profiles_of(frame, target_column) if isinstance(frame, pd.DataFrame) else frame
    if target_column not in profiles:
        raise ParameterError(
            f"target column '{target_column}' is not in the data "
            f"(columns: {', '.join(list(profiles)[:10])})",
            "set target_column to the label's column name",
        )
    log.warning("no reference or suite given: %s", SELF_DERIVED_NOTE)
    return _derive(profiles, target_column, margin, name, derived_from="data")


def _derive(
    profiles: dict[str, ColumnProfile],
    target_column: str,
    margin: float,
    name: str,
    derived_from: str,
) -> dict[str, Any]:
    """The suite of :func:`derive_suite`, after its checks; ``derived_from`` goes in meta."""
    columns = list(profiles)
    expectations = [
        expectation("expect_table_columns_to_match_set", column_set=columns, exact_match=True),
        expectation("expect_table_row_count_to_be_between", min_value=1, max_value=None),
    ]
    for column in columns:
        profile = profiles[column]
        if profile.non_null == 0:  # only from the data itself: the reference's check raised
            expectations.append(expectation("expect_column_values_to_not_be_null", column=column))
            continue
        expectations += _column_expectations(profile, column, column == target_column, margin)
        if derived_from == "data" and profile.numbers_as_text:
            expectations.append(
                expectation(
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


def _column_expectations(
    profile: ColumnProfile, column: str, is_target: bool, margin: float
) -> list[dict[str, Any]]:
    """Not-null, then numeric type and range, or a value set, for one reference column."""
    non_null = profile.non_null / profile.rows
    if non_null < 1:
        mostly = math.floor(non_null * (1 - margin) * 1e4) / 1e4
        found = [expectation("expect_column_values_to_not_be_null", column=column, mostly=mostly)]
    else:
        found = [expectation("expect_column_values_to_not_be_null", column=column)]
    if not is_target and profile.numeric:
        low, high = profile.low, profile.high
        pad = margin * (high - low) or margin * max(abs(low), abs(high)) or margin
        found += [
            expectation(
                "expect_column_values_to_be_in_type_list", column=column, type_list=NUMERIC_TYPES
            ),
            expectation(
                "expect_column_values_to_be_between",
                column=column,
                min_value=low - pad,
                max_value=high + pad,
            ),
        ]
    elif profile.distinct is not None:
        value_set = sorted(profile.distinct, key=lambda v: (str(type(v)), v))
        found.append(
            expectation("expect_column_values_to_be_in_set", column=column, value_set=value_set)
        )
    return found


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
