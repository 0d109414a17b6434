"""training_pipeline end to end (kfp.local) on a source that is a directory of Parquet shards.

load_dataset turns the directory into a sharded dataset, split_and_preprocess writes
sharded splits, each Horovod rank streams only its own rows of them, and evaluate_model
predicts the sharded test split in batches; the model is then registered, deployed on
loopback and promoted as for a single file. The model is a user's module (the example
wide & deep network) on this binary task, trained with balanced class weights; the
deployment is followed by its alert rules.
"""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kfp_mlops.components.common import shards
from kfp_mlops.pipelines.tooling.local_runner import run_local

pytestmark = [pytest.mark.slow, pytest.mark.trainer]

MODEL = "sharded-classifier"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "user_model" / "wide_and_deep.py"
PARAMS = {
    "registered_model_name": MODEL,
    "model_fn": str(EXAMPLE),
    "class_weight": "balanced",
    "tune_trials": 1,
    "tune_epochs": 2,
    # ~400 training rows in global batches of 64 with 4 accumulated batches per update make
    # about two optimizer updates per epoch: enough epochs for the model to converge.
    "epochs": 25,
    "num_workers": 2,
    # Lenient latency limits: a loaded CI machine must not flip the verdict.
    "max_latency_p50_ms": 1e9,
    "max_latency_p95_ms": 1e9,
    "max_latency_p99_ms": 1e9,
    "canary_max_p95_ms": 1e9,
}


def _task(run, prefix):
    matches = [t for t in run.tasks if t.task == prefix or t.task.startswith(prefix + "-")]
    return matches[0] if matches else None


# The whole pipeline (tune, train, prune, quantize, evaluate, deploy) on a shared 2-core box.
@pytest.mark.timeout(2700)
def test_training_pipeline_runs_on_a_directory_of_parquet_shards(tmp_path, breast_cancer):
    from kfp_mlops.components.deployment.deploy_model.targets import stop_local

    source = tmp_path / "source"
    source.mkdir()
    # Three shards written with pyarrow, each in row groups of 64 rows.
    for i, rows in enumerate(np.array_split(np.arange(len(breast_cancer)), 3)):
        table = pa.Table.from_pandas(breast_cancer.iloc[rows], preserve_index=False)
        pq.write_table(table, source / f"part-{i:05d}.parquet", row_group_size=64)
    root = tmp_path / "root"
    params = {**PARAMS, "source": str(source), "reference_source": str(source)}
    run = run_local("training_pipeline", params, pipeline_root=str(root))
    try:
        split = _task(run, "split-and-preprocess")
        for name in ("train", "validation", "test"):
            assert shards.is_sharded(split.artifacts[name]), name  # splits are shard dirs
        rows = sum(shards.read_manifest(split.artifacts[n]).rows for n in ("train", "test"))
        assert rows < len(breast_cancer)
        train = _task(run, "train-model")
        assert train.metrics["workers"] == 2 and train.metrics["val_accuracy"] > 0.85
        written = json.loads((Path(train.artifacts["model"]) / "metrics.json").read_text())
        assert written["streaming"] is True  # each rank streamed its own rows
        described = json.loads((Path(train.artifacts["model"]) / "model_config.json").read_text())
        assert described["model_fn"] == str(EXAMPLE)
        # balanced: the rarer class (malignant, code 1) weighs more than the common one.
        weights = described["class_weight"]
        assert weights["1"] > 1.0 > weights["0"]
        assert written["train_rows"] == shards.read_manifest(split.artifacts["train"]).rows
        evaluation = _task(run, "evaluate-model")
        assert evaluation.parameters["Output"] is True
        assert evaluation.metrics["accuracy"] > 0.9
        report = json.loads(Path(evaluation.artifacts["evaluation_json"]).read_text())
        assert report["rows"] == shards.read_manifest(split.artifacts["test"]).rows
        assert _task(run, "promote-model") is not None
        rules = _task(run, "alert-rules")
        assert rules.parameters["Output"]  # the PrometheusRule's name
        text = Path(rules.artifacts["rules_file"]).read_text()
        assert f'model="{MODEL}"' in text and "ModelErrorRateHigh" in text
    finally:
        stop_local(str(root / "serving"), MODEL)
