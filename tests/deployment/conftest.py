"""Real models for the deployment tests: trained in seconds, plus really broken ones.

Every model directory is a real artifact the server loads; the broken ones are broken the way
models break in practice (NaN weights, an output layer that does not match the preprocessor,
a truncated file), never through a test switch in the server.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common import crd
from tests.deployment.crds import CRD_DIR

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


@pytest.fixture(autouse=True)
def _crd_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every manifest ``deploy`` renders here is checked against KServe's published CRD.

    The variable reaches ``validate_all`` in this process and in kfp.local's task processes.
    """
    if CRD_DIR is not None:
        monkeypatch.setenv(crd.CRD_DIR_ENV, str(CRD_DIR))


@dataclass
class Models:
    """Paths of the test models and the shared preprocessor."""

    root: Path
    preprocessor: Path
    raw: pd.DataFrame  # raw rows without the target column
    classes: list[str]
    inputs: list[str]
    good: Path  # model.h5
    good_v2: Path  # model.h5, other weights
    tflite: Path  # model.tflite (float) of good
    nan: Path  # model.h5 whose outputs are NaN
    wrong_shape: Path  # model.h5 with 3 outputs for a 2-class preprocessor
    truncated: Path  # model.h5 cut in half (valid magic, unloadable)
    # The same in TFLite: these servers start in seconds (no TensorFlow import).
    tflite_v2: Path
    tflite_nan: Path
    tflite_wrong_shape: Path
    tflite_truncated: Path

    def rows(self, n: int = 5) -> list[dict]:
        """JSON-ready raw rows."""
        return json.loads(self.raw.head(n).to_json(orient="records"))


def _train(split, seed: int, epochs: int = 3):
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.training.model import ModelConfig, build_model, loss_name

    tf = import_tf()
    tf.keras.utils.set_random_seed(seed)
    features = split.preprocessor.feature_names
    model = build_model(len(features), 2, ModelConfig(hidden_units=[8], dropout=0.0))
    model.compile(optimizer="adam", loss=loss_name(2))
    model.fit(
        split.train[features].to_numpy("float32"),
        split.train["label"].to_numpy(),
        epochs=epochs,
        batch_size=64,
        verbose=0,
    )
    return model


def _save(model, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save(str(folder / "model.h5"))
    return folder


@pytest.fixture(scope="session")
def file_inputs(tmp_path_factory, breast_cancer):
    """A real preprocessor and two HDF5 model files for targets that never load the model
    (GitOps, the Kubernetes API): the fast tests need no TensorFlow."""
    import h5py

    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess

    root = tmp_path_factory.mktemp("file_inputs")
    split_and_preprocess(breast_cancer, seed=0).preprocessor.save(str(root / "preprocessor.json"))
    for i, name in enumerate(("v1", "v2")):
        (root / name).mkdir()
        with h5py.File(root / name / "model.h5", "w") as f:
            f.attrs["release"] = i
    return root, breast_cancer


@pytest.fixture(scope="session")
def models(tmp_path_factory, breast_cancer) -> Models:
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess
    from kfp_mlops.components.training.model import ModelConfig, build_model

    tf = import_tf()
    root = tmp_path_factory.mktemp("models")
    split = split_and_preprocess(breast_cancer, target_column="target", seed=0)
    pre = root / "preprocessor.json"
    split.preprocessor.save(str(pre))

    good = _save(_train(split, seed=1), root / "good")
    good_v2 = _save(_train(split, seed=2, epochs=4), root / "good_v2")

    def tflite(keras_model, name: str) -> Path:
        folder = root / name
        folder.mkdir()
        data = tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()
        (folder / "model.tflite").write_bytes(data)
        return folder

    def half(source: Path, name: str) -> Path:
        folder = root / name
        folder.mkdir()
        data = source.read_bytes()
        (folder / source.name).write_bytes(data[: len(data) // 2])
        return folder

    load = lambda path: tf.keras.models.load_model(str(path / "model.h5"), compile=False)  # noqa: E731
    keras_model = load(good)
    nan_model = tf.keras.models.clone_model(keras_model)
    nan_model.set_weights([np.full_like(w, np.nan) for w in keras_model.get_weights()])
    nan = _save(nan_model, root / "nan")
    n_features = split.preprocessor.num_features
    wrong_model = build_model(n_features, 3, ModelConfig(hidden_units=[4]))
    wrong = _save(wrong_model, root / "wrong_shape")
    tflite_dir = tflite(keras_model, "tflite")

    raw = breast_cancer.drop(columns=["target"]).head(50).reset_index(drop=True)
    return Models(
        root=root,
        preprocessor=pre,
        raw=raw,
        classes=[str(c) for c in split.preprocessor.classes],
        inputs=list(split.preprocessor.numeric_columns)
        + list(split.preprocessor.categorical_columns),
        good=good,
        good_v2=good_v2,
        tflite=tflite_dir,
        nan=nan,
        wrong_shape=wrong,
        truncated=half(good / "model.h5", "truncated"),
        tflite_v2=tflite(load(good_v2), "tflite_v2"),
        tflite_nan=tflite(nan_model, "tflite_nan"),
        tflite_wrong_shape=tflite(wrong_model, "tflite_wrong_shape"),
        tflite_truncated=half(tflite_dir / "model.tflite", "tflite_truncated"),
    )
