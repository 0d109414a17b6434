"""The audit report in Markdown: verdict, one section per standard, the personal-data screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kfp_mlops.components.governance.audit_model.standards import STANDARDS, Standard

if TYPE_CHECKING:
    from kfp_mlops.components.governance.audit_model.core import AuditResult

DISCLAIMER = (
    "This audit maps the pipeline's evidence to provisions as a checklist aid; it is not "
    "legal advice, and a passed check is evidence for a review, not a substitute for one."
)


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell (pipes escaped, one line)."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip() or "-"


def sentence(text: str) -> str:
    """``text`` ending with a full stop."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "**FAIL**"


def _section(result: AuditResult, standard: Standard) -> list[str]:
    verdict = "compliant" if result.standard_compliant(standard) else "not compliant"
    lines = [
        f"## {standard.name}",
        "",
        f"{sentence(standard.reference)} Section verdict: **{verdict}**.",
        "",
    ]
    if standard.key == "ccpa" and result.detection is not None:
        sensitive = [p.column for p in result.detection.flagged if p.sensitive]
        if sensitive:
            names = ", ".join(f"`{c}`" for c in sensitive)
            lines += [f"Sensitive personal information (1798.121): {names}.", ""]
    lines += [
        "| check | provision | result | finding | recommendation |",
        "|---|---|---|---|---|",
    ]
    for check_id, provision in standard.items:
        c = result.check(check_id)
        lines.append(
            f"| {cell(c.title)} | {cell(provision)} | {_verdict(c.passed)} | {cell(c.finding)} "
            f"| {cell(c.recommendation or 'none')} |"
        )
    return [*lines, ""]


def _personal_data(result: AuditResult) -> list[str]:
    lines = ["## Personal data screen", ""]
    detection = result.detection
    if detection is None:
        return [*lines, "No dataset was screened.", ""]
    minimisation = result.check("data_minimisation")
    lines.append(
        f"Every column's name and up to {detection.sample_rows} non-null values per column "
        "were screened."
    )
    lines.append("")
    if detection.flagged:
        lines += [
            "| column | looks like | detected by | evidence | share of values |",
            "|---|---|---|---|---|",
        ]
        for p in detection.flagged:
            share = "-" if p.match_share is None else f"{p.match_share:.0%}"
            lines.append(
                f"| `{cell(p.column)}` | {p.label} | {p.by} | {cell(p.detail)} | {share} |"
            )
        lines.append("")
    else:
        lines += ["No column looks like personal data.", ""]
    for column, why in detection.cleared.items():
        lines.append(f"- `{column}` is not personal data: {why}.")
    if detection.cleared:
        lines.append("")
    if detection.binary:
        names = ", ".join(f"`{cell(c)}`" for c in detection.binary)
        lines += [
            f"Binary columns ({names}, e.g. encoded images) are not scanned: no text pattern "
            "applies. Whether the images show people (faces, number plates) needs a human "
            "review.",
            "",
        ]
    lines += [f"Outcome: {sentence(minimisation.finding)}", ""]
    return lines


def markdown(result: AuditResult) -> str:
    """The whole report."""
    ctx = result.context
    passed = len(result.checks) - len(result.failed)
    verdict = "COMPLIANT" if result.compliant else "NOT COMPLIANT"
    lines = [
        f"# Compliance audit: {ctx.get('model', 'model')}",
        "",
        f"**Verdict: {verdict}**: {passed} of {len(result.checks)} checks passed.",
        "",
        f"- Audited at: {ctx.get('audited_at', '')}",
        f"- Risk level: {ctx.get('risk_level', '')}",
        f"- Dataset: {ctx.get('source') or 'unnamed'}, {ctx.get('rows')} rows, "
        f"{ctx.get('columns')} columns",
        "",
        f"> {DISCLAIMER}",
        "",
        "## Summary",
        "",
        "| standard | verdict | checks passed |",
        "|---|---|---|",
    ]
    for s in STANDARDS:
        n = sum(result.check(i).passed for i in s.check_ids)
        ok = result.standard_compliant(s)
        lines.append(
            f"| {s.name} | {'compliant' if ok else '**not compliant**'} | "
            f"{n} of {len(s.check_ids)} |"
        )
    lines.append("")
    if result.failed:
        lines += ["Failed checks, with what to do:", ""]
        lines += [
            f"- **{c.title}**: {sentence(c.finding)} Fix: {sentence(c.recommendation)}"
            for c in result.failed
        ]
        lines.append("")
    for s in STANDARDS:
        lines += _section(result, s)
    lines += _personal_data(result)
    return "\n".join(lines)
