"""monitor_model judges the model in the format the server serves (model.tflite when present)."""

import json
import shutil

import pytest

from kfp_mlops.components.common.inference import TFLiteModel
from kfp_mlops.components.common.model_dir import KERAS_FILE, TFLITE_FILE
from kfp_mlops.components.monitoring.monitor_model.core import run_monitoring
from kfp_mlops.components.monitoring.monitor_model.served import load_served, probabilities


@pytest.fixture(scope="module")
def both_formats(champion, tmp_path_factory):
    """A Model directory with the champion's model.h5 and a model.tflite that inverts it.

    The TFLite model answers ``1 - p`` where the Keras model answers ``p``, so the quality
    monitoring reports tells which of the two files was run.
    """
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.optimization.common import tflite_convert

    tf = import_tf()
    inverted = tf.keras.Model(
        champion.model.inputs, tf.keras.layers.Lambda(lambda p: 1.0 - p)(champion.model.outputs[0])
    )
    root = tmp_path_factory.mktemp("both_formats")
    shutil.copy(champion.model_dir / KERAS_FILE, root / KERAS_FILE)
    (root / TFLITE_FILE).write_bytes(tflite_convert(inverted))
    return root


def test_a_directory_with_both_files_is_monitored_through_tflite(champion, both_formats, tmp_path):
    window = champion.reference.sample(200, random_state=0).reset_index(drop=True)
    cur, ref = tmp_path / "current.parquet", tmp_path / "reference.parquet"
    window.to_parquet(cur, index=False)
    champion.reference.to_parquet(ref, index=False)

    result = run_monitoring(
        str(cur),
        str(ref),
        str(both_formats),
        str(champion.preprocessor_path),
        baseline_json=json.dumps(champion.baseline),
        result_path=str(tmp_path / "result.json"),
        latency_samples=5,
    )
    assert result.model == {"kind": "tflite", "file": str(both_formats / TFLITE_FILE)}
    # The inverted TFLite model was scored, not the good Keras one beside it.
    assert result.metrics["accuracy"] < 0.2
    assert result.level_name == "critical" and result.retrain is True
    assert result.latency["source"] == "measured" and result.latency["samples"] == 5
    stored = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert stored["model"]["kind"] == "tflite"


def test_served_probabilities_are_the_interpreters(champion, both_formats):
    served = load_served(str(both_formats))
    assert served.kind == "tflite" and isinstance(served.model, TFLiteModel)
    x = champion.preprocessor.transform_features(champion.reference.head(50))
    proba = probabilities(served, x, 2)
    raw = TFLiteModel(both_formats / TFLITE_FILE)(x).reshape(-1)
    assert proba[:, 1] == pytest.approx(raw, abs=1e-6)
    assert proba.sum(axis=1) == pytest.approx(1.0)
    keras_only = load_served(str(both_formats), backend="keras")
    assert keras_only.kind == "keras"
