"""Evidence for the audit tests, produced by the real components' cores.

The validation result is validate_data's, the drift JSON detect_drift's and the evaluation
JSON is built from evaluate_model's own gate, so a format change upstream breaks these
tests instead of passing silently.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROWS = 120


def customers(seed: int = 0) -> pd.DataFrame:
    """A small customer table: numeric features, an e-mail column, an opt-in flag, a label."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, ROWS),
            "income": rng.normal(50_000, 10_000, ROWS).round(2),
            "email": [f"customer{i}@example.com" for i in range(ROWS)],
            "email_opt_in": rng.integers(0, 2, ROWS).astype(bool),
            "target": rng.choice(["no", "yes"], ROWS),
        }
    )


def evaluation_json(
    *, accuracy: float = 0.97, champion: dict | None = None, compared: bool = True
) -> dict:
    """An evaluation_json as evaluate_model writes it, with its real gate's checks."""
    from kfp_mlops.components.evaluation.evaluate_model.gate import Thresholds, gate

    metrics = {"accuracy": accuracy, "latency_single_p50_ms": 1.0}
    metrics |= {"latency_single_p95_ms": 2.0, "latency_single_p99_ms": 3.0}
    reason = (
        "no champion yet for 'm' at http://mlflow:5000"
        if compared
        else "no champion yet (no comparison: tracking_uri or registered_model_name empty)"
    )
    decision = gate(
        metrics,
        Thresholds(),
        champion["metrics"] if champion else None,
        champion_version=champion["version"] if champion else None,
        no_champion_reason=reason,
    )
    return {
        "blessed": decision.blessed,
        "reasons": decision.reasons,
        "failures": decision.failures,
        "checks": [asdict(c) for c in decision.checks],
        "metrics": metrics,
        "serving_format": "tflite",
        "rows": 24,
        "classes": ["no", "yes"],
        "champion": champion,
    }


def explanation():
    """explain_model's result for the customer table (its own dataclass, so its formats)."""
    from kfp_mlops.components.evaluation.explain_model.core import Explanation

    return Explanation(
        kind="tabular",
        method="shap",
        task_type="binary",
        explained="the probability of 'yes'",
        columns=["age", "income"],
        importance=[0.4, 0.1],
        rows=24,
        base_value=0.5,
        additivity_error=1e-7,
    )


@pytest.fixture(scope="session")
def evidence_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The customer table with its real validation and drift results, and an evaluation."""
    from kfp_mlops.components.common.io import save_dataset
    from kfp_mlops.components.data.detect_drift.core import feature_drift
    from kfp_mlops.components.data.validate_data.core import validate_dataset

    base = tmp_path_factory.mktemp("evidence")
    table = customers()
    save_dataset(table, str(base / "with_email.parquet"))
    save_dataset(table.drop(columns=["email"]), str(base / "without_email.parquet"))
    result = validate_dataset(str(base / "with_email.parquet"), str(base / "with_email.parquet"))
    (base / "validation.json").write_text(json.dumps(result.to_json(), default=str))
    drift = feature_drift(table, customers(seed=1)[table.columns], exclude=("target", "email"))
    (base / "drift.json").write_text(drift.to_json())
    (base / "evaluation.json").write_text(json.dumps(evaluation_json()))
    (base / "explanation.json").write_text(json.dumps(explanation().to_json()))
    return base
