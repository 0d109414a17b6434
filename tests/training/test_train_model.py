"""Tests of the Horovod training component: fast validation tests, then real horovodrun jobs."""

import itertools
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common.artifacts import SplitError
from kfp_mlops.components.common.errors import (
    DataLoadError,
    ParameterError,
    ServiceUnavailableError,
)
from kfp_mlops.components.training.train_model import core, launcher, preflight
from kfp_mlops.components.training.train_model.config import (
    STATE_FILE,
    WorkerConfig,
    resolve_precision,
    scheduled_lr,
)

# Small, quick settings shared by the training runs (breast cancer: 455 train rows).
FAST = {
    "epochs": 10,
    "batch_size": 64,
    "learning_rate": 3e-3,
    "warmup_epochs": 2,
    "grad_accum_steps": 2,
    "early_stopping_patience": 10,
    "export_saved_model": False,
    "timeout_s": 540,
}


def closed_port() -> int:
    """A loopback port with no listener (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- fast unit tests


@pytest.fixture
def cpu_only(monkeypatch):
    """Slots counted in CPU cores, whatever GPUs the machine has."""
    monkeypatch.delenv(launcher.SLOTS_ENV, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


def test_zero_workers_rejected(bc_splits, tmp_path, cpu_only):
    with pytest.raises(ParameterError, match="num_workers is 0; use at least 1 worker"):
        core.train(*bc_splits, tmp_path / "model", num_workers=0)
    assert not (tmp_path / "model" / "logs").exists()


def test_more_workers_than_cores_rejected(bc_splits, tmp_path, cpu_only):
    too_many = launcher.cpu_count() + 1
    with pytest.raises(ParameterError) as info:
        core.train(*bc_splits, tmp_path / "model", num_workers=too_many)
    assert f"num_workers {too_many} exceeds the {too_many - 1} CPU cores" in str(info.value)
    assert launcher.SLOTS_ENV in info.value.fix


def test_slot_override_env(monkeypatch):
    monkeypatch.setenv(launcher.SLOTS_ENV, "7")
    assert launcher.available_slots() == (7, launcher.SLOTS_ENV)


def test_cuda_visible_devices_counts_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,3")
    assert launcher.visible_gpus() == 3
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert launcher.visible_gpus() == 0


def test_unknown_precision_rejected(bc_splits, tmp_path, cpu_only):
    with pytest.raises(ParameterError, match="precision 'float8' is not supported; use one of"):
        core.train(*bc_splits, tmp_path / "model", num_workers=1, precision="float8")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"epochs": 0}, "epochs is 0"),
        (
            {"batch_size": 1, "num_workers": 2},
            "batch_size 1 (global) is smaller than num_workers 2",
        ),
        ({"grad_accum_steps": 0}, "grad_accum_steps is 0"),
        ({"activation": "sigmoidish"}, "activation 'sigmoidish' is not supported"),
        ({"dropout": 1.5}, "dropout 1.5 is outside"),
        ({"hidden_units": "64,x"}, "is not a comma-separated list"),
    ],
)
def test_bad_parameters_rejected(bc_splits, tmp_path, cpu_only, overrides, message):
    kwargs = {"num_workers": 1, **overrides}
    with pytest.raises(ParameterError) as info:
        core.train(*bc_splits, tmp_path / "model", **kwargs)
    assert message in str(info.value)


def test_empty_training_set_rejected(bc_splits, tmp_path, cpu_only):
    empty = pd.read_parquet(bc_splits[0]).iloc[:0]
    empty.to_parquet(tmp_path / "empty.parquet", index=False)
    with pytest.raises(DataLoadError, match="the training set has no rows"):
        core.train(str(tmp_path / "empty.parquet"), bc_splits[1], tmp_path / "model", num_workers=1)


def test_missing_training_file_rejected(bc_splits, tmp_path, cpu_only):
    with pytest.raises(DataLoadError, match="does not exist"):
        core.train(str(tmp_path / "nope.parquet"), bc_splits[1], tmp_path / "model", num_workers=1)


def test_labels_out_of_range_rejected(bc_splits, tmp_path, cpu_only):
    frame = pd.read_parquet(bc_splits[0])
    frame.loc[0, "label"] = 2
    frame.to_parquet(tmp_path / "train.parquet", index=False)
    with pytest.raises(SplitError) as info:
        core.train(
            str(tmp_path / "train.parquet"),
            bc_splits[1],
            tmp_path / "model",
            num_workers=1,
            num_classes=2,
        )
    assert "labels span 0..2 but must lie in 0..1 (num_classes=2)" in str(info.value)


def test_negative_labels_rejected(bc_splits, tmp_path, cpu_only):
    frame = pd.read_parquet(bc_splits[0])
    frame.loc[3, "label"] = -1
    frame.to_parquet(tmp_path / "train.parquet", index=False)
    with pytest.raises(SplitError, match="labels span -1..1"):
        core.train(str(tmp_path / "train.parquet"), bc_splits[1], tmp_path / "model", num_workers=1)


def test_single_class_rejected(bc_splits, tmp_path, cpu_only):
    frame = pd.read_parquet(bc_splits[0])
    frame["label"] = 0
    frame.to_parquet(tmp_path / "train.parquet", index=False)
    val = pd.read_parquet(bc_splits[1]).assign(label=0)
    val.to_parquet(tmp_path / "val.parquet", index=False)
    with pytest.raises(SplitError, match="1 distinct class"):
        core.train(
            str(tmp_path / "train.parquet"),
            str(tmp_path / "val.parquet"),
            tmp_path / "m",
            num_workers=1,
        )


def test_num_classes_below_two_rejected(bc_splits, tmp_path, cpu_only):
    with pytest.raises(SplitError, match="num_classes is 1"):
        core.train(*bc_splits, tmp_path / "model", num_workers=1, num_classes=1)


def test_unreachable_tracking_server_rejected_before_workers(bc_splits, tmp_path, cpu_only):
    uri = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(ServiceUnavailableError) as info:
        core.train(*bc_splits, tmp_path / "model", num_workers=1, tracking_uri=uri)
    assert f"the MLflow tracking server {uri} is unreachable" in str(info.value)
    assert "tracking_uri=''" in info.value.fix
    assert info.value.fault == "infrastructure"
    assert not (tmp_path / "model" / "logs").exists(), "no worker may start"


def test_missing_trainer_python_rejected(bc_splits, tmp_path, monkeypatch):
    monkeypatch.setenv(launcher.TRAINER_PYTHON_ENV, str(tmp_path / "no-env" / "bin" / "python"))
    with pytest.raises(ParameterError) as info:
        core.train(*bc_splits, tmp_path / "model", num_workers=1)
    assert "trainer Python" in str(info.value)
    assert "make install-trainer" in info.value.fix


def test_tracking_check_accepts_file_store_and_empty():
    preflight.check_tracking_server("")
    preflight.check_tracking_server("file:///tmp/mlruns")


def test_best_params_override_and_model_params(tmp_path):
    path = tmp_path / "best.json"
    path.write_text(
        json.dumps(
            {
                "value": 0.97,
                "params": {"learning_rate": 0.01, "hidden_units": [16], "width": 3, "epochs": 9},
            }
        )
    )
    # Tunable keys override the training parameters; a search_space hook's own keys
    # (width) reach the model's build_model; non-tunable hyper-parameters (epochs) do not.
    assert core.load_best_params(str(path)) == (
        {"learning_rate": 0.01, "hidden_units": [16]},
        {"width": 3},
    )
    path.write_text(json.dumps({"learning_rate": 0.02, "trial": 3}))
    assert core.load_best_params(str(path)) == ({"learning_rate": 0.02}, {})
    assert core.load_best_params(None) == ({}, {})
    path.write_text("[1, 2]")
    with pytest.raises(ParameterError, match="not a JSON object"):
        core.load_best_params(str(path))


def test_best_params_reach_validation(bc_splits, tmp_path, cpu_only):
    path = tmp_path / "best.json"
    path.write_text(json.dumps({"dropout": 2.0}))
    with pytest.raises(ParameterError, match="dropout 2.0 is outside"):
        core.train(*bc_splits, tmp_path / "model", num_workers=1, best_params_path=str(path))


def test_resolve_precision():
    assert resolve_precision("auto", gpu_visible=False) == "float32"
    assert resolve_precision("auto", gpu_visible=True) == "mixed_float16"
    assert resolve_precision("mixed_bfloat16", gpu_visible=False) == "mixed_bfloat16"
    with pytest.raises(ValueError, match="float8"):
        resolve_precision("float8", gpu_visible=False)


def test_lr_schedule_warms_up_then_decays():
    lrs = [
        scheduled_lr(e, 1e-3, 4, warmup_epochs=5, epochs=20, min_lr_ratio=0.01) for e in range(20)
    ]
    assert lrs[0] == pytest.approx(1e-3)  # single-worker rate at the start
    assert lrs[5] == pytest.approx(4e-3)  # peak = rate * workers after warm-up
    assert all(a < b for a, b in itertools.pairwise(lrs[:6]))
    assert all(a >= b for a, b in itertools.pairwise(lrs[5:]))
    assert lrs[-1] == pytest.approx(4e-5)
    assert scheduled_lr(0, 1e-3, 2, warmup_epochs=0, epochs=1) == pytest.approx(2e-3)


def test_worker_config_round_trip_and_rejects_typos(tmp_path):
    cfg = WorkerConfig(
        train_path="t",
        validation_path="v",
        output_dir="o",
        log_dir="l",
        checkpoint_dir="c",
        num_classes=3,
        hidden_units=[8],
    )
    cfg.write(tmp_path / "c.json")
    assert WorkerConfig.read(tmp_path / "c.json") == cfg
    with pytest.raises(ValueError, match="learning_rte"):
        WorkerConfig.from_dict({**json.loads(cfg.to_json()), "learning_rte": 1})


def test_build_command_runs_local_gloo_workers():
    cmd = launcher.build_command(
        "/e/bin/horovodrun", "/e/bin/python", 3, "/w/config.json", "/w/out"
    )
    assert cmd[:7] == [
        "/e/bin/horovodrun",
        "-np",
        "3",
        "-H",
        "localhost:3",
        "--gloo",
        "--output-filename",
    ]
    assert cmd[cmd.index("/e/bin/python") :] == [
        "/e/bin/python",
        "-m",
        launcher.WORKER_MODULE,
        "--config",
        "/w/config.json",
    ]
    # horovodrun 0.28.1 crashes on --output-filename with a single process.
    single = launcher.build_command("/e/bin/horovodrun", "/e/bin/python", 1, "/w/c.json", "/w/out")
    assert "--output-filename" not in single


def test_worker_env_pins_threads_and_path():
    env = launcher.worker_env(
        "/e/bin/python", 1, base={"PATH": "/usr/bin", "TF_USE_LEGACY_KERAS": "1"}
    )
    assert env["PATH"].split(os.pathsep)[0] == "/e/bin"
    assert env["OMP_NUM_THREADS"] == "1"
    assert env["TF_USE_LEGACY_KERAS"] == "0"
    assert int(env["HOROVOD_GLOO_TIMEOUT_SECONDS"]) >= 60


def test_worker_errors_reports_first_failure_with_its_text(tmp_path):
    (tmp_path / "error_rank1.txt").write_text(
        "Traceback (most recent call last):\n  ...\nValueError: bad shard 7\n"
    )
    (tmp_path / "error_rank0.txt").write_text("HorovodInternalError: peer went away\n")
    output = "Process 1 exit with status code 1.\nProcess name: 1\nExit code: 1\n"
    first, text = launcher.worker_errors(tmp_path, output)
    assert first == 1
    assert text.startswith("worker 1 failed with ValueError: bad shard 7\ntraceback tail:")
    assert "worker 0 failed with HorovodInternalError: peer went away" in text


def test_worker_errors_names_a_killed_worker(tmp_path):
    output = "[1]<stderr>:epoch 3\nProcess name: 1\nExit code: -9\n"
    _, text = launcher.worker_errors(tmp_path, output)
    assert "worker 1 stopped without a Python error, exit code -9 (SIGKILL" in text
    assert "epoch 3" in text


def test_write_curves_has_three_plots(tmp_path):
    history = [
        {
            "epoch": i + 1,
            "loss": 1 / (i + 1),
            "accuracy": 0.5 + i / 10,
            "val_loss": 1.0,
            "val_accuracy": 0.6,
            "lr": 1e-3,
        }
        for i in range(3)
    ]
    core.write_curves(
        str(tmp_path / "c.html"),
        history,
        {"val_accuracy": 0.6, "workers": 2},
        {"learning_rate": 1e-3},
    )
    html = (tmp_path / "c.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    assert "val_accuracy" in html and "learning_rate" in html


def test_default_checkpoint_dir_is_outside_the_model():
    assert core.default_checkpoint_dir("/p/run/task/model/") == "/p/run/task/model-checkpoints"


# --------------------------------------------------------------------------- horovod runs

slow_trainer = [pytest.mark.slow, pytest.mark.trainer]


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())


@pytest.fixture(scope="module")
def two_worker_run(bc_splits, tmp_path_factory, mlflow_server):
    """One 2-worker Gloo job with MLflow tracking and SavedModel export, shared by tests."""
    base = tmp_path_factory.mktemp("two_workers")
    params = {**FAST, "export_saved_model": True}
    result = core.train(
        *bc_splits,
        str(base / "model"),
        curves_path=str(base / "curves.html"),
        num_workers=2,
        tracking_uri=mlflow_server,
        experiment_name="test-train-model",
        **params,
    )
    return result, base


@pytest.fixture(scope="module")
def one_worker_run(bc_splits, tmp_path_factory):
    base = tmp_path_factory.mktemp("one_worker")
    return core.train(*bc_splits, str(base / "model"), num_workers=1, **FAST)


@pytest.mark.slow
@pytest.mark.trainer
def test_two_workers_end_with_identical_weights(two_worker_run):
    result, _ = two_worker_run
    assert [w["rank"] for w in result.weights] == [0, 1]
    assert result.weights[0]["sha256"] == result.weights[1]["sha256"]
    assert result.weights[0]["sum"] == result.weights[1]["sum"]
    assert result.metrics["workers"] == 2
    assert result.metrics["epochs_run"] == len(result.history) >= 3


@pytest.mark.slow
@pytest.mark.trainer
def test_two_worker_outputs_and_schedule(two_worker_run):
    result, base = two_worker_run
    model_dir = Path(result.model_dir)
    for name in (
        "model.h5",
        "history.json",
        "metrics.json",
        "model_config.json",
        "saved_model/saved_model.pb",
    ):
        assert (model_dir / name).exists(), name
    description = read_json(model_dir / "model_config.json")
    assert description["num_features"] == 30 and description["num_classes"] == 2
    assert len(description["feature_names"]) == 30
    lrs = [h["lr"] for h in result.history]
    assert lrs[0] == pytest.approx(FAST["learning_rate"])  # warm-up starts at the 1-worker rate
    assert max(lrs) == pytest.approx(2 * FAST["learning_rate"])  # peak scaled by 2 workers
    assert lrs[-1] < max(lrs)  # cosine decay
    html = (base / "curves.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    assert (Path(result.log_dir) / "worker_0.log").exists() and (
        Path(result.log_dir) / "worker_1.log"
    ).exists()
    if launcher.visible_gpus() == 0:
        assert result.metrics["precision_policy"] == "float32"  # precision="auto" on CPU


@pytest.mark.slow
@pytest.mark.trainer
def test_one_and_two_workers_reach_comparable_accuracy(two_worker_run, one_worker_run):
    two = two_worker_run[0].metrics["val_accuracy"]
    one = one_worker_run.metrics["val_accuracy"]
    assert one > 0.9 and two > 0.9
    assert abs(one - two) <= 0.05
    assert one_worker_run.metrics["workers"] == 1


@pytest.mark.slow
@pytest.mark.trainer
def test_h5_from_trainer_env_predicts_identically_in_pipeline_env(two_worker_run):
    from kfp_mlops.components.common.tf import import_tf

    result, _ = two_worker_run
    tf = import_tf()
    assert tf.__version__.startswith("2.21")
    model = tf.keras.models.load_model(str(Path(result.model_dir) / "model.h5"), compile=False)
    probe = read_json(Path(result.model_dir) / "probe_predictions.json")
    ours = model.predict(np.asarray(probe["inputs"], dtype="float32"), verbose=0)
    assert ours.shape == np.asarray(probe["outputs"]).shape
    assert np.max(np.abs(ours - np.asarray(probe["outputs"]))) <= 1e-5


@pytest.mark.slow
@pytest.mark.trainer
def test_mlflow_run_has_params_and_per_epoch_metrics(two_worker_run, mlflow_server):
    from mlflow.tracking import MlflowClient

    result, _ = two_worker_run
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("test-train-model")
    assert experiment is not None
    run = client.get_run(result.metrics["mlflow_run_id"])
    assert run.info.experiment_id == experiment.experiment_id
    assert run.data.params["workers"] == "2"
    assert float(run.data.params["learning_rate"]) == pytest.approx(FAST["learning_rate"])
    assert run.data.params["precision_policy"] == result.metrics["precision_policy"]
    val_loss = client.get_metric_history(run.info.run_id, "val_loss")
    epoch_steps = sorted({m.step for m in val_loss})
    assert epoch_steps == list(range(1, result.metrics["epochs_run"] + 1))
    assert len(client.get_metric_history(run.info.run_id, "lr")) >= result.metrics["epochs_run"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {
        "model.h5",
        "history.json",
        "metrics.json",
        "curves.html",
        "model_config.json",
    } <= artifacts


@pytest.mark.slow
@pytest.mark.trainer
def test_bfloat16_trains_with_float32_output(bc_splits, tmp_path):
    result = core.train(
        *bc_splits,
        str(tmp_path / "model"),
        num_workers=1,
        precision="mixed_bfloat16",
        **{**FAST, "epochs": 4},
    )
    assert result.metrics["precision_policy"] == "mixed_bfloat16"
    assert result.metrics["output_dtype"] == "float32"
    assert result.metrics["loss_scale"] == 0.0  # no loss scaling outside float16
    assert np.isfinite(result.metrics["val_loss"])
    assert result.metrics["val_accuracy"] > 0.8


@pytest.mark.slow
@pytest.mark.trainer
def test_float16_with_fixed_loss_scale(bc_splits, tmp_path):
    # float16 runs on CPU too (slowly): this exercises the LossScaleOptimizer wrapping.
    result = core.train(
        *bc_splits,
        str(tmp_path / "model"),
        num_workers=1,
        precision="mixed_float16",
        loss_scale=128.0,
        **{**FAST, "epochs": 3},
    )
    assert result.metrics["precision_policy"] == "mixed_float16"
    assert result.metrics["output_dtype"] == "float32"
    assert result.metrics["loss_scale"] == 128.0
    assert result.metrics["loss_scale_dynamic"] is False
    assert np.isfinite(result.metrics["val_loss"])


@pytest.mark.slow
@pytest.mark.trainer
def test_worker_crash_surfaces_the_workers_own_error(bc_splits, tmp_path):
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"this is not a parquet file at all")
    # validate_data would catch this file, so the config goes straight to the launcher:
    # the failure can only come from inside the workers.
    config = WorkerConfig(
        train_path=str(corrupt),
        validation_path=bc_splits[1],
        output_dir=str(tmp_path / "out"),
        log_dir=str(tmp_path / "logs"),
        checkpoint_dir=str(tmp_path / "ckpt"),
        num_classes=2,
        epochs=1,
    )
    with pytest.raises(launcher.TrainingError) as info:
        launcher.launch(config, 2, timeout_s=400)
    message = str(info.value)
    assert "Horovod training failed" in message
    assert f"failed with ValueError: cannot read '{corrupt}' as Parquet" in message
    assert "magic bytes" in message or "Could not open Parquet" in message  # pyarrow's own text
    assert "worker_<rank>.log" in info.value.fix
    assert (tmp_path / "logs" / "error_rank0.txt").exists()


@pytest.mark.slow
@pytest.mark.trainer
def test_killed_worker_then_resume_from_checkpoint(bc_large_splits, tmp_path):
    model_dir = tmp_path / "model"
    ckpt = tmp_path / "ckpt"
    params = {
        "num_workers": 2,
        "epochs": 10,
        "batch_size": 64,
        "learning_rate": 1e-3,
        "warmup_epochs": 1,
        "grad_accum_steps": 4,
        "early_stopping_patience": 100,
        "checkpoint_uri": str(ckpt),
        "export_saved_model": False,
        "timeout_s": 540,
    }
    failure: dict[str, BaseException] = {}

    def first_run() -> None:
        try:
            core.train(*bc_large_splits, str(model_dir), **params)
        except BaseException as exc:  # the TrainingError is what this test expects
            failure["error"] = exc

    thread = threading.Thread(target=first_run)
    thread.start()
    state_file = ckpt / STATE_FILE
    seen_epoch = 0
    deadline = time.monotonic() + 480
    while time.monotonic() < deadline and thread.is_alive():
        if state_file.exists():
            try:
                seen_epoch = read_json(state_file)["epoch"]
            except (json.JSONDecodeError, KeyError):
                seen_epoch = 0
            if seen_epoch >= 2:
                break
        time.sleep(0.05)
    assert seen_epoch >= 2, "no checkpoint for epoch >= 2 appeared"
    pid = int((model_dir / "logs" / "pid_rank1").read_text())
    os.kill(pid, signal.SIGKILL)
    thread.join(timeout=300)
    assert not thread.is_alive()
    error = failure.get("error")
    assert isinstance(error, launcher.TrainingError), error
    assert "worker 1" in str(error) and "SIGKILL" in str(error)
    assert "resumes from the last checkpoint" in error.fix

    resumed = core.train(*bc_large_splits, str(model_dir), **params)
    start = resumed.metrics["resumed_from_epoch"]
    assert start >= seen_epoch  # at most the epoch in flight was lost
    assert resumed.metrics["epochs_run"] == params["epochs"]
    assert resumed.metrics["epochs_this_run"] == params["epochs"] - start
    assert [h["epoch"] for h in resumed.history] == list(range(1, params["epochs"] + 1))
    assert resumed.weights[0]["sha256"] == resumed.weights[1]["sha256"]
    assert resumed.metrics["val_accuracy"] > 0.9
    assert (model_dir / "model.h5").exists()


@pytest.mark.slow
@pytest.mark.trainer
def test_kfp_local_run(bc_splits, kfp_local, tmp_path):
    from typing import NamedTuple

    from kfp import dsl
    from kfp.dsl import Artifact, Dataset, Output

    from kfp_mlops.components.training.train_model.component import train_model

    best = tmp_path / "best.json"
    best.write_text(json.dumps({"hidden_units": "32,16", "learning_rate": 0.003, "value": 0.9}))

    @dsl.component(base_image="python:3.11", install_kfp_package=False)
    def make_inputs(
        src_train: str,
        src_val: str,
        src_best: str,
        train: Output[Dataset],
        validation: Output[Dataset],
        best_params: Output[Artifact],
    ):
        import shutil

        shutil.copy(src_train, train.path)
        shutil.copy(src_val, validation.path)
        shutil.copy(src_best, best_params.path)
        train.metadata["num_classes"] = 2

    class Outputs(NamedTuple):
        model: dsl.Model
        metrics: dsl.Metrics
        curves: dsl.HTML

    # kfp.local passes artifacts between tasks only inside a pipeline.
    @dsl.pipeline
    def train_pipeline(src_train: str, src_val: str, src_best: str) -> Outputs:
        inputs = make_inputs(src_train=src_train, src_val=src_val, src_best=src_best)
        task = train_model(
            train=inputs.outputs["train"],
            validation=inputs.outputs["validation"],
            best_params=inputs.outputs["best_params"],
            num_workers=2,
            epochs=6,
            warmup_epochs=1,
            grad_accum_steps=1,
        )
        return Outputs(
            model=task.outputs["model"],
            metrics=task.outputs["metrics"],
            curves=task.outputs["curves"],
        )

    run = train_pipeline(src_train=bc_splits[0], src_val=bc_splits[1], src_best=str(best))
    model_dir = Path(run.outputs["model"].path)
    description = read_json(model_dir / "model_config.json")
    assert description["model_config"]["hidden_units"] == [32, 16]  # from best_params
    metrics = read_json(model_dir / "metrics.json")
    assert metrics["workers"] == 2
    assert metrics["val_accuracy"] > 0.85
    assert run.outputs["metrics"].metadata["val_accuracy"] == pytest.approx(metrics["val_accuracy"])
    assert Path(run.outputs["curves"].path).read_text().count("data:image/png") == 3
    assert Path(str(model_dir) + "-checkpoints", STATE_FILE).exists()
