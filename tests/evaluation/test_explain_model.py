"""explain_model: known informative columns rank first, SHAP is additive, images, kfp.local.

The tables' targets depend only on ``a`` and ``b`` (see ``test_explain_fixtures``); the
models are small MLPs trained in-process in seconds.
"""

import json
import sys

import numpy as np
import pytest

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.evaluation.explain_model import core, report, tabular
from tests.evaluation.test_explain_fixtures import (
    INFORMATIVE,
    PATCH,
    build_image_task,
    build_task,
)


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    return build_task("binary", tmp_path_factory.mktemp("binary"))


@pytest.fixture(scope="module")
def multiclass(tmp_path_factory):
    return build_task("multiclass", tmp_path_factory.mktemp("multiclass"))


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    return build_task("regression", tmp_path_factory.mktemp("regression"))


def _explain(task, **kwargs):
    return core.explain_model(task.model_dir, task.train, task.test, task.preprocessor, **kwargs)


def test_binary_shap_ranks_the_two_informative_columns_first(binary):
    result = _explain(binary)
    assert result.method == "shap" and result.fallback_reason == ""
    assert set(result.columns[:2]) == INFORMATIVE
    assert sorted(result.columns) == ["a", "b", "c", "color", "d", "e"]  # raw columns
    # the informative columns dominate the noise by an order of magnitude
    assert min(result.importance[:2]) > 10 * max(result.importance[2:])
    assert result.explained == "the probability of class 'yes'"
    assert result.additivity_error < 1e-5
    assert result.background.shape == (50, 8)  # 5 numeric + 3 one-hot slots


def test_shap_values_sum_to_the_model_output_minus_the_base_value(binary):
    from kfp_mlops.components.common.artifacts import load_keras, load_xy
    from kfp_mlops.components.data.split_and_preprocess.preprocessor import Preprocessor
    from kfp_mlops.components.serving.explainer import feature_groups

    proc = Preprocessor.load(binary.preprocessor)
    x_train, _, _ = load_xy(binary.train)
    x_test, _, _ = load_xy(binary.test)
    model = load_keras(binary.model_dir)

    def predict(x):
        p = model.predict(x, verbose=0)[:, 0]
        return np.column_stack([1 - p, p])

    groups = [g for _, g in feature_groups(proc)]
    attr = tabular.shap_values(
        predict, x_test[:20], x_train[:30], groups, lambda o: np.ones(len(o), int)
    )
    positive = model.predict(x_test[:20], verbose=0)[:, 0]
    base = model.predict(x_train[:30], verbose=0)[:, 0].mean()
    np.testing.assert_allclose(attr.outputs, positive, atol=1e-6)
    np.testing.assert_allclose(attr.base_values, base, atol=1e-5)
    np.testing.assert_allclose(attr.values.sum(axis=1), positive - base, atol=1e-5)


def test_permutation_importance_ranks_the_same_columns_first(binary):
    result = _explain(binary, method="permutation")
    assert result.method == "permutation_importance"
    assert set(result.columns[:2]) == INFORMATIVE
    assert "accuracy" in result.explained and result.additivity_error is None


def test_auto_falls_back_to_permutation_importance_when_shap_is_missing(binary, monkeypatch):
    monkeypatch.setitem(sys.modules, "shap", None)  # `import shap` raises ImportError
    result = _explain(binary)
    assert result.method == "permutation_importance"
    assert "shap failed (ModuleNotFoundError" in result.fallback_reason
    assert set(result.columns[:2]) == INFORMATIVE
    with pytest.raises(ImportError):
        _explain(binary, method="shap")  # asked for shap explicitly: no silent fallback


def test_multiclass_explains_the_predicted_class(multiclass):
    result = _explain(multiclass)
    assert set(result.columns[:2]) == INFORMATIVE
    assert result.explained == "the probability of each row's predicted class"
    assert result.additivity_error < 1e-5


def test_regression_is_explained_in_target_units(regression):
    result = _explain(regression)
    assert result.columns[:2] == ["a", "b"]  # target = 100 + 3a - 2b
    importance = dict(zip(result.columns, result.importance, strict=True))
    # mean |SHAP| of a linear term is |coef| * E|x - mean| (~0.8 for a standard normal)
    assert 1.8 < importance["a"] < 3.2 and 1.2 < importance["b"] < 2.2
    assert abs(result.base_value - 100.0) < 1.5  # not the standardised ~0
    assert result.additivity_error < 1e-4
    assert "target units" in result.explained


def test_image_attributions_concentrate_on_the_informative_patch(tmp_path):
    from kfp_mlops.components.common.artifacts import load_keras, load_xy
    from kfp_mlops.components.evaluation.explain_model.images import integrated_gradients

    task = build_image_task(tmp_path / "images")
    result = _explain(task, explain_rows=30)
    assert result.kind == "image" and result.method == "integrated_gradients"
    assert result.pixel_map.shape == (8, 8)
    top4 = {divmod(int(i), 8) for i in np.argsort(result.pixel_map, axis=None)[-4:]}
    assert top4 == {(r, c) for r in range(2) for c in range(2)}
    patch = result.pixel_map[PATCH].mean()
    others = np.delete(result.pixel_map.reshape(-1), [0, 1, 8, 9]).mean()
    assert patch > 5 * others
    x, _, _ = load_xy(task.test)
    images = x[:5].reshape(-1, 8, 8, 1)
    attr = integrated_gradients(
        load_keras(task.model_dir), images, x.mean(axis=0).reshape(8, 8, 1), np.zeros(5, int)
    )
    assert attr.values.shape == images.shape  # one attribution per pixel and channel
    assert attr.completeness_error < 0.05  # sum ~ f(x) - f(baseline)


def test_outputs_report_and_model_card_section(binary, tmp_path):
    result = _explain(binary)
    core.write_outputs(result, str(tmp_path / "explanation.json"), str(tmp_path / "bg.json"))
    data = json.loads((tmp_path / "explanation.json").read_text())
    assert {r["feature"] for r in data["ranking"][:2]} == INFORMATIVE
    assert data["markdown"].startswith("## Explanations")
    background = json.loads((tmp_path / "bg.json").read_text())
    assert len(background["rows"]) == 50 and background["feature_names"][0] == "a"
    report.write_html(result, str(tmp_path / "report.html"))
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and 'src="http' not in html
    assert set(result.metrics()) >= {"importance.a", "importance.b", "additivity_error"}


def test_bad_parameters_are_refused_before_anything_runs(binary, tmp_path):
    with pytest.raises(ParameterError, match="method 'lime'"):
        _explain(binary, method="lime")
    with pytest.raises(ParameterError, match="background_rows"):
        _explain(binary, background_rows=0)
    other = build_task("multiclass", tmp_path / "other", epochs=1)
    with pytest.raises(Exception, match="features|classes|outputs"):
        core.explain_model(binary.model_dir, other.train, other.test, other.preprocessor)


@pytest.mark.slow
def test_kfp_local_run(binary, kfp_local):
    from pathlib import Path
    from typing import NamedTuple

    from kfp import dsl
    from kfp.dsl import Artifact, Dataset, Markdown, Metrics, Model

    from kfp_mlops.components.evaluation.explain_model.component import explain_model

    class Outputs(NamedTuple):
        top: str
        metrics: Metrics
        card: Markdown
        explanation: Artifact
        background: Dataset

    @dsl.pipeline(name="explain-test")
    def pipe() -> Outputs:
        model = dsl.importer(artifact_uri=binary.model_dir, artifact_class=Model)
        train = dsl.importer(artifact_uri=binary.train, artifact_class=Dataset)
        test = dsl.importer(artifact_uri=binary.test, artifact_class=Dataset)
        proc = dsl.importer(artifact_uri=binary.preprocessor, artifact_class=Model)
        task = explain_model(
            model=model.output,
            train=train.output,
            test=test.output,
            preprocessor=proc.output,
            explain_rows=40,
        )
        return Outputs(
            top=task.outputs["Output"],
            metrics=task.outputs["metrics"],
            card=task.outputs["model_card_section"],
            explanation=task.outputs["explanation"],
            background=task.outputs["background"],
        )

    run = pipe()
    assert run.outputs["top"] in INFORMATIVE
    assert "## Explanations" in Path(run.outputs["card"].path).read_text()
    explanation = json.loads(Path(run.outputs["explanation"].path).read_text())
    assert {r["feature"] for r in explanation["ranking"][:2]} == INFORMATIVE
    metrics = run.outputs["metrics"].metadata
    assert metrics["importance.a"] > metrics["importance.c"]
    assert len(json.loads(Path(run.outputs["background"].path).read_text())["rows"]) == 50
