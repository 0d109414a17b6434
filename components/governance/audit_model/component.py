"""KFP wrapper of :mod:`kfp_mlops.components.governance.audit_model.core`."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Metrics, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def audit_model(
    metrics: Output[Metrics],
    report: Output[Markdown],
    audit_json: Output[Artifact],
    dataset: Input[Dataset] = None,
    validation_result: Input[Artifact] = None,
    drift_json: Input[Artifact] = None,
    evaluation: Input[Artifact] = None,
    explanation: Input[Artifact] = None,
    model_card: Input[Artifact] = None,
    validation_passed: bool = True,
    declared_personal_columns: str = "",
    non_personal_columns: str = "",
    risk_level: str = "",
    approval_status: str = "",
    approved: bool = False,
    retention_days: int = 0,
    dataset_created_at: str = "",
    timestamp_column: str = "",
    registered_model_name: str = "kfp-mlops-classifier",
    intended_use: str = "",
    limitations: str = "",
    sample_rows: int = 1000,
    on_failure: str = "warn",
    required: bool = True,
) -> NamedTuple("Outputs", compliant=bool, proceed=bool):
    """Audit the model against GDPR, CCPA, the EU AI Act and a generic checklist.

    Each check passes or fails with a finding and a recommendation; missing evidence is a
    failed check naming the step that produces it. Use compliant (or proceed, which is
    also True when the audit is not required) in dsl.If to register only compliant models.

    Args:
        metrics: checks_passed, checks_failed, compliant, personal_columns_flagged,
            check_<id> and <standard>_compliant (1/0).
        report: Markdown audit report: verdict, one section per standard, personal data.
        audit_json: The checks, the standards' verdicts and the flagged columns as JSON.
        dataset: The table as loaded (load_dataset's output), screened for personal data
            (names, e-mails, phones, national ids, exact birth dates) by column name and
            by value patterns on a sample.
        validation_result: validate_data's validation_result.
        drift_json: detect_drift's drift_json (missing: drift not checked, a failed check).
        evaluation: evaluate_model's evaluation_json (thresholds, champion comparison).
        explanation: explain_model's feature importance (Metrics) or model-card section;
            missing fails the explainability check.
        model_card: register_model's model card; missing: the card register_model will
            write from this evidence is checked instead.
        validation_passed: validate_data's output.
        declared_personal_columns: Personal columns the model needs: a,b or a JSON object
            column -> purpose (e.g. {"email": "fraud signals"}).
        non_personal_columns: Flagged columns reviewed as not personal data (a,b).
        risk_level: EU AI Act tier: minimal, limited, high or unacceptable ("" is not
            classified, a failed check); high (or unset) requires approval_status.
        approval_status: The approval gate's verdict (the model version's approval tag):
            approved counts as an approval.
        approved: wait_for_approval's approved output; True counts as an approval too.
        retention_days: How long training data may be kept (0: not declared, a failed check).
        dataset_created_at: When the data was collected (ISO 8601); else the dataset's
            created_at metadata, else the oldest timestamp_column value.
        timestamp_column: A column of record timestamps, for the dataset's age.
        registered_model_name: The model's name in the report and the previewed card.
        intended_use: The model card's intended use (as given to register_model).
        limitations: The model card's limitations (as given to register_model).
        sample_rows: Values sampled per column for the value patterns.
        on_failure: warn (compliant is False) or fail (the task fails, naming each failed
            check; only when required).
        required: Whether registration needs a compliant audit (training_pipeline's
            require_audit); False still writes the report.
        compliant: Whether every check passed.
        proceed: compliant, or True when the audit is not required: the dsl.If condition
            that lets registration go on.

    Returns:
        The named outputs compliant and proceed.
    """
    import json
    import os
    from collections import namedtuple

    from kfp_mlops.components.common.kfp_outputs import log_finite
    from kfp_mlops.components.governance.audit_model import core

    def path(artifact):
        return artifact.path if artifact is not None else None

    result = core.audit(
        path(dataset),
        dataset_metadata=dict(dataset.metadata) if dataset is not None else None,
        declared_personal_columns=declared_personal_columns,
        non_personal_columns=non_personal_columns,
        explanation=core.read_explanation(path(explanation), explanation.metadata)
        if explanation is not None
        else None,
        model_card_path=path(model_card),
        validation_path=path(validation_result),
        validation_passed=validation_passed,
        drift_path=path(drift_json),
        evaluation_path=path(evaluation),
        registered_model_name=registered_model_name,
        intended_use=intended_use,
        limitations=limitations,
        risk_level=risk_level,
        approval_status="approved" if approved else approval_status,
        retention_days=retention_days,
        dataset_created_at=dataset_created_at,
        timestamp_column=timestamp_column,
        sample_rows=sample_rows,
        on_failure=on_failure,
    )
    values = result.metrics()
    log_finite(metrics, values)
    for artifact, text in (
        (metrics, json.dumps(values, indent=1)),
        (report, result.to_markdown()),
        (audit_json, json.dumps(result.to_json(), indent=1, default=str)),
    ):
        os.makedirs(os.path.dirname(artifact.path), exist_ok=True)
        with open(artifact.path, "w", encoding="utf-8") as f:
            f.write(text)
    audit_json.metadata.update(
        {"compliant": result.compliant, "failed_checks": [c.id for c in result.failed]}
    )
    compliant = core.enforce(result, on_failure if required else "warn")
    outputs = namedtuple("Outputs", ["compliant", "proceed"])
    return outputs(compliant, compliant or not required)
