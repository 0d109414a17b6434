"""Validate a dataset larger than memory: GX on each record batch, results merged exactly.

Every batch (a pandas frame indexed by its global row numbers) runs through the same GX
runner as a whole frame (:func:`.gx_runner.run_gx`), and the per-batch results merge:

- column map expectations (values between, in a set, not null, matching a regex...): the
  element, missing and unexpected counts add up, the examples (values and row numbers) are
  the first ones found, and success is recomputed from the totals and ``mostly`` exactly as
  GX does, so counts and verdicts equal a run on the whole table;
- expectations on the schema (columns, dtypes), the same in every batch: all must pass;
- the row count: one run on a zero-column frame with the total number of rows;
- any other aggregate (a column's mean, median, uniqueness...): one run on only the
  columns it reads.

A failure is explained (:mod:`.explanations`) on only the column it concerns. The suite,
when derived, comes from column profiles built batch by batch (:mod:`.derive`); the result
and the report are those of :func:`.core.validate`.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Any

import pandas as pd

from kfp_mlops.components.common import shards
from kfp_mlops.components.data.validate_data import core
from kfp_mlops.components.data.validate_data.derive import (
    derive_suite,
    derive_suite_from_data,
    profile_dataset,
)
from kfp_mlops.components.data.validate_data.gx_runner import EXAMPLES, gx_suite, run_gx
from kfp_mlops.components.data.validate_data.suites import (
    check_shared_columns,
    check_suite,
    load_suite,
)

#: Datasets with more rows than this (or sharded ones) are validated batch by batch.
STREAM_ABOVE_ROWS = 1_000_000
#: Rows per GX batch: large enough that GX's per-batch overhead stays small.
BATCH_ROWS = 131_072
ROW_COUNT = ("expect_table_row_count_to_be_between", "expect_table_row_count_to_equal")
#: Expectations that read the schema only: every batch gives the same answer.
SCHEMA = (
    "expect_table_columns_to_match_set",
    "expect_table_columns_to_match_ordered_list",
    "expect_table_column_count_to_be_between",
    "expect_table_column_count_to_equal",
    "expect_column_to_exist",
    "expect_column_values_to_be_in_type_list",
    "expect_column_values_to_be_of_type",
)


def wants_streaming(dataset_path: str, reference_path: str | None = None) -> bool:
    """Whether a dataset (or the reference) is sharded or has over 1M rows (footer only)."""
    paths = [p for p in (dataset_path, reference_path) if p]
    if any(shards.is_sharded(p) for p in paths):
        return True
    return max(shards.read_manifest(p).rows for p in paths) > STREAM_ABOVE_ROWS


def _is_map(result: dict[str, Any]) -> bool:
    return "unexpected_count" in (result.get("result") or {})


def _merge(acc: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Merge one batch's result of an expectation into the running one."""
    if acc["expectation_config"]["type"] != new["expectation_config"]["type"]:
        raise RuntimeError("GX returned the batches' results in different orders")
    if _is_map(acc) and _is_map(new):
        a, b = acc["result"], new["result"]
        for key in ("element_count", "missing_count", "unexpected_count"):
            if key in a or key in b:
                a[key] = int(a.get(key) or 0) + int(b.get(key) or 0)
        for key in ("partial_unexpected_list", "partial_unexpected_index_list"):
            if key in a or key in b:
                a[key] = [*(a.get(key) or []), *(b.get(key) or [])][:EXAMPLES]
        acc["success"] = acc["success"] and new["success"]
        return acc
    if acc["success"] and not new["success"]:
        return new  # schema checks: the first failing batch's result speaks for all
    return acc


def _finish_map(res: dict[str, Any]) -> None:
    """Percentages and success from the summed counts, as GX computes them."""
    r = res["result"]
    total, unexpected = int(r.get("element_count") or 0), int(r["unexpected_count"])
    missing = int(r.get("missing_count") or 0)
    considered = total - missing
    mostly = res["expectation_config"]["kwargs"].get("mostly", 1.0)
    if total == 0 or considered == 0:
        res["success"] = True  # vacuously, as in GX
    else:
        res["success"] = (float(considered) - float(unexpected)) / float(considered) >= mostly
    if "missing_count" in r:
        r["missing_percent"] = missing / total * 100 if total else None
        r["unexpected_percent_total"] = unexpected / total * 100 if total else None
        nonmissing = unexpected / considered * 100 if considered else None
        r["unexpected_percent_nonmissing"] = r["unexpected_percent"] = nonmissing
    else:
        r["unexpected_percent"] = unexpected / total * 100 if total else None
    counts = Counter(map(repr, r.get("partial_unexpected_list") or []))
    firsts = {repr(v): v for v in r.get("partial_unexpected_list") or []}
    r["partial_unexpected_counts"] = [
        {"value": firsts[k], "count": n} for k, n in counts.most_common()
    ]


def _columns_of(kwargs: dict[str, Any]) -> list[str]:
    found = [
        kwargs[k] for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)
    ]
    return found + list(kwargs.get("column_list") or [])


def _statistics(results: list[dict[str, Any]]) -> dict[str, Any]:
    passed = sum(bool(r["success"]) for r in results)
    return {
        "evaluated_expectations": len(results),
        "successful_expectations": passed,
        "unsuccessful_expectations": len(results) - passed,
        "success_percent": 100.0 * passed / len(results) if results else 100.0,
    }


def _run_batches(
    path: str, suite: dict[str, Any], batch_rows: int
) -> tuple[list[dict[str, Any]], int, dict[str, Any]]:
    """GX on every batch; the merged results, the row count and GX's meta."""
    merged: list[dict[str, Any]] | None = None
    rows, meta = 0, {}
    for frame in shards.iter_frames(path, batch_rows=batch_rows):
        if not len(frame) and merged is not None:
            continue
        frame.index = pd.RangeIndex(rows, rows + len(frame))  # examples name global rows
        rows += len(frame)
        raw = run_gx(frame, suite) if suite["expectations"] else {"results": []}
        meta = meta or raw.get("meta", {})
        batch = raw["results"]
        if merged is None:
            merged = batch
        else:
            merged = [_merge(a, b) for a, b in zip(merged, batch, strict=True)]
    return merged or [], rows, meta


def _aggregate(res: dict[str, Any], name: str, whole: Any, columns: list[str]) -> dict[str, Any]:
    """An aggregate expectation, run once by GX on only the columns it reads."""
    config = res["expectation_config"]
    kwargs = {k: v for k, v in config["kwargs"].items() if k != "batch_id"}
    one = {"name": name, "expectations": [{"type": config["type"], "kwargs": kwargs, "meta": {}}]}
    names = tuple(c for c in _columns_of(kwargs) if c in columns)
    return run_gx(whole(names), one)["results"][0]


def validate_streaming(
    path: str, suite: dict[str, Any], batch_rows: int = BATCH_ROWS
) -> core.ValidationResult:
    """:func:`.core.validate` over a dataset (file or shards), one batch in memory at a time.

    Raises:
        ParameterError: If the suite is malformed, or shares no column with the dataset.
    """
    checked = check_suite(suite)
    gx_suite(checked)
    columns = shards.read_manifest(path).columns
    check_shared_columns(checked, columns)
    name = checked["name"]
    counted = [e for e in checked["expectations"] if e["type"] in ROW_COUNT]
    others = [e for e in checked["expectations"] if e["type"] not in ROW_COUNT]
    merged, rows, meta = _run_batches(path, {"name": name, "expectations": others}, batch_rows)

    @lru_cache(maxsize=4)
    def whole(names: tuple[str, ...]) -> pd.DataFrame:
        return shards.read_table(path, columns=list(names))

    results = []
    for res in merged:
        if _is_map(res):
            _finish_map(res)
            results.append(res)
        elif res["expectation_config"]["type"] in SCHEMA:
            results.append(res)
        else:
            results.append(_aggregate(res, name, whole, columns))
    if counted:
        table = pd.DataFrame(index=pd.RangeIndex(rows))  # rows without columns: no memory
        results += run_gx(table, {"name": name, "expectations": counted})["results"]
    raw = {
        "success": all(r["success"] for r in results),
        "results": results,
        "suite_name": name,
        "suite_parameters": {},
        "statistics": _statistics(results),
        "meta": meta,
    }

    def frame_for(type_: str, kwargs: dict[str, Any]) -> pd.DataFrame:
        if type_ in ROW_COUNT:
            return pd.DataFrame(index=pd.RangeIndex(rows))
        names = tuple(c for c in _columns_of(kwargs) if c in columns)
        return whole(names) if names else pd.DataFrame(columns=columns)

    return core.build_result(checked, raw, frame_for, rows)


def validate_dataset_streaming(
    dataset_path: str,
    reference_path: str | None = None,
    suite_path: str | None = None,
    suite_json: str = "",
    target_column: str = "target",
    margin: float = 0.1,
) -> core.ValidationResult:
    """:func:`.core.validate_dataset` batch by batch: suite from profiles, then validate."""
    if suite_path:
        suite = load_suite(suite_path)
    elif suite_json.strip():
        suite = load_suite(suite_json)
    elif reference_path:
        profiles, rows = profile_dataset(reference_path, target_column)
        suite = derive_suite(profiles, target_column=target_column, margin=margin, rows=rows)
    else:
        profiles, _ = profile_dataset(dataset_path, target_column)
        suite = derive_suite_from_data(profiles, target_column=target_column, margin=margin)
    return validate_streaming(dataset_path, suite)
