"""class_weight: parsed and checked before any worker starts, then applied by Keras."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.training.train_model.class_weights import label_counts, resolve

CLASSES = ["cat", "dog", "bird"]


@pytest.fixture
def imbalanced(tmp_path) -> str:
    """A shard directory of 3 files whose labels are 600 / 300 / 100 rows of classes 0/1/2."""
    from kfp_mlops.components.common.shard_writer import write_frame

    labels = np.repeat([0, 1, 2], [600, 300, 100])
    frame = pd.DataFrame({"x": np.arange(1000, dtype="float32"), "label": labels})
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    manifest = write_frame(frame, tmp_path / "train", rows_per_shard=400)
    assert len(manifest.files) == 3
    return str(tmp_path / "train")


def _task(classes=CLASSES) -> TaskSpec:
    return TaskSpec.for_classes("animal", list(classes), ["x"])


def test_balanced_is_scikit_learns_rule_counted_over_every_shard(imbalanced):
    from sklearn.utils.class_weight import compute_class_weight

    assert label_counts(imbalanced, 3).tolist() == [600, 300, 100]
    weights = resolve("balanced", _task(), imbalanced)
    labels = np.repeat([0, 1, 2], [600, 300, 100])
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    assert list(weights) == ["0", "1", "2"]
    assert np.allclose(list(weights.values()), expected)


def test_json_names_classes_as_in_the_data_or_by_code(imbalanced):
    assert resolve('{"bird": 5, "1": 2.5}', _task(), imbalanced) == {"0": 1.0, "1": 2.5, "2": 5.0}
    assert resolve("", _task(), imbalanced) == {}


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ('{"fish": 2}', r"class 'fish', which is not one of \['cat', 'dog', 'bird'\]"),
        ('{"cat": 0}', r"class_weight of 'cat' is 0, not a positive number"),
        ('{"cat": "high"}', "not a positive number"),
        ("[1, 2]", "must be a JSON object"),
        ("{cat: 2}", r"not valid JSON"),
    ],
)
def test_bad_weights_are_named_with_the_fix(imbalanced, spec, match):
    with pytest.raises(ParameterError, match=match):
        resolve(spec, _task(), imbalanced)


def test_regression_has_no_classes_to_weigh(imbalanced):
    regression = TaskSpec(task_type="regression", target_column="y", feature_names=["x"])
    with pytest.raises(ParameterError, match="regression task, which has no classes"):
        resolve("balanced", regression, imbalanced)


@pytest.mark.slow
@pytest.mark.trainer
def test_the_weights_reach_keras_in_the_horovod_workers(bc_splits, tmp_path):
    """Class 0 weighted near zero: the trained model predicts class 1 almost everywhere."""
    from kfp_mlops.components.common.artifacts import load_keras
    from kfp_mlops.components.training.train_model.core import train

    model_dir = tmp_path / "model"
    train(*bc_splits, str(model_dir), num_workers=1, epochs=8, class_weight='{"0": 0.001}')
    described = json.loads((Path(model_dir) / "model_config.json").read_text())
    assert described["class_weight"] == {"0": 0.001, "1": 1.0}
    validation = pd.read_parquet(bc_splits[1])
    model = load_keras(str(model_dir))
    x = validation.drop(columns="label").to_numpy("float32")
    predicted_one = float((model.predict(x, verbose=0).reshape(-1) > 0.5).mean())
    true_one = float(validation["label"].mean())
    # Class 1 is 37 % of the rows, and an unweighted model is ~95 % right: about 37 % ones.
    assert true_one < 0.5 and predicted_one > 0.8
