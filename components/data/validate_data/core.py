"""Validate a table with Great Expectations 1.x and explain every failure in plain words.

The entry point :func:`validate` runs a suite (GX 1.x ``ExpectationSuite`` JSON, see
:mod:`.suites`) through GX (:mod:`.gx_runner`) and returns a :class:`ValidationResult`
whose failures carry a sentence naming the column, what was observed and the fix
(:mod:`.explanations`); :mod:`.report` renders it as HTML, :func:`enforce` applies the
failure policy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.common.io import load_dataset_artifact
from kfp_mlops.components.data.validate_data import explanations
from kfp_mlops.components.data.validate_data import report as _report
from kfp_mlops.components.data.validate_data.derive import (  # noqa: F401 - the public API
    derive_suite,
    derive_suite_from_data,
    resolve_suite,
)
from kfp_mlops.components.data.validate_data.gx_runner import gx_suite, run_gx
from kfp_mlops.components.data.validate_data.suites import (  # noqa: F401 - the public API
    MAX_CATEGORIES,
    NUMERIC_TYPES,
    SELF_DERIVED_NOTE,
    check_shared_columns,
    check_suite,
    is_derived_from_data,
    load_suite,
)

log = logging.getLogger(__name__)

ON_FAILURE = ("fail", "warn")


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
    def suite_from_data(self) -> bool:
        """Whether the suite was derived from the validated data itself (no reference given)."""
        return is_derived_from_data(self.suite)

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
        _report.write_html(self, path)


def validate(frame: pd.DataFrame, suite: dict[str, Any]) -> ValidationResult:
    """Run ``suite`` on ``frame`` with Great Expectations and explain the failures.

    A raw image frame is validated on its per-file facts table (:mod:`.images`).

    Raises:
        ParameterError: If the suite is malformed, or shares no column with ``frame``.
    """
    from kfp_mlops.components.common.images import is_image_frame

    if is_image_frame(frame):  # raw images: the suite runs on their per-file facts
        from kfp_mlops.components.data.validate_data import images

        return images.validate_images(frame, suite)
    checked = check_suite(suite)
    gx_suite(checked)  # every expectation's kwargs checked before any data is touched
    check_shared_columns(checked, list(frame.columns))
    raw = run_gx(frame, checked)
    return build_result(checked, raw, lambda type_, kwargs: frame, len(frame))


def build_result(
    checked: dict[str, Any],
    raw: dict[str, Any],
    frame_for: Callable[[str, dict[str, Any]], pd.DataFrame],
    rows_validated: int,
    explain: Callable[..., list[dict[str, Any]]] = explanations.explain,
) -> ValidationResult:
    """The :class:`ValidationResult` of a GX result; failures explained on ``frame_for``.

    Args:
        checked: The suite that ran.
        raw: GX's result (:func:`.gx_runner.run_gx`, or merged over batches).
        frame_for: The frame a failed expectation is explained on (the whole frame, or
            only the columns it reads when streaming).
        rows_validated: For the log line.
        explain: Words a failure (:func:`.explanations.explain`'s signature); image
            facts tables name their files (:func:`.image_explanations.explain`).
    """
    failed: list[dict[str, Any]] = []
    rows = []
    for res in raw["results"]:
        config = res["expectation_config"]
        type_ = config["type"]
        kwargs = {k: v for k, v in config["kwargs"].items() if k != "batch_id"}
        gx_result = res.get("result") or {}
        error = explanations.exception_message(res.get("exception_info"))
        rows.append(
            {
                "type": type_,
                "column": kwargs.get("column", ""),
                "success": bool(res["success"]),
                "observed": explanations.observed_value(gx_result)
                or (f"error: {error.splitlines()[0]}" if error else ""),
            }
        )
        if not res["success"]:
            failed += explain(type_, kwargs, gx_result, frame_for(type_, kwargs))
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
    log.info("validation of %d rows: %s", rows_validated, "passed" if result.success else "FAILED")
    if not result.success:
        log.warning("%s", result.explain())
    return result


def validate_dataset(
    dataset_path: str,
    reference_path: str | None = None,
    suite_path: str | None = None,
    suite_json: str = "",
    target_column: str = "target",
    margin: float = 0.1,
    min_class_fraction: float = 0.0,
) -> ValidationResult:
    """The component's entry point: read the tables, pick the suite, validate.

    Args:
        dataset_path: The table to validate (a Dataset artifact's path: Parquet or CSV).
        reference_path: A table to derive the suite from, used when no suite is given.
        suite_path: A GX 1.x suite JSON file; wins over ``suite_json``.
        suite_json: A suite as a JSON string; wins over the reference.
        target_column: The label column of derived suites.
        margin: Slack of derived suites (see :func:`derive_suite`).
        min_class_fraction: Image datasets only: the least share of the files each class
            must hold; 0 derives it (half the reference's smallest class share).

    With no suite and no reference the suite is derived from the data itself
    (:func:`derive_suite_from_data`), which logs a warning saying so. A sharded or large
    (over 1M rows) dataset or reference is validated batch by batch
    (:mod:`.streaming`): the same suite, counts and report, bounded memory. A raw image
    Dataset (or reference) is validated on its per-file facts table (:mod:`.images`).

    Raises:
        ParameterError: If the suite is invalid or shares no column with the data.
    """
    from kfp_mlops.components.data.validate_data import images, streaming

    if images.is_image_dataset(dataset_path) or images.is_image_dataset(reference_path):
        return images.validate_image_dataset(
            dataset_path,
            reference_path,
            suite_path,
            suite_json,
            target_column,
            margin,
            min_class_fraction,
        )
    if streaming.wants_streaming(dataset_path, reference_path):
        return streaming.validate_dataset_streaming(
            dataset_path, reference_path, suite_path, suite_json, target_column, margin
        )
    frame = load_dataset_artifact(dataset_path)
    chosen = resolve_suite(
        suite_json=suite_json,
        suite_path=suite_path,
        reference=load_dataset_artifact(reference_path) if reference_path else None,
        target_column=target_column,
        margin=margin,
        data=frame,
    )
    return validate(frame, chosen)


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
