"""The one inference path (components/common/inference.py) the server, evaluate_model and the
optimization components share: real Keras and LiteRT models, int8 included."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pytest

from kfp_mlops.components.common import inference


def test_unknown_model_kind_names_the_kinds():
    with pytest.raises(ValueError, match="unknown model kind 'onnx' .*keras, tflite"):
        inference.load_model("onnx", "model.onnx")


def _rows(width: int, n: int) -> np.ndarray:
    return np.linspace(-2, 2, n * width, dtype="float32").reshape(n, width)


@pytest.fixture(scope="module")
def keras_model(models):
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    return tf.keras.models.load_model(str(models.good / "model.h5"), compile=False)


@pytest.mark.slow
def test_keras_and_float_tflite_agree_for_any_batch_size(models, keras_model):
    keras = inference.load_model("keras", str(models.good / "model.h5"))
    lite = inference.load_model("tflite", str(models.tflite / "model.tflite"))
    assert (keras.kind, lite.kind) == ("keras", "tflite")
    assert keras.input_width == lite.input_width == keras_model.inputs[0].shape[-1]
    x = _rows(keras.input_width, 7)
    expected = keras_model(x, training=False).numpy()
    np.testing.assert_allclose(keras(x), expected, rtol=1e-5)
    for n in (1, 7, 3, 1):  # the interpreter is resized back and forth
        np.testing.assert_allclose(lite(x[:n]), expected[:n], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(lite.predict(x, batch_size=3), expected, rtol=1e-4, atol=1e-6)
    lite.runner(x[0])()  # the timing closure runs the interpreter as set up


@pytest.mark.slow
def test_int8_model_is_quantized_and_dequantized(models, keras_model, breast_cancer):
    from kfp_mlops.components.data.split_and_preprocess.core import Preprocessor
    from kfp_mlops.components.optimization.common import tflite_convert

    pre = Preprocessor.load(str(models.preprocessor))
    x = pre.transform_features(breast_cancer.drop(columns=["target"])).astype("float32")

    content = tflite_convert(keras_model, "int8", representative=x[:100], io_type="int8")
    lite = inference.TFLiteModel(content)
    assert lite.input["dtype"] == np.int8 and lite.output["dtype"] == np.int8
    got, expected = lite(x), keras_model(x, training=False).numpy()
    assert got.dtype == np.float32
    # One int8 step of the output is 1/256 of the sigmoid's range; the error stays a few steps
    # on average (the int8 hidden layers add more than the output's rounding).
    error = np.abs(got - expected)
    assert error.mean() < 0.01 and error.max() < 0.1
    assert np.mean((got > 0.5) == (expected > 0.5)) > 0.97


@pytest.mark.slow
def test_a_fixed_batch_model_runs_row_by_row(caplog):
    """A graph that hard-codes its batch size cannot be resized: rows go one at a time."""
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    weights = np.arange(4, dtype="float32").reshape(2, 2)

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    def fixed(x):
        # Reshaping a row into a constant 2x2 pins the batch to one row.
        return tf.reshape(tf.matmul(tf.reshape(x, [2, 2]), tf.constant(weights)), [1, 4])

    content = tf.lite.TFLiteConverter.from_concrete_functions(
        [fixed.get_concrete_function()], fixed
    ).convert()
    lite = inference.TFLiteModel(content)
    x = _rows(4, 5)
    with caplog.at_level(logging.WARNING):
        got = lite(x)
    expected = np.stack([(row.reshape(2, 2) @ weights).ravel() for row in x])
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert "row by row" in caplog.text
    np.testing.assert_allclose(lite(x[:2]), got[:2], rtol=1e-6)  # stays row by row, no retry


@pytest.mark.slow
def test_a_model_with_two_outputs_is_refused():
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    def two(x):
        return {"a": x * 2.0, "b": x + 1.0}

    content = tf.lite.TFLiteConverter.from_concrete_functions(
        [two.get_concrete_function()], two
    ).convert()
    with pytest.raises(ValueError, match="1 inputs and 2 outputs; serving needs exactly one"):
        inference.TFLiteModel(content)


@pytest.mark.slow
def test_keras_thread_setting_applies_in_a_fresh_process(models, keras_model):
    """In the server process TensorFlow has run nothing yet, so the setting takes effect and
    the answers equal the model's own."""
    code = (
        "import sys, json, numpy as np\n"
        "from kfp_mlops.components.common.inference import KerasModel\n"
        "m = KerasModel.load(sys.argv[1], threads=1)\n"
        "import tensorflow as tf\n"
        "t = tf.config.threading\n"
        "x = np.linspace(-2, 2, 2 * m.input_width, dtype='float32').reshape(2, -1)\n"
        "print(json.dumps([t.get_intra_op_parallelism_threads(),"
        " t.get_inter_op_parallelism_threads(), m(x).tolist()]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(models.good / "model.h5")],
        capture_output=True,
        text=True,
        check=True,
    )
    intra, inter, got = json.loads(out.stdout.strip().splitlines()[-1])
    assert (intra, inter) == (1, 1)
    x = _rows(keras_model.inputs[0].shape[-1], 2)
    np.testing.assert_allclose(got, keras_model(x, training=False).numpy(), rtol=1e-5)


@pytest.mark.slow
def test_keras_keeps_working_when_tensorflow_already_started(models, keras_model, caplog):
    """Where TensorFlow already ran ops the thread setting cannot change: it says so, serves."""
    keras_model(np.zeros((1, keras_model.inputs[0].shape[-1]), "float32"))  # TF has run ops
    with caplog.at_level(logging.WARNING):
        model = inference.KerasModel.load(str(models.good / "model.h5"), threads=3)
    assert "keeping TensorFlow's thread settings" in caplog.text
    assert model(np.zeros((4, model.input_width), dtype="float32")).shape == (4, 1)
