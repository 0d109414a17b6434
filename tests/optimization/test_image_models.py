"""Image models through prune and int8: the conv kernels are pruned (nested user CNNs too)
and the int8 CNN keeps its accuracy. Real tfmot and LiteRT on digits_images (8x8 PNGs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kfp_mlops.components.common.task import TaskSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "user_model"


@pytest.fixture(scope="module")
def image_splits(tmp_path_factory):
    from kfp_mlops.components.data.load_dataset.images import digits_images
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess

    result = split_and_preprocess(digits_images(), seed=0)
    folder = tmp_path_factory.mktemp("image_splits")
    for name in ("train", "validation", "test"):
        getattr(result, name).to_parquet(folder / f"{name}.parquet", index=False)
    return folder, result.preprocessor.task_spec


def _trained(folder: Path, task: TaskSpec, spec: str, out: Path) -> str:
    from kfp_mlops.components.common.artifacts import KERAS_FILE, load_xy
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.training import model_fn

    tf = import_tf()
    tf.keras.utils.set_random_seed(0)
    model = model_fn.build(model_fn.resolve(spec), task, {"hidden_units": [16, 32]}, 64)
    x, y, _ = load_xy(str(folder / "train.parquet"))
    model.compile(tf.keras.optimizers.Adam(5e-3), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x, y, epochs=12, batch_size=32, verbose=0)
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out / KERAS_FILE), include_optimizer=False)
    return str(out)


def test_image_models_take_the_flat_pixel_vector(image_splits):
    from kfp_mlops.components.training import model_fn

    _, task = image_splits
    builtin = model_fn.build(model_fn.resolve("builtin:cnn"), task, {"hidden_units": [8]}, 64)
    user = model_fn.build(model_fn.resolve(str(EXAMPLES / "small_cnn.py")), task, {}, 64)
    for model in (builtin, user):
        assert list(model.inputs[0].shape) == [None, 64] and list(model.outputs[0].shape) == [
            None,
            10,
        ]
    # The user's CNN (built on task.image_shape) sits behind a Reshape, unchanged.
    assert [type(layer).__name__ for layer in user.layers][-1] == "Functional"
    x = np.random.default_rng(0).random((3, 64), dtype=np.float32)
    inner = user.layers[-1]
    np.testing.assert_allclose(
        user(x).numpy(), inner(x.reshape(3, 8, 8, 1)).numpy(), rtol=1e-5, atol=1e-6
    )


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["builtin:cnn", "small_cnn.py"])
def test_conv_kernels_are_pruned_and_the_int8_cnn_keeps_its_accuracy(image_splits, spec, tmp_path):
    from kfp_mlops.components.common.artifacts import load_keras
    from kfp_mlops.components.optimization.common import kernel_sparsity
    from kfp_mlops.components.optimization.prune_model.core import prune
    from kfp_mlops.components.optimization.quantize_model.core import quantize

    folder, task = image_splits
    model_spec = spec if spec.startswith("builtin:") else str(EXAMPLES / spec)
    model_dir = _trained(folder, task, model_spec, tmp_path / "model")
    splits = [str(folder / f"{n}.parquet") for n in ("train", "validation", "test")]
    pruned = prune(
        model_dir,
        *splits,
        str(tmp_path / "pruned"),
        final_sparsity=0.5,
        epochs=2,
        max_accuracy_drop=5.0,
        latency_runs=20,
    )
    per_layer = pruned.metadata["layer_sparsity"]
    assert per_layer["conv_0"] == pytest.approx(0.5, abs=0.02), per_layer
    assert per_layer["conv_1"] == pytest.approx(0.5, abs=0.02), per_layer
    overall, _ = kernel_sparsity(load_keras(str(tmp_path / "pruned")))
    assert overall == pytest.approx(0.5, abs=0.02)
    assert pruned.metrics["accuracy"] > 0.85
    quantized = quantize(
        str(tmp_path / "pruned"),
        *splits,
        str(tmp_path / "int8"),
        mode="int8",
        max_accuracy_drop=2.0,
        latency_runs=20,
    )
    assert quantized.blessed and quantized.metrics["accuracy"] > 0.85
    assert quantized.metrics["size_bytes"] < quantized.metrics["float32_size_bytes"]
