"""A layer or op an optimization cannot handle: named, then fail or pass the model through."""

from __future__ import annotations

from pathlib import Path

import pytest

from kfp_mlops.components.common.tf import import_tf
from kfp_mlops.components.optimization.prune_model.core import prune
from kfp_mlops.components.optimization.quantize_model.core import quantize
from kfp_mlops.components.optimization.record import read_record
from kfp_mlops.components.optimization.tflite import UnsupportedModelError

tf = import_tf()


@tf.keras.utils.register_keras_serializable(package="kfp_mlops_tests")
class FeatureScale(tf.keras.layers.Layer):
    """A user's layer with its own weights and no get_prunable_weights."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        return inputs * self.scale


@tf.keras.utils.register_keras_serializable(package="kfp_mlops_tests")
class PrunableScale(FeatureScale):
    """The same layer, saying which weights tfmot may prune."""

    def get_prunable_weights(self):
        return [self.scale]


def save(model, folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    model.save(str(folder / "model.h5"), include_optimizer=False)
    return str(folder)


def custom_layer_model(folder: Path, layer_class=FeatureScale) -> str:
    inputs = tf.keras.Input((30,), name="features")
    hidden = layer_class(name="feature_scale")(inputs)
    hidden = tf.keras.layers.Dense(8, activation="relu", name="dense_0")(hidden)
    outputs = tf.keras.layers.Dense(1, activation="sigmoid", name="probabilities")(hidden)
    return save(tf.keras.Model(inputs, outputs), folder)


def sin_model(folder: Path) -> str:
    """A Lambda layer 'wave' whose SIN op has no int8 kernel."""
    inputs = tf.keras.Input((30,), name="features")
    hidden = tf.keras.layers.Dense(8, name="dense_0")(inputs)
    # A Python lambda is stored in the H5 as bytecode, which load_model restores in-process.
    hidden = tf.keras.layers.Lambda(lambda t: tf.math.sin(t), name="wave")(hidden)  # noqa: PLW0108
    outputs = tf.keras.layers.Dense(1, activation="sigmoid", name="probabilities")(hidden)
    return save(tf.keras.Model(inputs, outputs), folder)


def assert_passed_through(result, model_dir: str, out: Path, step: str, named: str) -> None:
    assert result.blessed is False and result.metrics == {"skipped": 1.0}
    assert named in result.metadata["gate_reason"] and result.metadata["skipped"] is True
    assert result.metadata["fix"]
    assert (out / "model.h5").read_bytes() == (Path(model_dir) / "model.h5").read_bytes()
    assert not (out / "model.tflite").exists()
    assert read_record(out)[step].startswith(f"none ({step} skipped: ")


def test_prune_names_a_custom_layer_it_cannot_wrap_and_fails_by_default(splits, tmp_path):
    model_dir = custom_layer_model(tmp_path / "in")
    with pytest.raises(UnsupportedModelError) as err:
        prune(model_dir, splits.train, splits.validation, splits.test, str(tmp_path / "out"))
    assert "pruning cannot handle layer 'feature_scale'" in str(err.value)
    assert "FeatureScale" in str(err.value) and "get_prunable_weights" in err.value.fix
    assert "gate_mode='mark'" in err.value.fix


def test_prune_with_mark_passes_a_custom_layer_model_through(splits, tmp_path):
    model_dir = custom_layer_model(tmp_path / "in")
    out = tmp_path / "out"
    result = prune(
        model_dir, splits.train, splits.validation, splits.test, str(out), gate_mode="mark"
    )
    assert_passed_through(result, model_dir, out, "pruning", "layer 'feature_scale'")


@pytest.mark.slow
def test_prune_wraps_a_custom_layer_that_names_its_prunable_weights(splits, tmp_path):
    model_dir = custom_layer_model(tmp_path / "in", PrunableScale)
    result = prune(
        model_dir, splits.train, splits.validation, splits.test, str(tmp_path / "out"),
        epochs=1, gate_mode="mark", latency_runs=5,
    )  # fmt: skip
    assert "skipped" not in result.metrics and abs(result.metrics["sparsity"] - 0.5) <= 0.02


@pytest.mark.slow
def test_quantize_names_an_unquantizable_op_with_its_layer_and_fails_by_default(splits, tmp_path):
    model_dir = sin_model(tmp_path / "in")
    with pytest.raises(UnsupportedModelError, match=r"cannot quantize op SIN \(layer 'wave'\)"):
        quantize(model_dir, splits.train, splits.validation, splits.test, str(tmp_path / "o"))


@pytest.mark.slow
def test_quantize_with_mark_passes_the_float_model_through(splits, tmp_path):
    model_dir = sin_model(tmp_path / "in")
    out = tmp_path / "out"
    result = quantize(
        model_dir, splits.train, splits.validation, splits.test, str(out), gate_mode="mark"
    )
    assert_passed_through(result, model_dir, out, "quantization", "op SIN (layer 'wave')")
    assert "float_ops='SIN'" in result.metadata["fix"]
