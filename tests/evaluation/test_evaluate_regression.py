"""evaluate_model on a regression task: scikit-learn's diabetes set, standardised target."""

import json
import math
from pathlib import Path

import pytest

from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.evaluation.evaluate_model import core
from kfp_mlops.components.evaluation.evaluate_model.gate import Thresholds, gate

LENIENT_LATENCY = {"max_latency_p50_ms": 0, "max_latency_p95_ms": 0, "max_latency_p99_ms": 0}
FAST = {"repetitions": 5, "batch_size": 8, "batch_repetitions": 2}


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory):
    """Diabetes splits (standardised target) on disk, and the preprocessor's task."""
    from sklearn.datasets import load_diabetes

    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess

    result = split_and_preprocess(load_diabetes(as_frame=True).frame, standardize_target=True)
    base = tmp_path_factory.mktemp("diabetes")
    for name in ("train", "test"):
        getattr(result, name).to_parquet(base / f"{name}.parquet", index=False)
    result.preprocessor.save(str(base / "preprocessor.json"))
    task = result.preprocessor.task_spec
    assert task.task_type == "regression" and task.target_scale > 1  # really standardised
    return base, task


def fit_model(base: Path, out: Path, epochs: int) -> str:
    """A small Keras regressor fitted on the standardised target, saved as a Model directory."""
    import pandas as pd

    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    tf.keras.utils.set_random_seed(0)
    train = pd.read_parquet(base / "train.parquet")
    x = train.drop(columns="label").to_numpy("float32")
    inputs = tf.keras.Input((x.shape[1],))
    hidden = tf.keras.layers.Dense(16, activation="relu")(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(1)(hidden))
    model.compile(tf.keras.optimizers.Adam(1e-2), loss="mse")
    if epochs:
        model.fit(x, train["label"].to_numpy("float32"), epochs=epochs, batch_size=32, verbose=0)
    else:
        # All-zero weights: predicts the training mean (0 in standardised units).
        model.set_weights([w * 0.0 for w in model.get_weights()])
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out / "model.h5"))
    return str(out)


@pytest.fixture(scope="module")
def fitted(diabetes, tmp_path_factory) -> str:
    return fit_model(diabetes[0], tmp_path_factory.mktemp("fitted"), epochs=60)


@pytest.fixture(scope="module")
def mean_model(diabetes, tmp_path_factory) -> str:
    return fit_model(diabetes[0], tmp_path_factory.mktemp("mean"), epochs=0)


def sklearn_reference(base: Path, task: TaskSpec, model_dir: str) -> tuple[float, float, float]:
    """RMSE, MAE and R2 from scikit-learn on the same predictions, in the target's units."""
    import pandas as pd
    from sklearn import metrics as skm

    from kfp_mlops.components.common.artifacts import load_keras

    test = pd.read_parquet(base / "test.parquet")
    pred = load_keras(model_dir).predict(test.drop(columns="label").to_numpy("float32"), verbose=0)
    y = task.decode_target(test["label"].to_numpy("float64"))
    p = task.decode_target(pred.reshape(-1).astype("float64"))
    return (
        math.sqrt(skm.mean_squared_error(y, p)),
        skm.mean_absolute_error(y, p),
        skm.r2_score(y, p),
    )


def test_regression_metrics_are_in_target_units_and_match_scikit_learn(diabetes, fitted):
    base, task = diabetes
    result = core.evaluate(
        str(base / "test.parquet"),
        fitted,
        str(base / "preprocessor.json"),
        Thresholds(**LENIENT_LATENCY),
        **FAST,
    )
    rmse, mae, r2 = sklearn_reference(base, task, fitted)
    s = result.metrics.scalars
    assert s["rmse"] == pytest.approx(rmse, rel=1e-4)
    assert s["mae"] == pytest.approx(mae, rel=1e-4)
    assert s["r2"] == pytest.approx(r2, abs=1e-4)
    assert 20 < s["rmse"] < 80 and s["r2"] > 0.2  # target units (disease progression ~25-346)
    assert 0 < s["mape"] < 100  # diabetes targets are all >= 25: MAPE is defined
    assert result.blessed  # max_rmse=0: no RMSE limit
    assert any("no max_rmse limit" in r for r in result.decision.reasons)
    doc = json.loads(json.dumps(result.to_json()))
    assert doc["task_type"] == "regression" and doc["confusion_matrix"] == []
    assert "accuracy" not in doc["metrics"]
    md = result.to_markdown()
    assert "Residuals (predicted - actual" in md and "Confusion matrix" not in md
    page = result.to_html()
    assert page.count("data:image/png;base64,") == 2  # predicted-vs-actual, residuals
    assert "Residuals vs predicted" not in md


def test_max_rmse_below_the_models_rmse_blocks_it(diabetes, fitted):
    base, _ = diabetes
    args = (str(base / "test.parquet"), fitted, str(base / "preprocessor.json"))
    first = core.evaluate(*args, Thresholds(**LENIENT_LATENCY), **FAST)
    rmse = first.metrics.scalars["rmse"]
    blocked = core.evaluate(*args, Thresholds(max_rmse=rmse * 0.9, **LENIENT_LATENCY), **FAST)
    assert not blocked.blessed
    assert blocked.decision.failures == [f"rmse {rmse:.4f} > max_rmse {rmse * 0.9:.4f}"]
    # min_accuracy is ignored for regression.
    passed = core.evaluate(
        *args, Thresholds(min_accuracy=1.0, max_rmse=rmse * 1.1, **LENIENT_LATENCY), **FAST
    )
    assert passed.blessed


def test_gate_prefers_the_lower_rmse_for_regression():
    task = TaskSpec("regression", "target")
    thresholds = Thresholds(**LENIENT_LATENCY)
    lower = gate({"rmse": 50.0}, thresholds, {"rmse": 55.0}, task=task)
    higher = gate({"rmse": 55.0}, thresholds, {"rmse": 50.0}, task=task)
    assert lower.blessed and not higher.blessed
    assert "rmse 55.0000 vs champion 50.0000: gain -5.0000 < min_improvement" in higher.failures[0]
    # R2 is higher-is-better; a classification metric name means the primary metric.
    assert gate({"rmse": 5.0}, thresholds, {"rmse": 6.0}, compare_metric="accuracy", task=task)
    assert gate({"rmse": 1.0, "r2": 0.5}, thresholds, {"r2": 0.4}, compare_metric="r2", task=task)
    assert not gate(
        {"rmse": 1.0, "r2": 0.4}, thresholds, {"r2": 0.5}, compare_metric="r2", task=task
    ).blessed


def test_regression_champion_comparison_prefers_the_lower_rmse(
    mlflow_server, diabetes, fitted, mean_model, fresh_name
):
    from tests.evaluation.test_evaluate_model import register_champion

    base, _ = diabetes
    test, prep = str(base / "test.parquet"), str(base / "preprocessor.json")
    register_champion(mlflow_server, fresh_name, fitted, prep)
    common = {"tracking_uri": mlflow_server, "registered_model_name": fresh_name, **FAST}
    common["compare_metric"] = "rmse"  # named for regression (the default means it too)
    weak = core.evaluate(test, mean_model, prep, Thresholds(**LENIENT_LATENCY), **common)
    assert weak.compare_metric == "rmse"
    assert weak.metrics.scalars["rmse"] > weak.champion["metrics"]["rmse"]
    assert not weak.blessed
    assert any(f.startswith("rmse ") and "champion v" in f for f in weak.decision.failures)

    register_champion(mlflow_server, fresh_name, mean_model, prep)
    strong = core.evaluate(test, fitted, prep, Thresholds(**LENIENT_LATENCY), **common)
    assert strong.metrics.scalars["rmse"] < strong.champion["metrics"]["rmse"]
    assert strong.blessed


@pytest.mark.slow
def test_regression_component_runs_in_kfp_local(kfp_local, diabetes, fitted):
    from typing import NamedTuple

    from kfp import dsl
    from kfp.dsl import HTML, ClassificationMetrics, Dataset, Metrics, Model

    from kfp_mlops.components.evaluation.evaluate_model.component import evaluate_model

    base, _ = diabetes

    class Outputs(NamedTuple):
        blessed: bool
        metrics: Metrics
        classification: ClassificationMetrics
        report: HTML

    @dsl.pipeline(name="evaluate-regression-test")
    def pipe() -> Outputs:
        test = dsl.importer(artifact_uri=str(base / "test.parquet"), artifact_class=Dataset)
        model = dsl.importer(artifact_uri=fitted, artifact_class=Model)
        pre = dsl.importer(artifact_uri=str(base / "preprocessor.json"), artifact_class=Model)
        task = evaluate_model(
            test=test.output,
            model=model.output,
            preprocessor=pre.output,
            max_rmse=1.0,  # far below the model's RMSE in target units: blocked
            max_latency_p50_ms=0.0,
            max_latency_p95_ms=0.0,
            max_latency_p99_ms=0.0,
            latency_repetitions=5,
            batch_size=8,
            batch_repetitions=2,
        )
        return Outputs(
            blessed=task.outputs["Output"],
            metrics=task.outputs["metrics"],
            classification=task.outputs["classification_metrics"],
            report=task.outputs["report"],
        )

    run = pipe()
    assert run.outputs["blessed"] is False
    logged = run.outputs["metrics"].metadata
    assert logged["rmse"] > 1.0 and {"mae", "r2", "mape"} <= set(logged)
    assert "accuracy" not in logged and logged["blessed"] == 0.0
    written = json.loads(Path(run.outputs["classification"].path).read_text(encoding="utf-8"))
    assert written == {}  # no confusion matrix or ROC curve for regression
    page = Path(run.outputs["report"].path).read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2 and "max_rmse" in page


def test_a_classification_only_compare_metric_is_refused_for_regression(diabetes, fitted):
    from kfp_mlops.components.common.errors import ParameterError

    base, _ = diabetes
    with pytest.raises(ParameterError, match="cannot be compared for regression"):
        core.evaluate(
            str(base / "test.parquet"),
            fitted,
            str(base / "preprocessor.json"),
            compare_metric="log_loss",
        )
