"""The audit's checks: each reads the evidence and passes or fails with a finding and a fix.

The evidence is what the pipeline already produced (validate_data's result, detect_drift's
JSON, evaluate_model's evaluation JSON, an explanation, the model card) plus the
parameters only a person can give (which personal columns are necessary, the risk level,
the approval, the retention period). A check never raises on missing evidence: missing
evidence is a failed check whose recommendation says which step produces it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kfp_mlops.components.governance.audit_model.evidence import Evidence

#: EU AI Act risk tiers the ``risk_level`` parameter accepts ("" means not classified).
RISK_LEVELS = ("", "minimal", "limited", "high", "unacceptable")
APPROVED = "approved"
#: The sections register_model's model card must have (see its ``model_card``).
CARD_SECTIONS = (
    "Intended use",
    "Data",
    "Data validation",
    "Metrics",
    "Optimization",
    "Limitations",
    "Provenance",
)


@dataclass(frozen=True)
class Check:
    """One audit check's verdict.

    Attributes:
        id: Stable identifier (a metric name is derived from it).
        title: What was checked, for the report.
        passed: The verdict.
        finding: What the evidence shows.
        recommendation: What to do ("" when nothing is needed).
    """

    id: str
    title: str
    passed: bool
    finding: str
    recommendation: str = ""


def _names(columns: list[str]) -> str:
    return ", ".join(f"`{c}`" for c in columns)


def data_minimisation(e: Evidence) -> Check:
    """Personal-looking columns must be declared necessary or dropped."""
    title = "Data minimisation: personal data only where declared necessary"
    if e.detection is None:
        return Check(
            "data_minimisation",
            title,
            False,
            "no dataset was given, so its columns could not be screened for personal data",
            "pass the dataset the model is trained on (load_dataset's output) to the audit",
        )
    flagged = [p for p in e.detection.flagged if p.column not in e.non_personal]
    undeclared = [p for p in flagged if p.column not in e.declared_personal]
    declared = [p for p in flagged if p.column in e.declared_personal]
    parts = [f"{len(e.table_columns)} columns screened (name and a sample of values)"]
    if not flagged:
        parts.append("no column looks like personal data")
    for p in declared:
        why = e.declared_personal[p.column] or "no purpose given"
        parts.append(f"`{p.column}` ({p.label}) is declared necessary: {why}")
    for p in undeclared:
        sensitive = ", sensitive" if p.sensitive else ""
        parts.append(
            f"`{p.column}` looks like personal data: {p.label}{sensitive} (by {p.by}: {p.detail})"
        )
    stale = sorted(set(e.declared_personal) - set(e.table_columns))
    if stale:
        parts.append(f"declared but not in the table: {_names(stale)} (drop from the declaration)")
    if not undeclared:
        return Check("data_minimisation", title, True, "; ".join(parts) + ".")
    cols = [p.column for p in undeclared]
    return Check(
        "data_minimisation",
        title,
        False,
        "; ".join(parts) + ".",
        f"drop {_names(cols)} before training (or pseudonymise), or declare each "
        "necessary with its purpose in declared_personal_columns, e.g. "
        f'{{"{cols[0]}": "<why the model needs it>"}}; a false positive goes in '
        "non_personal_columns",
    )


def explainability(e: Evidence) -> Check:
    """An explanation of the model (feature importance) is attached."""
    title = "Explainability: feature importance of the model"
    fix = (
        "run explain_model on the model and pass its explanation output (or its metrics "
        "or model_card_section) as explanation"
    )
    if e.explanation is None:
        return Check("explainability", title, False, "no explanation was attached", fix)
    values = e.explanation.importances()
    how = f" by {e.explanation.method}" if e.explanation.method else ""
    if values:
        top = sorted(values, key=lambda k: -abs(values[k]))[:3]
        finding = f"importance of {len(values)} features recorded{how} (largest: {', '.join(top)})"
        return Check("explainability", title, True, finding + ".")
    text = e.explanation.text or str(e.explanation.metadata.get("markdown") or "")
    if text.strip():  # images: per-pixel attributions, summarised in the section
        return Check("explainability", title, True, f"an explanation section{how} is attached.")
    return Check("explainability", title, False, "the explanation artifact is empty", fix)


def model_card(e: Evidence) -> Check:
    """The model card has every section, with specific (not generic) use and limitations."""
    title = "Model card: complete technical documentation"
    text = e.model_card
    headings = {line[3:].strip() for line in text.splitlines() if line.startswith("## ")}
    gaps = [f"section '{s}' missing" for s in CARD_SECTIONS if s not in headings]
    for section, generic in e.default_texts.items():
        if generic and generic in text:
            gaps.append(f"'{section}' is register_model's generic text")
    if "No validation result was attached." in text:
        gaps.append("no data validation result")
    if "| metric | value |\n|---|---|\n\n" in text:
        gaps.append("no metrics")
    if "Data SHA-256: `not recorded`" in text and e.model_card_source == "artifact":
        gaps.append("no data hash")
    source = (
        "the registered model card"
        if e.model_card_source == "artifact"
        else "the card register_model will write from this evidence"
    )
    if not gaps:
        return Check("model_card", title, True, f"{source} has all {len(CARD_SECTIONS)} sections.")
    return Check(
        "model_card",
        title,
        False,
        f"{source}: {'; '.join(gaps)}",
        "pass intended_use and limitations describing this model (to register_model and "
        "the audit), and the validation_result and evaluation of the same run",
    )


def data_validation(e: Evidence) -> Check:
    """validate_data ran and passed."""
    title = "Data validation passed (Great Expectations)"
    if e.validation is None:
        return Check(
            "data_validation",
            title,
            False,
            "no validation result was attached",
            "pass validate_data's validation_result (and its output as validation_passed)",
        )
    ok = bool(e.validation.get("success")) and e.validation_passed
    percent = e.validation.get("success_percent")
    failed = e.validation.get("failed_expectations", 0)
    finding = f"{float(percent or 0):.1f}% of expectations met, {failed} failed"
    if ok:
        return Check("data_validation", title, True, finding + ".")
    return Check(
        "data_validation",
        title,
        False,
        finding + " (validation did not pass)",
        "fix the data (validate_data's report names each failure and its fix) and re-run",
    )


def drift_checked(e: Evidence) -> Check:
    """detect_drift compared the data with a reference."""
    title = "Drift checked against a reference"
    if e.drift is None:
        return Check(
            "drift_checked",
            title,
            False,
            "drift was not measured (no detect_drift result)",
            "give the pipeline a reference_source so detect_drift runs, and pass its drift_json",
        )
    drifted = list(e.drift.get("drifted_features") or [])
    n = len(e.drift.get("features") or [])
    finding = (
        f"{len(drifted)} of {n} features drifted (PSI threshold {e.drift.get('threshold')}, "
        f"max PSI {float(e.drift.get('max_psi') or 0):.3f})"
    )
    if drifted:
        return Check(
            "drift_checked",
            title,
            True,
            f"{finding}: {_names(drifted[:10])}.",
            "review the drifted features: the model may not suit the reference population",
        )
    return Check("drift_checked", title, True, finding + ".")


def _eval_missing(check_id: str, title: str) -> Check:
    return Check(
        check_id,
        title,
        False,
        "no evaluation was attached",
        "pass evaluate_model's evaluation_json",
    )


def evaluation_thresholds(e: Evidence) -> Check:
    """Every release threshold of evaluate_model's gate was met."""
    title = "Evaluation thresholds met (quality and latency)"
    if e.evaluation is None:
        return _eval_missing("evaluation_thresholds", title)
    gate = [c for c in e.evaluation.get("checks") or [] if c.get("name") != "champion"]
    failed = [c["message"] for c in gate if not c.get("passed")]
    if not gate and "blessed" in e.evaluation:  # an evaluation without per-check records
        failed = [] if e.evaluation["blessed"] else list(e.evaluation.get("failures") or ["?"])
    if failed:
        return Check(
            "evaluation_thresholds",
            title,
            False,
            "failed: " + "; ".join(failed),
            "improve the model or revisit the thresholds with the model owner; do not register",
        )
    passed = "; ".join(c["message"] for c in gate) or "blessed"
    return Check("evaluation_thresholds", title, True, passed + ".")


def champion_comparison(e: Evidence) -> Check:
    """The challenger was compared with the registered champion (or the registry had none)."""
    title = "Champion comparison recorded"
    if e.evaluation is None:
        return _eval_missing("champion_comparison", title)
    champion = e.evaluation.get("champion") or {}
    record = next(
        (c for c in e.evaluation.get("checks") or [] if c.get("name") == "champion"), None
    )
    message = (record or {}).get("message", "")
    if champion.get("version"):
        return Check("champion_comparison", title, True, message or "compared with champion.")
    if message.startswith("no champion yet for "):  # the registry was asked and had none
        return Check("champion_comparison", title, True, f"{message} (first model).")
    return Check(
        "champion_comparison",
        title,
        False,
        message or "the evaluation holds no champion comparison",
        "give evaluate_model a tracking_uri and registered_model_name so the challenger is "
        "compared with the registered champion on the same test rows",
    )


def risk_classification(e: Evidence) -> Check:
    """The use case has a risk tier, and not a prohibited one."""
    title = "Risk classification (EU AI Act tier)"
    if not e.risk_level:
        return Check(
            "risk_classification",
            title,
            False,
            "risk_level is not set",
            "classify the use case (minimal, limited, or high for the Annex III areas such as "
            "credit scoring, employment, education, essential services) and pass risk_level",
        )
    if e.risk_level == "unacceptable":
        return Check(
            "risk_classification",
            title,
            False,
            "risk_level is 'unacceptable': a prohibited practice",
            "do not deploy this model",
        )
    return Check("risk_classification", title, True, f"risk level '{e.risk_level}'.")


def human_oversight(e: Evidence) -> Check:
    """High-risk (or unclassified) models need a recorded human approval."""
    title = "Human oversight: approval recorded where required"
    status = e.approval_status or "none"
    if e.risk_level in ("minimal", "limited"):
        finding = f"not required at risk level '{e.risk_level}' (approval status: {status})."
        return Check("human_oversight", title, True, finding)
    if e.risk_level in ("high", "") and e.approval_status == APPROVED:
        return Check("human_oversight", title, True, "approval recorded (approval=approved).")
    why = "high risk" if e.risk_level == "high" else f"risk level '{e.risk_level or 'unset'}'"
    return Check(
        "human_oversight",
        title,
        False,
        f"{why} requires a recorded approval; approval status: {status}",
        "have the model owner approve the model version (`kfp-mlops approve` tags it "
        "approval=approved) and pass that tag as approval_status, or wait_for_approval's "
        "approved output as approved",
    )


def retention(e: Evidence) -> Check:
    """The dataset is younger than the declared retention period."""
    title = "Retention: data within its retention period"
    if e.retention_days <= 0:
        return Check(
            "retention",
            title,
            False,
            "no retention period is declared (retention_days is 0)",
            "declare how long training data may be kept in retention_days",
        )
    if e.dataset_time is None:
        return Check(
            "retention",
            title,
            False,
            "the dataset's age is unknown (no timestamp)",
            "pass dataset_created_at (ISO 8601), a timestamp_column, or record created_at in "
            "the dataset's metadata",
        )
    age = (e.now - e.dataset_time).total_seconds() / 86400
    finding = (
        f"dataset is {age:.0f} days old ({e.dataset_time_source}: "
        f"{e.dataset_time.date().isoformat()}), retention {e.retention_days} days"
    )
    if age <= e.retention_days:
        return Check("retention", title, True, finding + ".")
    return Check(
        "retention",
        title,
        False,
        finding,
        "delete the expired records and train on data within the retention period",
    )


#: Every check, in report order.
CHECKS = (
    data_minimisation,
    explainability,
    model_card,
    data_validation,
    drift_checked,
    evaluation_thresholds,
    champion_comparison,
    risk_classification,
    human_oversight,
    retention,
)


def run_checks(evidence: Evidence) -> list[Check]:
    """Every check of :data:`CHECKS` on ``evidence``."""
    return [check(evidence) for check in CHECKS]
