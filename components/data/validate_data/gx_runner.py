"""The Great Expectations runner: one ephemeral context per process, one batch per column.

Great Expectations is imported lazily (about 15 s) so suite handling stays fast.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import pandas as pd

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.data.validate_data.suites import check_suite

# Before any GX import: no usage statistics from pods that may have no network.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

EXAMPLES = 3  # offending values quoted per failure (GX's partial list and our explanations)
_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES}
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
