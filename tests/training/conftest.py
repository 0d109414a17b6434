"""Fixtures for the training tests: a loopback MLflow server and breast-cancer Parquet splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1 with a SQLite backend; yields its URL."""
    from tests.mlflow_server import start_mlflow_server, stop_mlflow_server

    url, process = start_mlflow_server(tmp_path_factory.mktemp("mlflow"))
    try:
        yield url
    finally:
        stop_mlflow_server(process)


def preprocess(frame: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Standardise features, encode `target` as int `label`, split 80/20 (the data contract)."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    features = [c for c in frame.columns if c != "target"]
    classes = sorted(frame["target"].astype(str).unique())
    x = StandardScaler().fit_transform(frame[features].to_numpy(dtype="float64")).astype("float32")
    out = pd.DataFrame(x, columns=features)
    out["label"] = (
        frame["target"]
        .astype(str)
        .map({c: i for i, c in enumerate(classes)})
        .astype("int64")
        .to_numpy()
    )
    train, val = train_test_split(out, test_size=0.2, random_state=seed, stratify=out["label"])
    return train.reset_index(drop=True), val.reset_index(drop=True)


@pytest.fixture(scope="session")
def bc_splits(breast_cancer, tmp_path_factory) -> tuple[str, str]:
    """Breast-cancer train/validation Parquet files (455 + 114 rows, 30 features, binary)."""
    base = tmp_path_factory.mktemp("bc")
    train, val = preprocess(breast_cancer)
    train.to_parquet(base / "train.parquet", index=False)
    val.to_parquet(base / "validation.parquet", index=False)
    return str(base / "train.parquet"), str(base / "validation.parquet")


@pytest.fixture(scope="session")
def bc_large_splits(breast_cancer, tmp_path_factory) -> tuple[str, str]:
    """The training split repeated 40 times (with tiny noise) so that an epoch lasts ~1 s."""
    base = tmp_path_factory.mktemp("bc_large")
    train, val = preprocess(breast_cancer)
    rng = np.random.default_rng(0)
    big = pd.concat([train] * 40, ignore_index=True)
    features = [c for c in big.columns if c != "label"]
    big[features] = (
        big[features].to_numpy() + rng.normal(0, 0.01, (len(big), len(features)))
    ).astype("float32")
    big.to_parquet(base / "train.parquet", index=False)
    val.to_parquet(base / "validation.parquet", index=False)
    return str(base / "train.parquet"), str(base / "validation.parquet")
