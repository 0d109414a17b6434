"""Tests of evaluate_model: metrics, latency, the gate, champion comparison, kfp.local run."""

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.evaluation.evaluate_model import core
from kfp_mlops.components.evaluation.evaluate_model.champion import champion_features
from kfp_mlops.components.evaluation.evaluate_model.gate import Thresholds, gate
from kfp_mlops.components.evaluation.evaluate_model.latency import measure_latency
from kfp_mlops.components.evaluation.evaluate_model.predictors import resolve_format
from tests.mlflow_server import closed_port_uri

#: Thresholds that any model passes on latency, so only quality decides (no timing in tests).
LENIENT_LATENCY = {"max_latency_p50_ms": 1e9, "max_latency_p95_ms": 1e9, "max_latency_p99_ms": 1e9}
PASSING = {
    "accuracy": 0.97,
    "latency_single_p50_ms": 1.0,
    "latency_single_p95_ms": 2.0,
    "latency_single_p99_ms": 3.0,
}


# Metrics, probabilities and the ROC curve are tested in tests/common/test_metrics.py.


# --------------------------------------------------------------------------- latency


def test_measure_latency_makes_a_bounded_number_of_calls():
    calls: list[int] = []

    def predict(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return np.zeros((len(x), 1))

    features = np.ones((7, 3), dtype="float32")
    result = measure_latency(
        predict, features, repetitions=30, batch_size=16, batch_repetitions=4, warmup=5
    )
    assert len(calls) == 5 + 30 + 1 + 4
    assert calls.count(1) == 35
    assert calls.count(16) == 5  # fewer test rows than the batch size: rows are repeated
    for kind in ("single", "batch"):
        p50, p95, p99 = (result[f"latency_{kind}_p{q}_ms"] for q in (50, 95, 99))
        assert 0 <= p50 <= p95 <= p99
    assert result["batch_size"] == 16
    assert result["throughput_rows_per_s"] > 0


def test_measure_latency_rejects_nonsense_parameters():
    with pytest.raises(ParameterError, match="repetitions=0"):
        measure_latency(lambda x: x, np.ones((2, 2)), repetitions=0)
    with pytest.raises(ParameterError, match="no rows"):
        measure_latency(lambda x: x, np.ones((0, 2)))


# --------------------------------------------------------------------------- gate


def test_gate_blesses_a_model_meeting_every_threshold_without_champion():
    decision = gate(PASSING, Thresholds())
    assert decision.blessed
    assert decision.failures == []
    assert any("no champion yet" in r for r in decision.reasons)
    assert all(r.startswith("PASS") for r in decision.reasons)


def test_gate_fails_on_accuracy_with_the_reason():
    decision = gate({**PASSING, "accuracy": 0.9}, Thresholds(min_accuracy=0.95))
    assert not decision.blessed
    assert decision.failures == ["accuracy 0.9000 < min_accuracy 0.9500"]


def test_gate_fails_on_latency_with_the_reason():
    decision = gate({**PASSING, "latency_single_p99_ms": 150.0}, Thresholds())
    assert not decision.blessed
    assert len(decision.failures) == 1
    assert (
        "p99" in decision.failures[0]
        and "150.000 ms > max_latency_p99_ms 100" in (decision.failures[0])
    )


def test_gate_latency_limit_zero_disables_the_check_but_missing_latency_fails():
    relaxed = gate({**PASSING, "latency_single_p50_ms": 500.0}, Thresholds(max_latency_p50_ms=0))
    assert relaxed.blessed
    assert not any("p50" in r for r in relaxed.reasons)
    missing = gate({"accuracy": 0.99}, Thresholds())
    assert not missing.blessed
    assert any("not measured" in f for f in missing.failures)


def test_gate_refuses_a_challenger_worse_than_the_champion():
    decision = gate(PASSING, Thresholds(), {"accuracy": 0.99}, champion_version="3")
    assert not decision.blessed
    assert decision.failures == [
        "accuracy 0.9700 vs champion v3 0.9900: gain -0.0200 < min_improvement +0.0000"
    ]


def test_gate_tie_with_the_champion_is_blessed_unless_an_improvement_is_required():
    tie = gate(PASSING, Thresholds(), {"accuracy": 0.97})
    assert tie.blessed
    assert any("(tie)" in r for r in tie.reasons)
    demanding = gate(PASSING, Thresholds(), {"accuracy": 0.97}, min_improvement=0.01)
    assert not demanding.blessed
    tolerant = gate(PASSING, Thresholds(), {"accuracy": 0.975}, min_improvement=-0.01)
    assert tolerant.blessed


def test_gate_compares_on_the_chosen_metric():
    decision = gate(
        {**PASSING, "f1": 0.80}, Thresholds(), {"accuracy": 0.5, "f1": 0.9}, compare_metric="f1"
    )
    assert not decision.blessed
    assert decision.failures[0].startswith("f1 0.8000")
    with pytest.raises(ParameterError, match="log_loss"):
        gate(PASSING, Thresholds(), compare_metric="log_loss")


# --------------------------------------------------------------------------- formats, encoding


def test_resolve_format(tmp_path):
    with pytest.raises(ParameterError, match=r"no model\.tflite or model\.h5"):
        resolve_format(str(tmp_path), "auto")
    (tmp_path / "model.h5").write_bytes(b"")
    assert resolve_format(str(tmp_path), "auto") == "keras"
    with pytest.raises(ParameterError, match=r"no model\.tflite"):
        resolve_format(str(tmp_path), "tflite")
    with pytest.raises(ParameterError, match="onnx"):
        resolve_format(str(tmp_path), "onnx")
    (tmp_path / "model.tflite").write_bytes(b"")
    assert resolve_format(str(tmp_path), "auto") == "tflite"
    assert resolve_format(str(tmp_path), "keras") == "keras"


def test_champion_features_are_reencoded_with_the_champions_own_preprocessor(
    breast_cancer, tmp_path
):
    from kfp_mlops.components.data.split_and_preprocess.preprocessor import Preprocessor

    frame = breast_cancer.copy()
    first, second = frame.iloc[::2], frame.iloc[1::2]
    current = Preprocessor.fit(first, "target")
    champion = Preprocessor.fit(second, "target")
    assert not np.allclose(current.mean, champion.mean)
    features = current.transform_features(frame)

    bare = tmp_path / "bare"
    bare.mkdir()
    same, note, _ = champion_features(features, current, str(bare))
    assert same is features and "no preprocessor.json" in note

    champion.save(str(tmp_path / "preprocessor.json"))
    moved, note, _ = champion_features(features, current, str(tmp_path))
    assert note == ""
    assert np.allclose(moved, champion.transform_features(frame), atol=1e-4)
    other_classes = dataclasses.replace(champion, classes=["a", "b"])
    other_classes.save(str(tmp_path / "preprocessor.json"))
    with pytest.raises(ParameterError, match="classes"):
        champion_features(features, current, str(tmp_path))


# --------------------------------------------------------------------------- evaluate (Keras)


def test_evaluate_binary_model_is_blessed_with_reasons(bc_data, good_model):
    result = core.evaluate(
        bc_data.test,
        good_model,
        bc_data.preprocessor,
        Thresholds(min_accuracy=0.9, **LENIENT_LATENCY),
        repetitions=20,
        batch_size=32,
        batch_repetitions=3,
    )
    assert result.serving_format == "keras"
    assert result.rows == 86
    assert result.metrics.scalars["accuracy"] > 0.9
    assert result.blessed
    assert result.metrics.classes == ["benign", "malignant"]
    assert np.array(result.metrics.confusion_matrix).sum() == 86
    doc = json.loads(json.dumps(result.to_json()))
    assert doc["blessed"] is True
    assert doc["metrics"]["latency_batch_p99_ms"] >= doc["metrics"]["latency_batch_p50_ms"]
    assert any("no champion yet" in r for r in doc["reasons"])
    md = result.to_markdown()
    assert "**Decision: BLESSED**" in md
    assert "| accuracy |" in md and "| **malignant** |" in md


def test_evaluate_fails_the_latency_gate(bc_data, good_model):
    result = core.evaluate(
        bc_data.test,
        good_model,
        bc_data.preprocessor,
        Thresholds(min_accuracy=0.0, max_latency_p50_ms=1e-9),
        repetitions=5,
        batch_size=8,
        batch_repetitions=2,
    )
    assert not result.blessed
    assert len(result.decision.failures) == 1
    assert "latency p50" in result.decision.failures[0]
    assert "**Decision: NOT BLESSED**" in result.to_markdown()


def test_evaluate_serves_the_tflite_file_when_present(bc_data, good_model, good_model_tflite):
    kwargs = {"repetitions": 5, "batch_size": 8, "batch_repetitions": 2}
    keras_result = core.evaluate(
        bc_data.test, good_model, bc_data.preprocessor, serving_format="keras", **kwargs
    )
    lite = core.evaluate(
        bc_data.test, good_model_tflite, bc_data.preprocessor, serving_format="auto", **kwargs
    )
    assert lite.serving_format == "tflite"
    assert lite.metrics.scalars["accuracy"] == pytest.approx(
        keras_result.metrics.scalars["accuracy"], abs=0.025
    )
    forced = core.evaluate(
        bc_data.test, good_model_tflite, bc_data.preprocessor, serving_format="keras", **kwargs
    )
    assert forced.serving_format == "keras"


def test_evaluate_multiclass_model(digits_data, tmp_path):
    from tests.evaluation.conftest import train_model_dir

    model_dir = train_model_dir(digits_data, tmp_path / "digits_model", epochs=10)
    result = core.evaluate(
        digits_data.test,
        model_dir,
        digits_data.preprocessor,
        Thresholds(min_accuracy=0.8, **LENIENT_LATENCY),
        repetitions=5,
        batch_size=16,
        batch_repetitions=2,
    )
    assert np.array(result.metrics.confusion_matrix).shape == (10, 10)
    assert result.metrics.roc is None
    assert result.metrics.scalars["accuracy"] > 0.8
    assert 0.9 < result.metrics.scalars["roc_auc"] <= 1.0
    assert result.blessed


def test_evaluate_rejects_a_mismatched_preprocessor(bc_data, digits_data, good_model):
    with pytest.raises(ParameterError, match="same split_and_preprocess run"):
        core.evaluate(bc_data.test, good_model, digits_data.preprocessor)


# --------------------------------------------------------------------------- champion


def register_champion(tracking_uri: str, name: str, model_dir: str, preprocessor: str) -> str:
    from kfp_mlops.components.registry.promote_model.core import promote
    from kfp_mlops.components.registry.register_model.core import register

    reg = register(
        model_dir,
        {"blessed": True, "metrics": {}},
        tracking_uri=tracking_uri,
        name=name,
        blessed=True,
        preprocessor_path=preprocessor,
    )
    return promote(tracking_uri, name, reg.version).version


def test_no_champion_at_a_reachable_registry_blesses_on_thresholds(
    mlflow_server, bc_data, good_model, fresh_name
):
    result = core.evaluate(
        bc_data.test,
        good_model,
        bc_data.preprocessor,
        Thresholds(min_accuracy=0.9, **LENIENT_LATENCY),
        repetitions=5,
        batch_size=8,
        batch_repetitions=2,
        tracking_uri=mlflow_server,
        registered_model_name=fresh_name,
    )
    assert result.blessed
    assert result.champion is None
    assert any(f"no champion yet for '{fresh_name}'" in r for r in result.decision.reasons)


def test_a_better_champion_blocks_the_challenger(
    mlflow_server, bc_data, good_model, weak_model, fresh_name
):
    version = register_champion(mlflow_server, fresh_name, good_model, bc_data.preprocessor)
    result = core.evaluate(
        bc_data.test,
        weak_model,
        bc_data.preprocessor,
        Thresholds(min_accuracy=0.0, **LENIENT_LATENCY),
        repetitions=5,
        batch_size=8,
        batch_repetitions=2,
        tracking_uri=mlflow_server,
        registered_model_name=fresh_name,
    )
    assert result.champion["version"] == version
    assert result.champion["metrics"]["accuracy"] > result.metrics.scalars["accuracy"]
    assert not result.blessed
    assert len(result.decision.failures) == 1
    assert f"vs champion v{version}" in result.decision.failures[0]
    md = result.to_markdown()
    assert f"champion v{version}" in md


def test_a_challenger_better_than_the_champion_is_blessed(
    mlflow_server, bc_data, good_model, weak_model, fresh_name
):
    register_champion(mlflow_server, fresh_name, weak_model, bc_data.preprocessor)
    result = core.evaluate(
        bc_data.test,
        good_model,
        bc_data.preprocessor,
        Thresholds(min_accuracy=0.9, **LENIENT_LATENCY),
        repetitions=5,
        batch_size=8,
        batch_repetitions=2,
        tracking_uri=mlflow_server,
        registered_model_name=fresh_name,
    )
    # The zero model always predicts the first class ('benign': 54 of 86 test rows).
    assert result.champion["metrics"]["accuracy"] == pytest.approx(54 / 86)
    assert result.blessed


def test_unreachable_registry_is_an_error_naming_the_uri(bc_data, good_model):
    from kfp_mlops.components.registry.common import RegistryError

    uri = closed_port_uri()
    with pytest.raises(RegistryError, match="unreachable") as info:
        core.evaluate(
            bc_data.test,
            good_model,
            bc_data.preprocessor,
            tracking_uri=uri,
            registered_model_name="anything",
        )
    assert uri in str(info.value)
    assert "tracking_uri" in str(info.value)


# --------------------------------------------------------------------------- kfp.local


@pytest.mark.slow
def test_component_runs_in_kfp_local(kfp_local, bc_data, good_model):
    from typing import NamedTuple

    from kfp import dsl
    from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Markdown, Metrics, Model

    from kfp_mlops.components.evaluation.evaluate_model.component import evaluate_model

    class Outputs(NamedTuple):
        blessed: bool
        metrics: Metrics
        classification: ClassificationMetrics
        summary: Markdown
        evaluation: Artifact

    @dsl.pipeline(name="evaluate-test")
    def pipe() -> Outputs:
        test = dsl.importer(artifact_uri=bc_data.test, artifact_class=Dataset)
        model = dsl.importer(artifact_uri=good_model, artifact_class=Model)
        pre = dsl.importer(artifact_uri=bc_data.preprocessor, artifact_class=Model)
        task = evaluate_model(
            test=test.output,
            model=model.output,
            preprocessor=pre.output,
            min_accuracy=0.9,
            max_latency_p50_ms=1e9,
            max_latency_p95_ms=1e9,
            max_latency_p99_ms=1e9,
            latency_repetitions=10,
            batch_size=16,
            batch_repetitions=2,
        )
        return Outputs(
            blessed=task.outputs["Output"],
            metrics=task.outputs["metrics"],
            classification=task.outputs["classification_metrics"],
            summary=task.outputs["summary"],
            evaluation=task.outputs["evaluation_json"],
        )

    run = pipe()
    assert run.outputs["blessed"] is True
    classification = run.outputs["classification"]
    written = json.loads(open(classification.path, encoding="utf-8").read())
    matrix = written["confusionMatrix"]
    assert [a["displayName"] for a in matrix["annotationSpecs"]] == ["benign", "malignant"]
    assert sum(sum(row["row"]) for row in matrix["rows"]) == 86
    points = written["confidenceMetrics"]
    assert 2 < len(points) <= 200
    assert all(math.isfinite(p["confidenceThreshold"]) for p in points)
    assert run.outputs["metrics"].metadata["accuracy"] > 0.9
    assert run.outputs["metrics"].metadata["blessed"] == 1.0
    summary = open(run.outputs["summary"].path, encoding="utf-8").read()
    assert "**Decision: BLESSED**" in summary
    evaluation = json.loads(open(run.outputs["evaluation"].path, encoding="utf-8").read())
    assert evaluation["blessed"] is True
    assert run.outputs["evaluation"].metadata["reasons"] == evaluation["reasons"]
    assert isinstance(pd.Series(evaluation["metrics"]).astype(float).sum(), float)
