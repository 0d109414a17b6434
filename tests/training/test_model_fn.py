"""The model_fn contract: resolving, building, and refusing bad model code with the fix."""

import sys
import textwrap
from pathlib import Path

import pytest

from kfp_mlops.components.common.errors import ModelCodeError
from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.training import model_fn as mf

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "user_model" / "wide_and_deep.py"
BINARY = TaskSpec.for_classes("target", ["a", "b"], [f"f{i}" for i in range(5)])
MULTI = TaskSpec.for_classes("target", ["a", "b", "c"], [f"f{i}" for i in range(5)])
REGRESSION = TaskSpec("regression", "y", feature_names=[f"f{i}" for i in range(5)])
PARAMS = {"hidden_units": [8], "dropout": 0.0, "activation": "relu", "l2": 0.0}


def module(tmp_path, body: str, name: str = "user_model.py") -> str:
    path = tmp_path / name
    path.write_text("import tensorflow as tf\n" + textwrap.dedent(body))
    return str(path)


@pytest.mark.parametrize("spec", ["builtin:mlp", "builtin:resnet_mlp"])
@pytest.mark.parametrize("task", [BINARY, MULTI, REGRESSION], ids=lambda t: t.task_type)
def test_builtin_tabular_models_fit_every_task(spec, task):
    model = mf.build(mf.resolve(spec), task, PARAMS, 5)
    assert model.outputs[0].shape[-1] == task.output_width
    assert model.outputs[0].dtype.name == "float32"


def test_builtin_cnn_fits_images_and_refuses_tables():
    images = TaskSpec(
        "multiclass", "digit", [str(i) for i in range(10)], "image", image_shape=[8, 8, 1]
    )
    model = mf.build(mf.resolve("builtin:cnn"), images, {"hidden_units": [4, 8]}, 64)
    # The flat pixel vector every step moves, reshaped to the image by the first layer.
    assert list(model.inputs[0].shape[1:]) == [64] and model.outputs[0].shape[-1] == 10
    assert list(model.get_layer("image").output.shape[1:]) == [8, 8, 1]
    with pytest.raises(ModelCodeError, match="builtin:cnn needs an image task"):
        mf.build(mf.resolve("builtin:cnn"), BINARY, PARAMS, 5)


def test_example_module_as_file_and_as_import(monkeypatch):
    by_file = mf.resolve(str(EXAMPLE))
    assert by_file.search_space is not None and by_file.loss is None
    model = mf.build(by_file, REGRESSION, PARAMS, 5)
    assert model.name == "wide_and_deep" and model.outputs[0].shape[-1] == 1
    monkeypatch.syspath_prepend(str(EXAMPLE.parent))
    by_import = mf.resolve("wide_and_deep:build_model")
    assert mf.build(by_import, MULTI, PARAMS, 5).outputs[0].shape[-1] == 3


def test_mixed_precision_output_is_cast_to_float32(tmp_path):
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    spec = module(
        tmp_path,
        """
        def build_model(task, params):
            x = tf.keras.Input(shape=(len(task.feature_names),))
            return tf.keras.Model(x, tf.keras.layers.Dense(1, activation="sigmoid")(x))
        """,
    )
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = mf.build(mf.resolve(spec), BINARY, {}, 5)
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
    assert model.outputs[0].dtype.name == "float32"
    assert model.layers[-1].name == "float32_output"


@pytest.mark.parametrize(
    ("spec_or_body", "match"),
    [
        ("builtin:transformer", "not a built-in model.*builtin:mlp"),
        ("no_such_package.models:build", "module 'no_such_package' is not importable"),
        ("json:build_model", "module 'json' .* has no function 'build_model'"),
        ("nonsense", "neither builtin:<name>"),
        ("/nowhere/model.py", "does not exist"),
        ("raise RuntimeError('boom at import')\n", "failed to import: RuntimeError: boom"),
        ("def build_model(task):\n    pass\n", r"cannot be called as build_model\(task, params\)"),
        ("def build_model(task, params):\n    return 42\n", "returned int, not a tf.keras.Model"),
        (
            "def build_model(task, params):\n    raise KeyError('units')\n",
            "raised KeyError: 'units'",
        ),
        (
            "def build_model(task, params):\n"
            "    x = tf.keras.Input(shape=(len(task.feature_names),))\n"
            "    return tf.keras.Model(x, tf.keras.layers.Dense(3)(x))\n",
            r"output shape \[None, 3\], but a binary task needs \(batch, 1\).*1 sigmoid unit",
        ),
        (
            "def build_model(task, params):\n"
            "    x = tf.keras.Input(shape=(4,))\n"
            "    return tf.keras.Model(x, tf.keras.layers.Dense(1)(x))\n",
            r"input shape is \[4\], but the data has \[5\]",
        ),
    ],
)
def test_bad_model_code_is_refused_with_the_fix(tmp_path, spec_or_body, match):
    if "\n" in spec_or_body:
        spec = module(tmp_path, spec_or_body)
    else:
        spec = spec_or_body
    with pytest.raises(ModelCodeError, match=match) as info:
        mf.build(mf.resolve(spec), BINARY, PARAMS, 5)
    assert info.value.fix and info.value.fault == "user"


def test_default_losses():
    assert mf.default_loss(BINARY) == "binary_crossentropy"
    assert mf.default_loss(MULTI) == "sparse_categorical_crossentropy"
    assert mf.default_loss(REGRESSION) == "mean_squared_error"
    assert mf.default_loss(REGRESSION, robust=True) == "huber"


def test_check_entry_point_reports_problems_as_json(tmp_path, capsys):
    import json

    request = tmp_path / "req.json"
    bad = module(tmp_path, "def build_model(task, params):\n    return None\n")
    request.write_text(
        json.dumps({"model_fn": bad, "task": BINARY.to_json(), "params": PARAMS, "num_features": 5})
    )
    assert mf.main([str(request)]) == 3
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "returned NoneType" in answer["problem"] and answer["fix"]
    sys.modules.pop("wide_and_deep", None)
