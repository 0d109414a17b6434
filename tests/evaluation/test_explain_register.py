"""register_model with explain_model's outputs: the card's Explanations section and the
background sample beside the registered model (a real MLflow server on loopback)."""

import json
from pathlib import Path

import pytest

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.model_dir import BACKGROUND_FILE
from kfp_mlops.components.registry import common
from kfp_mlops.components.registry.register_model import core as register
from tests.evaluation.test_explain_fixtures import build_task

EVALUATION = {"blessed": True, "metrics": {"accuracy": 0.97}, "rows": 120, "classes": ["no", "yes"]}


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    from kfp_mlops.components.evaluation.explain_model import core

    base = tmp_path_factory.mktemp("explained")
    task = build_task("binary", base / "task")
    result = core.explain_model(
        task.model_dir, task.train, task.test, task.preprocessor, explain_rows=30
    )
    core.write_outputs(result, str(base / "explanation.json"), str(base / "background.json"))
    return task, base / "explanation.json", base / "background.json"


def test_model_card_has_the_explanations_and_the_server_gets_the_background(
    mlflow_server, fresh_name, explained, tmp_path
):
    task, explanation, background = explained
    reg = register.register(
        task.model_dir,
        EVALUATION,
        tracking_uri=mlflow_server,
        name=fresh_name,
        blessed=True,
        preprocessor_path=task.preprocessor,
        explanation=json.loads(explanation.read_text()),
        background_path=str(background),
    )
    card = reg.model_card
    section = card[card.index("## Explanations") : card.index("## Optimization")]
    assert card.index("## Metrics") < card.index("## Explanations")
    table = [line for line in section.splitlines() if line.startswith(("| 1 ", "| 2 "))]
    assert {row.split("|")[2].strip() for row in table} == {"a", "b"}
    assert "SHAP values" in section and "probability of class 'yes'" in section
    folder = common.load_registered(mlflow_server, fresh_name, common.CHALLENGER, str(tmp_path))
    stored = json.loads((Path(folder) / BACKGROUND_FILE).read_text())
    assert stored == json.loads(background.read_text())


def test_no_explanation_no_section(mlflow_server, fresh_name, explained):
    task, _, _ = explained
    reg = register.register(
        task.model_dir, EVALUATION, tracking_uri=mlflow_server, name=fresh_name, blessed=True
    )
    assert "## Explanations" not in reg.model_card


def test_a_wrong_explanation_or_background_fails_before_anything_is_written(
    mlflow_server, fresh_name, explained, tmp_path
):
    import mlflow

    task, _, _ = explained
    with pytest.raises(ParameterError, match="neither 'markdown' nor 'ranking'"):
        register.register(
            task.model_dir, EVALUATION, tracking_uri=mlflow_server, name=fresh_name,
            blessed=True, explanation={"accuracy": 1.0},
        )  # fmt: skip
    with pytest.raises(ParameterError, match="background sample"):
        register.register(
            task.model_dir, EVALUATION, tracking_uri=mlflow_server, name=fresh_name,
            blessed=True, background_path=str(tmp_path / "missing.json"),
        )  # fmt: skip
    client = mlflow.MlflowClient(mlflow_server)
    assert not client.search_registered_models(f"name = '{fresh_name}'")


def test_section_from_a_ranking_alone():
    text = register.explanation_section(
        {"method": "shap", "ranking": [{"feature": "a", "importance": 0.5}]}
    )
    assert text.startswith("## Explanations") and "| 1 | a | 0.5 |" in text
