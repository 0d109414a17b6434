"""A user's own model through train_model: the example module trains a regression with two
Horovod workers in the trainer env, the saved model predicts identically in the pipeline env,
and bad model code is refused before any worker starts."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common.errors import ModelCodeError
from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess
from kfp_mlops.components.training.train_model import core

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "user_model" / "wide_and_deep.py"
pytestmark = [pytest.mark.slow, pytest.mark.trainer]


@pytest.fixture(scope="module")
def diabetes_splits(tmp_path_factory):
    from sklearn.datasets import load_diabetes

    base = tmp_path_factory.mktemp("diabetes")
    result = split_and_preprocess(load_diabetes(as_frame=True).frame, standardize_target=True)
    paths = {}
    for name in ("train", "validation", "test"):
        getattr(result, name).to_parquet(base / f"{name}.parquet", index=False)
        paths[name] = str(base / f"{name}.parquet")
    result.preprocessor.save(str(base / "preprocessor.json"))
    paths["preprocessor"] = str(base / "preprocessor.json")
    return paths


def test_example_module_trains_a_regression_with_two_workers(diabetes_splits, tmp_path):
    result = core.train(
        diabetes_splits["train"],
        diabetes_splits["validation"],
        str(tmp_path / "model"),
        curves_path=str(tmp_path / "curves.html"),
        num_workers=2,
        epochs=12,
        batch_size=32,
        learning_rate=3e-3,
        warmup_epochs=1,
        grad_accum_steps=1,
        early_stopping_patience=12,
        export_saved_model=False,
        model_fn=str(EXAMPLE),
        task_path=diabetes_splits["preprocessor"],
        timeout_s=540,
    )
    metrics = result.metrics
    assert metrics["task_type"] == "regression" and metrics["workers"] == 2
    # Standardised target: predicting the mean scores RMSE 1.0; a trained model does better.
    assert 0.3 < metrics["val_rmse"] < 0.95
    assert "val_accuracy" not in metrics
    assert result.model_metadata()["task_type"] == "regression"
    assert "val_rmse" in Path(tmp_path / "curves.html").read_text()
    described = json.loads((tmp_path / "model" / "model_config.json").read_text())
    assert described["model_fn"] == str(EXAMPLE)
    assert described["task"]["task_type"] == "regression"

    # The model saved by the trainer env (TF 2.15) predicts identically in this env (TF 2.21).
    from kfp_mlops.components.common.artifacts import load_keras

    model = load_keras(str(tmp_path / "model"))
    assert model.name == "wide_and_deep"
    probe = json.loads((tmp_path / "model" / "probe_predictions.json").read_text())
    here = model.predict(np.asarray(probe["inputs"], dtype="float32"), verbose=0)
    np.testing.assert_allclose(here, probe["outputs"], atol=1e-5)
    test = pd.read_parquet(diabetes_splits["test"])
    rmse = float(
        np.sqrt(
            np.mean(
                (
                    model.predict(test.drop(columns=["label"]).to_numpy(), verbose=0)[:, 0]
                    - test["label"]
                )
                ** 2
            )
        )
    )
    assert rmse < 0.95


def test_user_cnn_on_image_shape_trains_on_digit_images_with_two_workers(tmp_path):
    """examples/user_model/small_cnn.py takes Input(task.image_shape): the library puts a
    Reshape from the flat pixel vector in front; the nested model saved by the trainer env
    loads and predicts identically here."""
    from kfp_mlops.components.common.artifacts import load_keras
    from kfp_mlops.components.data.load_dataset.images import digits_images

    result = split_and_preprocess(digits_images(), seed=0)
    for name in ("train", "validation", "test"):
        getattr(result, name).to_parquet(tmp_path / f"{name}.parquet", index=False)
    result.preprocessor.save(str(tmp_path / "preprocessor.json"))
    trained = core.train(
        str(tmp_path / "train.parquet"),
        str(tmp_path / "validation.parquet"),
        str(tmp_path / "model"),
        num_workers=2,
        epochs=10,
        batch_size=32,
        learning_rate=5e-3,
        warmup_epochs=1,
        grad_accum_steps=1,
        early_stopping_patience=10,
        export_saved_model=False,
        model_fn=str(EXAMPLE.parent / "small_cnn.py"),
        task_path=str(tmp_path / "preprocessor.json"),
        timeout_s=540,
    )
    assert trained.metrics["workers"] == 2 and trained.metrics["num_features"] == 64
    assert trained.metrics["val_accuracy"] > 0.8
    model = load_keras(str(tmp_path / "model"))
    assert list(model.inputs[0].shape) == [None, 64]
    probe = json.loads((tmp_path / "model" / "probe_predictions.json").read_text())
    here = model.predict(np.asarray(probe["inputs"], dtype="float32"), verbose=0)
    np.testing.assert_allclose(here, probe["outputs"], atol=1e-5)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("import no_such_dependency\n", "failed to import: ModuleNotFoundError"),
        (
            "def build_model(task, params):\n"
            "    x = tf.keras.Input(shape=(len(task.feature_names),))\n"
            "    return tf.keras.Model(x, tf.keras.layers.Dense(2, activation='softmax')(x))\n",
            r"output shape \[None, 2\], but a regression task needs \(batch, 1\)",
        ),
    ],
)
def test_bad_user_code_is_refused_before_any_worker_starts(diabetes_splits, tmp_path, body, match):
    bad = tmp_path / "bad_model.py"
    bad.write_text("import tensorflow as tf\n" + body)
    with pytest.raises(ModelCodeError, match=match) as info:
        core.train(
            diabetes_splits["train"],
            diabetes_splits["validation"],
            str(tmp_path / "model"),
            num_workers=2,
            epochs=1,
            model_fn=str(bad),
            task_path=diabetes_splits["preprocessor"],
        )
    assert str(bad) in str(info.value) and info.value.fix
    logs = tmp_path / "model" / "logs"
    assert not list(logs.glob("worker_*.log")), "no Horovod worker may start"
