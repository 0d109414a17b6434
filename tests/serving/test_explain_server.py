"""The server's ``:explain`` verb: the explainer itself, then real servers on loopback.

The models are trained on the synthetic tables of ``tests/evaluation/test_explain_fixtures``
(target depends only on ``a`` and ``b``); the background sample is the one explain_model
writes, stored in the model directory as register_model does.
"""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from kfp_mlops.components.common.model_dir import BACKGROUND_FILE
from kfp_mlops.components.deployment.deploy_model.smoke import request
from kfp_mlops.components.serving.explainer import (
    MAX_EXPLAIN_ROWS,
    BackgroundError,
    load_background,
    save_background,
    shapley_values,
)
from tests.evaluation.test_explain_fixtures import INFORMATIVE, build_task, synthetic_table

TIMEOUT = 120.0  # explain runs thousands of model rows on a shared 2-core machine


def test_shapley_values_of_a_linear_model_are_exact_and_additive():
    rng = np.random.default_rng(0)
    weights = np.array([2.0, -1.0, 0.0, 0.5])

    def predict(x):
        return np.column_stack([x @ weights, np.tanh(x[:, 0] * x[:, 1])])

    rows, background = rng.normal(size=(5, 4)), rng.normal(size=(12, 4))
    values, base = shapley_values(predict, rows, background, [[0], [1], [2, 3]])
    assert values.shape == (5, 3, 2)
    # linear output: the exact Shapley value is w * (x - mean(background)), grouped (rows
    # are float32 like encoded features, hence the tolerance)
    exact = weights * (rows - background.mean(axis=0))
    np.testing.assert_allclose(
        values[:, :, 0], np.column_stack([exact[:, 0], exact[:, 1], exact[:, 2:].sum(1)]), atol=1e-5
    )
    # additivity for the non-linear output too
    np.testing.assert_allclose(values.sum(axis=1), predict(rows) - base, atol=1e-5)


def test_background_file_must_fit_the_preprocessor(tmp_path):
    save_background(tmp_path / "bg.json", np.zeros((3, 2)), ["a", "b"])
    assert load_background(tmp_path / "bg.json", ["a", "b"]).shape == (3, 2)
    with pytest.raises(BackgroundError, match="different pipeline runs"):
        load_background(tmp_path / "bg.json", ["a", "c"])
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(BackgroundError, match="cannot read"):
        load_background(tmp_path / "bad.json", ["a", "b"])


def _with_background(task, folder):
    """The model directory with explain_model's background inside, as registered."""
    from kfp_mlops.components.evaluation.explain_model import core

    shutil.copytree(task.model_dir, folder)
    result = core.explain_model(
        task.model_dir, task.train, task.test, task.preprocessor, explain_rows=20
    )
    core.write_outputs(
        result, str(folder.parent / "explanation.json"), str(folder / BACKGROUND_FILE)
    )
    return folder


def _rows(kind: str, n: int) -> list[dict]:
    frame = synthetic_table(kind, rows=n, seed=7).drop(columns="target")
    return frame.to_dict(orient="records")


@pytest.fixture(scope="module")
def binary_server(serve, tmp_path_factory):
    task = build_task("binary", tmp_path_factory.mktemp("binary"))
    model_dir = _with_background(task, tmp_path_factory.mktemp("served") / "model")
    return serve(model_dir, task.preprocessor)


def test_explain_ranks_the_informative_columns_and_adds_up(binary_server):
    rows = _rows("binary", 8)
    got = request(binary_server, "POST", "/v1/models/clf:explain", {"instances": rows}, TIMEOUT)
    assert got.status == 200, got.body
    explanations = got.body["explanations"]
    assert len(explanations) == 8 and got.body["method"] == "permutation-shapley"
    predicted = request(binary_server, "POST", "/v1/models/clf:predict", {"instances": rows})
    for item, proba in zip(explanations, predicted.body["probabilities"], strict=True):
        assert item["explained"] == "probability of class 'yes'"
        assert item["prediction"] == pytest.approx(proba[1], abs=1e-5)  # same feature path
        total = sum(item["attributions"].values())
        assert total == pytest.approx(item["prediction"] - item["base_value"], abs=1e-5)
        assert set(item["attributions"]) == {"a", "b", "c", "d", "e", "color"}
    mean_abs = {
        c: np.mean([abs(e["attributions"][c]) for e in explanations])
        for c in explanations[0]["attributions"]
    }
    assert set(sorted(mean_abs, key=mean_abs.get, reverse=True)[:2]) == INFORMATIVE


def test_too_many_rows_is_a_400_that_says_the_limit(binary_server):
    rows = _rows("binary", MAX_EXPLAIN_ROWS + 1)
    got = request(binary_server, "POST", "/v1/models/clf:explain", {"instances": rows}, TIMEOUT)
    assert got.status == 400
    assert f"at most {MAX_EXPLAIN_ROWS} rows" in got.body["error"]
    bad = request(binary_server, "POST", "/v1/models/clf:explain", {"rows": []}, TIMEOUT)
    assert bad.status == 400 and "instances" in bad.body["error"]


def test_explain_latency_has_its_own_histogram(binary_server):
    request(
        binary_server, "POST", "/v1/models/clf:explain", {"instances": _rows("binary", 1)}, TIMEOUT
    )
    text = request(binary_server, "GET", "/metrics").body
    match = re.search(r'kfp_mlops_explain_latency_seconds_count\{model="clf"\} (\S+)', text)
    assert match and float(match.group(1)) >= 1


def test_regression_attributions_are_in_target_units(serve, tmp_path_factory):
    task = build_task("regression", tmp_path_factory.mktemp("regression"))
    model_dir = _with_background(task, tmp_path_factory.mktemp("served_reg") / "model")
    url = serve(model_dir, task.preprocessor)
    rows = _rows("regression", 4)
    got = request(url, "POST", "/v1/models/clf:explain", {"instances": rows}, TIMEOUT)
    assert got.status == 200, got.body
    predicted = request(url, "POST", "/v1/models/clf:predict", {"instances": rows}).body
    for item, value in zip(got.body["explanations"], predicted["predictions"], strict=True):
        assert item["prediction"] == pytest.approx(value, abs=1e-3)  # target units (~100)
        assert abs(item["base_value"] - 100) < 1.5
        total = sum(item["attributions"].values())
        assert total == pytest.approx(item["prediction"] - item["base_value"], abs=1e-3)
        assert set(list(item["attributions"])[:2]) == INFORMATIVE  # ranked by magnitude


def test_a_model_without_background_predicts_but_explain_is_501(serve, tmp_path_factory):
    task = build_task("binary", tmp_path_factory.mktemp("plain"), epochs=2)
    url = serve(task.model_dir, task.preprocessor)
    rows = {"instances": _rows("binary", 2)}
    assert request(url, "POST", "/v1/models/clf:predict", rows).status == 200
    got = request(url, "POST", "/v1/models/clf:explain", rows, TIMEOUT)
    assert got.status == 501
    assert BACKGROUND_FILE in got.body["error"] and "explain_model" in got.body["error"]


def test_a_tflite_only_model_explains_in_process(tmp_path):
    """The TFLite backend (no TensorFlow in the TFLite serving image) explains the same way."""
    import asyncio

    from kfp_mlops.components.common.artifacts import load_keras
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.serving.model import ClassifierModel

    task = build_task("binary", tmp_path / "task")
    served = _with_background(task, tmp_path / "keras")
    tflite = tmp_path / "tflite"
    tflite.mkdir()
    converter = import_tf().lite.TFLiteConverter.from_keras_model(load_keras(task.model_dir))
    (tflite / "model.tflite").write_bytes(converter.convert())
    shutil.copyfile(served / BACKGROUND_FILE, tflite / BACKGROUND_FILE)
    model = ClassifierModel("clf", str(tflite), task.preprocessor, backend="tflite")
    assert model.load() and model.explainer is not None
    answer = asyncio.run(model.explain({"instances": _rows("binary", 6)}))
    for item in answer["explanations"]:
        total = sum(item["attributions"].values())
        assert total == pytest.approx(item["prediction"] - item["base_value"], abs=1e-5)
    mean_abs = {
        c: np.mean([abs(e["attributions"][c]) for e in answer["explanations"]])
        for c in answer["explanations"][0]["attributions"]
    }
    assert set(sorted(mean_abs, key=mean_abs.get, reverse=True)[:2]) == INFORMATIVE
    model.stop()
