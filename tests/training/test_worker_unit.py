"""Unit tests of the worker's pure helpers, and of its import constraints in the trainer env."""

import subprocess

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.training.train_model import worker_data as worker


def test_shards_are_disjoint_and_cover_every_row():
    rows = np.arange(11)
    shards = [worker.shard(rows, r, 3) for r in range(3)]
    assert sorted(np.concatenate(shards).tolist()) == rows.tolist()
    assert [len(s) for s in shards] == [4, 4, 3]
    assert set(shards[0]).isdisjoint(shards[1])


def test_load_split_keeps_feature_order_and_types(tmp_path):
    frame = pd.DataFrame({"b": [1.0, 2.0], "label": [0, 1], "a": [3.0, 4.0]})
    frame.to_parquet(tmp_path / "s.parquet", index=False)
    x, y, names = worker.load_split(str(tmp_path / "s.parquet"), [])
    assert names == ["b", "a"]
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert x.tolist() == [[1.0, 3.0], [2.0, 4.0]]
    x2, _, names2 = worker.load_split(str(tmp_path / "s.parquet"), ["a", "b"])
    assert names2 == ["a", "b"] and x2[:, 0].tolist() == [3.0, 4.0]


def test_load_split_names_missing_columns(tmp_path):
    pd.DataFrame({"a": [1.0]}).to_parquet(tmp_path / "nolabel.parquet", index=False)
    with pytest.raises(ValueError, match="has no 'label' column"):
        worker.load_split(str(tmp_path / "nolabel.parquet"), [])
    pd.DataFrame({"a": [1.0], "label": [0]}).to_parquet(tmp_path / "s.parquet", index=False)
    with pytest.raises(ValueError, match=r"lacks feature columns \['zz'\]"):
        worker.load_split(str(tmp_path / "s.parquet"), ["a", "zz"])


def test_weights_digest_detects_any_difference():
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.training.model import ModelConfig, build_model

    tf = import_tf()
    tf.keras.utils.set_random_seed(1)
    model = build_model(4, 3, ModelConfig(hidden_units=[5]))
    first = worker.weights_digest(model)
    assert first == worker.weights_digest(model)
    assert first["count"] == 4 * 5 + 5 + 5 * 3 + 3
    weights = model.get_weights()
    weights[0][0, 0] += 1e-6
    model.set_weights(weights)
    assert worker.weights_digest(model)["sha256"] != first["sha256"]


@pytest.mark.trainer
def test_worker_imports_neither_kfp_nor_sklearn_in_trainer_env(trainer_python):
    code = (
        "import sys\n"
        "import kfp_mlops.components.training.train_model.worker\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'kfp', 'sklearn'})\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [trainer_python, "-c", code], check=False, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_train_dataset_passes_are_shuffled_permutations():
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    x = np.arange(12, dtype="float32").reshape(12, 1)
    y = np.arange(12, dtype="int64")
    batches = list(worker.train_dataset(tf, x, y, 4, seed=3, first_epoch=0, threads=1).take(6))
    assert all(bx.shape == (4, 1) and by.shape == (4,) for bx, by in batches)
    first, second = (np.concatenate([b[1].numpy() for b in batches[i : i + 3]]) for i in (0, 3))
    assert sorted(first.tolist()) == list(range(12)) == sorted(second.tolist())
    assert first.tolist() != second.tolist()  # reshuffled every pass
    assert all((bx.numpy()[:, 0] == by.numpy()).all() for bx, by in batches)  # rows stay paired
    again = list(worker.train_dataset(tf, x, y, 4, seed=3, first_epoch=0, threads=1).take(3))
    assert np.concatenate([b[1].numpy() for b in again]).tolist() == first.tolist()  # seeded


def test_train_dataset_tiles_a_shard_smaller_than_a_batch():
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    x = np.zeros((3, 2), dtype="float32")
    y = np.array([0, 1, 2], dtype="int64")
    batch = next(iter(worker.train_dataset(tf, x, y, 5, seed=0, first_epoch=0, threads=0)))
    assert batch[0].shape == (5, 2)
    assert set(batch[1].numpy().tolist()) <= {0, 1, 2}
