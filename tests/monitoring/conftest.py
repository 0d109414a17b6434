"""A tiny champion for the monitoring tests: model directory, preprocessor and baseline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.monitoring.pushgateway import pushgateway  # noqa: F401 - a fixture


@dataclass
class Champion:
    """What a monitoring run needs about the deployed model."""

    model_dir: Path
    preprocessor_path: Path
    model: Any
    preprocessor: Any
    reference: pd.DataFrame
    baseline: dict[str, float]


@pytest.fixture(scope="session")
def champion(breast_cancer: pd.DataFrame, tmp_path_factory) -> Champion:
    """A small MLP trained for a few epochs on breast_cancer's train split."""
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    from kfp_mlops.components.common.artifacts import load_keras
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess
    from kfp_mlops.components.training.model import ModelConfig, build_model, loss_name

    tf = import_tf()
    tf.keras.utils.set_random_seed(0)
    split = split_and_preprocess(breast_cancer, target_column="target", seed=42)
    x = split.train.drop(columns=["label"]).to_numpy("float32")
    y = split.train["label"].to_numpy("int64")
    model = build_model(x.shape[1], 2, ModelConfig(hidden_units=[16], dropout=0.0, l2=0.0))
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss=loss_name(2))
    model.fit(x, y, epochs=15, batch_size=32, verbose=0)

    root = tmp_path_factory.mktemp("champion")
    model_dir = root / "model"
    model_dir.mkdir()
    model.save(model_dir / "model.h5")
    proc_path = root / "preprocessor.json"
    split.preprocessor.save(str(proc_path))

    # The champion's baseline: its quality on the whole reference.
    reference = breast_cancer
    codes = split.preprocessor.encode_labels(reference["target"])
    probs = model.predict(split.preprocessor.transform_features(reference), verbose=0)
    pred = (np.asarray(probs).reshape(-1) > 0.5).astype("int64")
    baseline = {
        "accuracy": accuracy_score(codes, pred),
        "precision": precision_score(codes, pred),
        "recall": recall_score(codes, pred),
        "f1": f1_score(codes, pred),
    }
    assert baseline["accuracy"] > 0.9, baseline  # the fixture must be a usable champion
    return Champion(
        model_dir=model_dir,
        preprocessor_path=proc_path,
        model=load_keras(str(model_dir)),
        preprocessor=split.preprocessor,
        reference=reference,
        baseline={k: float(v) for k, v in baseline.items()},
    )
