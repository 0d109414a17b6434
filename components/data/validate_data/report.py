"""HTML rendering of a :class:`~kfp_mlops.components.data.validate_data.core.ValidationResult`.

The core returns a result; this module only renders it (summary, failures with their fixes,
every expectation), self-contained for the KFP UI's sandboxed iframe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kfp_mlops.components.common import report
from kfp_mlops.components.data.validate_data.suites import SELF_DERIVED_NOTE

if TYPE_CHECKING:
    from kfp_mlops.components.data.validate_data.core import ValidationResult


def render(result: ValidationResult) -> str:
    """The report's body: summary, failures (if any) and one row per expectation."""
    summary = report.table(
        ["result", "passed", "evaluated", "failed"],
        [
            [
                report.status(result.success),
                report.fmt(result.success_percent, 1, fixed=True) + "%",
                result.evaluated,
                result.failed_expectations,
            ]
        ],
        raw_columns=[0],
    )
    body = f"<h2>Summary</h2>{summary}"
    if result.suite_from_data:
        # Also true of a saved self-derived suite passed back in: the note is about the suite.
        note = report.escape(SELF_DERIVED_NOTE[0].upper() + SELF_DERIVED_NOTE[1:] + ".")
        body += f'<p class="bad">{note}</p>'
    if result.failed:
        rows = [
            [f["column"], f["expectation"], f["observed"], f["explanation"]] for f in result.failed
        ]
        body += "<h2>Failures</h2>" + report.table(
            ["column", "expectation", "observed", "explanation and fix"], rows
        )
    rows = [
        [i, e["column"], e["type"], report.status(e["success"]), e["observed"]]
        for i, e in enumerate(result.expectations)
    ]
    body += "<h2>Expectations</h2>" + report.table(
        ["#", "column", "expectation", "result", "observed"], rows, raw_columns=[3]
    )
    return body


def write_html(result: ValidationResult, path: str) -> None:
    """Write the self-contained HTML report of ``result`` to ``path``."""
    report.write(path, f"Data validation: {result.suite.get('name', 'suite')}", render(result))
