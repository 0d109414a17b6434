"""The compliance audit: checks, verdicts, the report, parameters and one kfp.local run."""

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from kfp_mlops.components.common.errors import DataLoadError, ParameterError
from kfp_mlops.components.governance.audit_model import core
from kfp_mlops.components.governance.audit_model.standards import STANDARDS
from tests.governance.conftest import customers, evaluation_json, explanation

NOW = datetime(2026, 12, 1)


def run(evidence_dir: Path, table: str = "with_email", **overrides) -> core.AuditResult:
    """The audit with complete evidence; ``overrides`` change one piece at a time."""
    base = evidence_dir
    kwargs = {
        "dataset_metadata": {"source": "customers.csv"},
        "validation_path": str(base / "validation.json"),
        "drift_path": str(base / "drift.json"),
        "evaluation_path": str(base / "evaluation.json"),
        "explanation": core.read_explanation(str(base / "explanation.json"), {}),
        "registered_model_name": "churn",
        "intended_use": "Rank customers by churn risk for retention offers.",
        "limitations": "Trained on one region's customers of 2026; not for credit decisions.",
        "risk_level": "limited",
        "retention_days": 365,
        "dataset_created_at": "2026-10-01",
        "now": NOW,
    }
    kwargs.update(overrides)
    return core.audit(str(base / f"{table}.parquet"), **kwargs)


def failed_ids(result: core.AuditResult) -> list[str]:
    return [c.id for c in result.failed]


# ------------------------------------------------------------------ data minimisation


def test_email_column_is_flagged_and_not_compliant(evidence_dir):
    result = run(evidence_dir)
    assert not result.compliant
    assert failed_ids(result) == ["data_minimisation"]
    check = result.check("data_minimisation")
    assert "`email` looks like personal data: e-mail address" in check.finding
    assert "declared_personal_columns" in check.recommendation
    assert [p.column for p in result.flagged] == ["email"]  # email_opt_in is a flag
    assert result.metrics()["checks_failed"] == 1.0
    assert result.metrics()["checks_passed"] == len(result.checks) - 1


@pytest.mark.parametrize(
    "declared",
    ['{"email": "sends the retention offer"}', "email", '["email"]', " email , other "],
)
def test_email_declared_necessary_is_compliant(evidence_dir, declared):
    result = run(evidence_dir, declared_personal_columns=declared)
    assert result.compliant, failed_ids(result)
    finding = result.check("data_minimisation").finding
    assert "`email` (e-mail address) is declared necessary" in finding
    if declared.startswith("{"):
        assert "sends the retention offer" in finding


def test_email_dropped_is_compliant(evidence_dir):
    result = run(evidence_dir, table="without_email")
    assert result.compliant, failed_ids(result)
    assert result.flagged == []
    assert "no column looks like personal data" in result.check("data_minimisation").finding
    assert result.metrics() | {"checks_failed": 0.0, "compliant": 1.0} == result.metrics()


def test_false_positive_can_be_cleared_and_stale_declarations_are_named(evidence_dir):
    result = run(evidence_dir, non_personal_columns="email", declared_personal_columns="phone")
    assert result.compliant
    assert "declared but not in the table: `phone`" in result.check("data_minimisation").finding


def test_value_patterns_catch_a_renamed_column(tmp_path, evidence_dir):
    from kfp_mlops.components.common.io import save_dataset

    table = customers().rename(columns={"email": "contact"})
    save_dataset(table, str(tmp_path / "renamed.parquet"))
    renamed = core.audit(
        str(tmp_path / "renamed.parquet"), risk_level="limited", retention_days=1, now=NOW
    )
    assert [p.column for p in renamed.flagged] == ["contact"]
    assert renamed.flagged[0].by == "values"
    assert not renamed.check("data_minimisation").passed
    assert run(evidence_dir).flagged[0].by == "name and values"


# ------------------------------------------------------------------ report


def test_each_standard_has_its_section_with_its_checks(evidence_dir):
    result = run(evidence_dir)
    text = result.to_markdown()
    assert "**Verdict: NOT COMPLIANT**: 9 of 10 checks passed." in text
    for standard in STANDARDS:
        start = text.index(f"## {standard.name}\n")
        section = text[start : text.index("\n## ", start + 1)]
        for check_id, provision in standard.items:
            assert result.check(check_id).title in section
            assert provision in section
    assert "| GDPR | **not compliant** | 4 of 5 |" in text
    assert "| EU AI Act | compliant | 8 of 8 |" in text
    assert "`email_opt_in` is not personal data" in text
    summary = result.to_json()
    assert summary["standards"]["EU AI Act"]["compliant"] is True
    assert summary["personal_columns"][0]["column"] == "email"
    json.dumps(summary)  # JSON-ready


def test_sensitive_ids_are_named_in_the_ccpa_section(tmp_path):
    from kfp_mlops.components.common.io import save_dataset

    frame = pd.DataFrame({"x": [f"{100 + i}-45-{1000 + i}" for i in range(50)], "y": range(50)})
    save_dataset(frame, str(tmp_path / "ids.parquet"))
    text = core.audit(str(tmp_path / "ids.parquet"), now=NOW).to_markdown()
    ccpa = text[text.index("## CCPA") : text.index("## EU AI Act")]
    assert "Sensitive personal information (1798.121): `x`." in ccpa


# ------------------------------------------------------------------ other checks


def test_missing_explanation_fails_with_the_fix(evidence_dir):
    result = run(evidence_dir, table="without_email", explanation=None)
    assert failed_ids(result) == ["explainability"]
    assert "explain_model" in result.check("explainability").recommendation
    empty = run(evidence_dir, table="without_email", explanation=core.Explanation())
    assert "empty" in empty.check("explainability").finding


def test_explain_model_outputs_are_each_accepted(evidence_dir, tmp_path):
    """Its explanation JSON, its Metrics (metadata) or its model-card section."""
    result = explanation()
    (tmp_path / "section.md").write_text(result.to_json()["markdown"])
    forms = {
        "json": core.read_explanation(str(evidence_dir / "explanation.json"), {}),
        "metrics": core.read_explanation(str(tmp_path / "absent"), result.metrics()),
        "section": core.read_explanation(str(tmp_path / "section.md"), {}),
    }
    findings = {}
    for form, given in forms.items():
        audited = run(evidence_dir, table="without_email", explanation=given)
        assert audited.compliant, (form, failed_ids(audited))
        findings[form] = audited.check("explainability").finding
    assert findings["json"] == "importance of 2 features recorded by shap (largest: age, income)."
    assert findings["metrics"].startswith("importance of 2 features recorded (largest: age,")
    assert findings["section"] == "an explanation section is attached."


def test_high_risk_needs_approval(evidence_dir):
    high = run(evidence_dir, table="without_email", risk_level="high")
    assert not high.compliant and failed_ids(high) == ["human_oversight"]
    assert "high risk requires a recorded approval" in high.check("human_oversight").finding
    approved = run(
        evidence_dir, table="without_email", risk_level="HIGH", approval_status="approved"
    )
    assert approved.compliant
    rejected = run(
        evidence_dir, table="without_email", risk_level="high", approval_status="rejected"
    )
    assert "approval status: rejected" in rejected.check("human_oversight").finding
    unset = run(evidence_dir, table="without_email", risk_level="")
    assert failed_ids(unset) == ["risk_classification", "human_oversight"]
    banned = run(evidence_dir, table="without_email", risk_level="unacceptable")
    assert "prohibited" in banned.check("risk_classification").finding


def test_retention_from_parameter_metadata_or_oldest_record(tmp_path, evidence_dir):
    from kfp_mlops.components.common.io import save_dataset

    old = run(evidence_dir, table="without_email", dataset_created_at="2024-01-31T00:00:00Z")
    assert failed_ids(old) == ["retention"]
    assert "retention 365 days" in old.check("retention").finding
    undeclared = run(evidence_dir, table="without_email", retention_days=0)
    assert "no retention period" in undeclared.check("retention").finding
    unknown = run(evidence_dir, table="without_email", dataset_created_at="")
    assert "age is unknown" in unknown.check("retention").finding
    meta = run(
        evidence_dir,
        table="without_email",
        dataset_created_at="",
        dataset_metadata={"created_at": "2026-11-01"},
    )
    assert (
        meta.check("retention").passed
        and "metadata 'created_at'" in meta.check("retention").finding
    )
    frame = customers().drop(columns=["email"])
    frame["seen"] = pd.date_range("2025-06-01", periods=len(frame), freq="D").astype(str)
    save_dataset(frame, str(tmp_path / "stamped.parquet"))
    stamped = core.audit(
        str(tmp_path / "stamped.parquet"), timestamp_column="seen", retention_days=365, now=NOW
    )
    assert "oldest 'seen': 2025-06-01" in stamped.check("retention").finding
    assert not stamped.check("retention").passed  # 548 days > 365


def test_model_card_needs_specific_texts_and_every_section(evidence_dir, tmp_path):
    generic = run(evidence_dir, table="without_email", intended_use="", limitations="")
    assert failed_ids(generic) == ["model_card"]
    finding = generic.check("model_card").finding
    assert "'Intended use' is register_model's generic text" in finding
    assert "'Limitations' is register_model's generic text" in finding
    # The registered card (register_model's own renderer) is checked when given.
    from kfp_mlops.components.registry.register_model.core import model_card

    card = model_card(
        name="churn",
        version="3",
        run_id="abc",
        evaluation=evaluation_json(),
        validation={"success": True, "success_percent": 100.0},
        intended_use="Rank customers by churn risk.",
        optimization="int8",
        formats=["TFLite"],
        limitations="One region only.",
        pipeline_run_id="run-1",
        data_hash="f" * 64,
    )
    (tmp_path / "card.md").write_text(card)
    registered = run(evidence_dir, table="without_email", model_card_path=str(tmp_path / "card.md"))
    assert registered.compliant
    assert "registered model card" in registered.check("model_card").finding
    (tmp_path / "short.md").write_text(card.replace("## Limitations", "## Notes"))
    short = run(evidence_dir, table="without_email", model_card_path=str(tmp_path / "short.md"))
    assert "section 'Limitations' missing" in short.check("model_card").finding


def test_validation_drift_and_evaluation_evidence(evidence_dir, tmp_path):
    kwargs = {"table": "without_email"}
    missing = run(
        evidence_dir, validation_path=None, drift_path=None, evaluation_path=None, **kwargs
    )
    assert set(failed_ids(missing)) == {
        "data_validation",
        "drift_checked",
        "evaluation_thresholds",
        "champion_comparison",
        "model_card",  # no metrics and no validation in the card register_model would write
    }
    assert "reference_source" in missing.check("drift_checked").recommendation
    assert not run(evidence_dir, validation_passed=False, **kwargs).check("data_validation").passed
    drift = json.loads((evidence_dir / "drift.json").read_text())
    assert (
        run(evidence_dir, **kwargs)
        .check("drift_checked")
        .finding.startswith(
            f"{len(drift['drifted_features'])} of {len(drift['features'])} features drifted"
        )
    )

    def with_evaluation(data: dict) -> core.AuditResult:
        path = tmp_path / "evaluation.json"
        path.write_text(json.dumps(data))
        return run(evidence_dir, evaluation_path=str(path), **kwargs)

    weak = with_evaluation(evaluation_json(accuracy=0.9))
    assert failed_ids(weak) == ["evaluation_thresholds"]
    assert "accuracy 0.9000 < min_accuracy 0.9500" in weak.check("evaluation_thresholds").finding
    uncompared = with_evaluation(evaluation_json(compared=False))
    assert failed_ids(uncompared) == ["champion_comparison"]
    champion = {"version": "4", "metrics": {"accuracy": 0.96}}
    compared = with_evaluation(evaluation_json(champion=champion))
    assert compared.compliant
    assert "vs champion v4" in compared.check("champion_comparison").finding


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"risk_level": "medium"}, "risk_level 'medium' is not an EU AI Act tier"),
        ({"retention_days": -1}, "retention_days is -1"),
        ({"timestamp_column": "nope"}, "timestamp_column 'nope' is not a column"),
        ({"timestamp_column": "age"}, "holds numbers, not timestamps"),
        ({"declared_personal_columns": "{bad"}, "declared_personal_columns is not valid JSON"),
        ({"declared_personal_columns": '{"a": 1}'}, "must be a list of column names"),
        ({"dataset_created_at": "yesterday-ish"}, "is not a timestamp"),
        ({"on_failure": "explode"}, "on_failure 'explode' is unknown"),
    ],
)
def test_bad_parameters_fail_before_anything_is_written(evidence_dir, overrides, message):
    with pytest.raises(ParameterError, match=message):
        run(evidence_dir, **overrides)


def test_unreadable_evidence_names_the_file(evidence_dir, tmp_path):
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(DataLoadError, match="evaluate_model's evaluation_json"):
        run(evidence_dir, evaluation_path=str(tmp_path / "broken.json"))


def test_enforce_fail_names_each_failed_check(evidence_dir):
    result = run(evidence_dir, risk_level="high")
    assert core.enforce(result, "warn") is False
    with pytest.raises(core.ComplianceError, match="2 audit checks failed") as err:
        core.enforce(result, "fail")
    assert "data_minimisation:" in err.value.problem and "human_oversight:" in err.value.fix
    assert core.enforce(run(evidence_dir, table="without_email"), "fail") is True


# ------------------------------------------------------------------ KFP wrapper


@pytest.mark.slow
def test_component_with_kfp_local(kfp_local, tmp_path, evidence_dir):
    from typing import NamedTuple

    from kfp import dsl
    from kfp.dsl import Artifact, Markdown, Metrics

    from kfp_mlops.components.data.load_dataset.component import load_dataset
    from kfp_mlops.components.governance.audit_model.component import audit_model

    csv = tmp_path / "customers.csv"
    customers().to_csv(csv, index=False)

    class Outputs(NamedTuple):
        compliant: bool
        proceed: bool
        optional_proceed: bool
        metrics: Metrics
        report: Markdown
        audit: Artifact

    # kfp.local passes artifacts between tasks only inside a pipeline.
    @dsl.pipeline(name="audit-test")
    def pipe(source: str) -> Outputs:
        data = load_dataset(source=source).outputs["dataset"]
        # The other evidence as validate_data, detect_drift, evaluate_model and explain_model
        # write it (the conftest builds it with their cores).
        files = {
            name: dsl.importer(
                artifact_uri=str(evidence_dir / f"{name}.json"), artifact_class=Artifact
            ).output
            for name in ("validation", "drift", "evaluation", "explanation")
        }
        evidence = {
            "dataset": data,
            "validation_result": files["validation"],
            "drift_json": files["drift"],
            "evaluation": files["evaluation"],
            "explanation": files["explanation"],
            "risk_level": "high",
            "retention_days": 30,
            "dataset_created_at": "2099-01-01",  # in the future: age < 0 days
            "intended_use": "Rank customers by churn risk.",
            "limitations": "One region only.",
        }
        task = audit_model(**evidence, approved=True)
        # Not required: the same failed check, but registration may proceed.
        optional = audit_model(**evidence, approval_status="approved", required=False)
        return Outputs(
            compliant=task.outputs["compliant"],
            proceed=task.outputs["proceed"],
            optional_proceed=optional.outputs["proceed"],
            metrics=task.outputs["metrics"],
            report=task.outputs["report"],
            audit=task.outputs["audit_json"],
        )

    run_ = pipe(source=str(csv))
    assert run_.outputs["compliant"] is False and run_.outputs["proceed"] is False
    assert run_.outputs["optional_proceed"] is True
    metrics = run_.outputs["metrics"].metadata
    assert metrics["checks_failed"] == 1.0 and metrics["check_data_minimisation"] == 0.0
    assert metrics["checks_passed"] == 9.0 and metrics["eu_ai_act_compliant"] == 1.0
    assert metrics["check_human_oversight"] == 1.0  # approved=True counts as the approval
    report = Path(run_.outputs["report"].path).read_text(encoding="utf-8")
    assert "**Verdict: NOT COMPLIANT**: 9 of 10 checks passed." in report
    assert f"Dataset: {csv}, 120 rows, 5 columns" in report  # load_dataset's metadata
    saved = json.loads(Path(run_.outputs["audit"].path).read_text(encoding="utf-8"))
    assert saved["personal_columns"][0]["column"] == "email"
    assert run_.outputs["audit"].metadata["failed_checks"] == ["data_minimisation"]
