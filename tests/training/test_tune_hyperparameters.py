"""Tests of the tune_hyperparameters component: Optuna search over short Keras fits."""

import json
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common.artifacts import SplitError
from kfp_mlops.components.common.errors import (
    ModelCodeError,
    ParameterError,
    ServiceUnavailableError,
)
from kfp_mlops.components.training.hparams import TUNABLE
from kfp_mlops.components.training.tune_hyperparameters.core import tune
from kfp_mlops.components.training.tune_hyperparameters.model_code import build_params
from kfp_mlops.components.training.tune_hyperparameters.search_space import (
    PARAM_NAMES,
    canonical_params,
    resolve_search_space,
    search_space_from_json,
)
from kfp_mlops.components.training.tune_hyperparameters.storage import DEFAULT_DB_NAME

EXAMPLE_MODULE = (
    Path(__file__).resolve().parents[2] / "examples" / "user_model" / "wide_and_deep.py"
)


def _splits(df: pd.DataFrame, target: str = "target") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scaled float32 features + int64 label, as split_and_preprocess writes them."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    features = [c for c in df.columns if c != target]
    classes = sorted(df[target].astype(str).unique())
    y = df[target].astype(str).map({c: i for i, c in enumerate(classes)}).astype("int64")
    x_tr, x_va, y_tr, y_va = train_test_split(
        df[features].to_numpy(), y.to_numpy(), test_size=0.3, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(x_tr)

    def frame(x: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
        out = pd.DataFrame(scaler.transform(x).astype("float32"), columns=features)
        out["label"] = labels.astype("int64")
        return out

    return frame(x_tr, y_tr), frame(x_va, y_va)


@pytest.fixture(scope="module")
def splits(breast_cancer: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return _splits(breast_cancer)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- search space (no TensorFlow)


def test_default_search_space_has_every_parameter():
    space = resolve_search_space(None)
    assert tuple(space) == PARAM_NAMES
    assert space["learning_rate"] == {"low": 1e-4, "high": 1e-2, "log": True}
    assert space["hidden_units"] == {"choices": ["32", "64,32", "128,64"]}
    assert space["batch_size"] == {"choices": [32, 64, 128]}


def test_user_search_space_overrides_only_named_parameters():
    space = resolve_search_space(
        {"hidden_units": {"choices": ["32", [64, 32]]}, "dropout": {"low": 0.1, "high": 0.2}}
    )
    assert space["hidden_units"] == {"choices": ["32", "64,32"]}  # lists normalised to "64,32"
    assert space["dropout"] == {"low": 0.1, "high": 0.2, "log": False}
    assert space["activation"] == {"choices": ["relu", "gelu"]}  # untouched default


@pytest.mark.parametrize(
    ("space", "match"),
    [
        ({"momentum": {"low": 0.1, "high": 0.9}}, r"unknown parameters \['momentum'\]"),
        ({"learning_rate": {"low": 1e-2, "high": 1e-4}}, r"low=0.01 >= high=0.0001"),
        ({"dropout": {"low": 0.2, "high": 0.2}}, r"low=0.2 >= high=0.2"),
        ({"hidden_units": {"choices": []}}, r"choices is empty"),
        ({"activation": {"choices": ["sigmoidish"]}}, r"'sigmoidish' is not supported"),
        ({"l2": {"low": 0.0, "high": 1e-2, "log": True}}, r"log-scaled but low=0.0"),
        ({"dropout": {"low": 0.0, "high": 1.5}}, r"outside \[0, 1\)"),
        ({"hidden_units": {"low": 1, "high": 3}}, r"must be given as choices"),
        ({"batch_size": {"choices": [32, 0]}}, r"not a positive integer"),
        ({"learning_rate": {"low": 1e-4}}, r"needs both 'low' and 'high'"),
        ({"learning_rate": {"choices": [1e-3], "low": 1e-4}}, r"mixes 'choices'"),
        ({"learning_rate": {"lo": 1e-4, "high": 1e-2}}, r"unknown keys \['lo'\]"),
    ],
)
def test_bad_search_space_names_problem(space, match):
    with pytest.raises(ParameterError, match=match) as info:
        resolve_search_space(space)
    assert info.value.fix  # every error also says what to do


def test_builtin_space_samples_only_tunable_names():
    # train_model merges exactly the TUNABLE keys of best_params
    assert set(PARAM_NAMES) <= set(TUNABLE)


def test_canonical_params_types_tunable_keys_and_keeps_model_keys():
    params = canonical_params(
        {"learning_rate": 1, "hidden_units": [64, 64], "batch_size": 32.0, "embed_dim": [8, 4]}
    )
    assert params == {
        "learning_rate": 1.0,
        "hidden_units": "64,64",
        "batch_size": 32,
        "embed_dim": [8, 4],  # not a hyper-parameter: passed to the model as it is
    }
    assert isinstance(params["learning_rate"], float) and isinstance(params["batch_size"], int)
    with pytest.raises(ParameterError, match="batch_size"):
        canonical_params({"batch_size": "many"})


def test_build_params_are_what_train_model_passes():
    full = build_params({"hidden_units": "32,32", "dropout": 0.2, "embed_dim": 8}, 3, 7)
    assert full["hidden_units"] == [32, 32]  # a list, as WorkerConfig holds it
    assert (full["dropout"], full["epochs"], full["seed"], full["embed_dim"]) == (0.2, 3, 7, 8)
    assert full["learning_rate"] == 1e-3  # HyperParams' default where the trial says nothing


def test_search_space_json():
    assert search_space_from_json("") is None
    assert search_space_from_json('{"activation": ["relu"]}') == {"activation": ["relu"]}
    with pytest.raises(ParameterError, match="not valid JSON"):
        search_space_from_json("{learning_rate: 1}")
    with pytest.raises(ParameterError, match="unknown parameters"):
        search_space_from_json('{"lr": {"low": 1, "high": 2}}')


# ---------------------------------------------------------------- bad inputs (fail before training)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_trials": 0}, "n_trials is 0"),
        ({"timeout_s": -1}, "timeout_s is -1"),
        ({"epochs_per_trial": 0}, "epochs_per_trial is 0"),
        ({"storage": "not a url"}, "is not a database URL"),
    ],
)
def test_bad_parameters(splits, kwargs, match):
    train, validation = splits
    with pytest.raises(ParameterError, match=match):
        tune(train, validation, **kwargs)


def test_bad_datasets(splits):
    train, validation = splits
    with pytest.raises(SplitError, match="train set has no rows"):
        tune(train.iloc[:0], validation)
    with pytest.raises(SplitError, match="validation set has no rows"):
        tune(train, validation.iloc[:0])
    with pytest.raises(SplitError, match="no 'label' column"):
        tune(train.drop(columns="label"), validation)
    one_class = train[train["label"] == 0]
    with pytest.raises(SplitError, match="at least two classes"):
        tune(one_class, validation)
    with pytest.raises(SplitError, match="lacks feature columns"):
        tune(train, validation.drop(columns=[train.columns[0]]))


def test_unreachable_storage_is_a_clear_error(splits, tmp_path):
    train, validation = splits
    url = f"postgresql://optuna:secret@127.0.0.1:{_closed_port()}/optuna"
    with pytest.raises(ServiceUnavailableError, match="is unreachable") as info:
        tune(train, validation, storage=url, work_dir=str(tmp_path))
    assert info.value.fault == "infrastructure"
    assert "secret" not in str(info.value)  # the password is hidden
    assert "storage_url" in info.value.fix


def test_unreachable_tracking_server_is_a_clear_error(splits, tmp_path):
    train, validation = splits
    uri = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(ServiceUnavailableError, match=r"MLflow tracking server .* is unreachable"):
        tune(train, validation, tracking_uri=uri, work_dir=str(tmp_path))
    assert not (tmp_path / DEFAULT_DB_NAME).exists()  # nothing started


# ---------------------------------------------------------------- real studies (TensorFlow, slow)


@pytest.fixture(scope="module")
def tracked(splits, tmp_path_factory):
    """One small study, logged to a real MLflow sqlite store."""
    tmp = tmp_path_factory.mktemp("tune")
    tracking_uri = f"sqlite:///{tmp / 'mlflow.db'}"
    result = tune(
        *splits,
        n_trials=3,
        epochs_per_trial=2,
        tracking_uri=tracking_uri,
        experiment_name="tune-test",
        work_dir=str(tmp / "work"),
    )
    return result, tracking_uri, tmp


@pytest.mark.slow
def test_best_params_shape(tracked):
    result, _, tmp = tracked
    assert set(result.best_params) == set(PARAM_NAMES)
    params = result.best_params
    assert params["hidden_units"] in {"32", "64,32", "128,64"}
    assert params["batch_size"] in {32, 64, 128}
    assert params["activation"] in {"relu", "gelu"}
    assert 1e-4 <= params["learning_rate"] <= 1e-2
    assert 0.0 <= params["dropout"] <= 0.4
    assert 1e-6 <= params["l2"] <= 1e-2
    # a scaled breast-cancer MLP beats the 63 % majority class even after 2 epochs
    assert 0.8 < result.best_value <= 1.0
    assert result.n_trials_total == 3 == result.n_complete + result.n_pruned
    assert [h["number"] for h in result.history] == [0, 1, 2]
    assert result.best_value == max(h["value"] for h in result.history if h["state"] == "COMPLETE")
    assert (tmp / "work" / DEFAULT_DB_NAME).exists()  # storage "" -> sqlite in the work dir

    assert (result.metric, result.direction) == ("accuracy", "maximize")
    out = tmp / "best" / "best_params.json"
    result.write_best_params(str(out))
    written = json.loads(out.read_text())
    assert written["best_params"] == result.best_params
    assert written["objective"] == {
        "metric": "accuracy",
        "split": "validation",
        "direction": "maximize",
    }


@pytest.mark.slow
def test_mlflow_nested_run_per_trial(tracked):
    from mlflow.tracking import MlflowClient

    result, tracking_uri, _ = tracked
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("tune-test")
    parent = client.get_run(result.mlflow_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.params["best_hidden_units"] == result.best_params["hidden_units"]
    assert parent.data.metrics["best_value"] == pytest.approx(result.best_value)

    children = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert len(children) == result.n_trials_total == 3
    by_trial = {int(r.data.tags["optuna.trial_number"]): r for r in children}
    for h in result.history:
        run = by_trial[h["number"]]
        assert run.data.tags["optuna.state"] == h["state"]
        assert run.data.params["learning_rate"] == str(h["params"]["learning_rate"])
        assert run.data.metrics["value"] == pytest.approx(h["intermediate"][-1])
        epochs = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert [m.step for m in epochs] == list(range(h["epochs"]))


@pytest.mark.slow
def test_html_report(tracked):
    result, _, tmp = tracked
    path = tmp / "report.html"
    result.write_html(str(path))
    html = path.read_text()
    assert "Optimization history" in html and "Parameter importances" in html
    assert "maximize validation accuracy (higher is better)" in html
    # history plot + per-epoch curves + importance bars, all inline
    assert html.count("data:image/png;base64,") == 3
    assert 'src="http' not in html  # self-contained: the KFP UI iframe has no network
    for h in result.history:
        assert f"<td>{h['number']}</td><td>{h['state']}</td>" in html


@pytest.mark.slow
def test_html_notes_missing_importances(tracked, tmp_path):
    import dataclasses

    result, _, _ = tracked
    first = dataclasses.replace(
        result, history=result.history[:1], importances={}, importance_note="need at least 2"
    )
    first.write_html(str(tmp_path / "r.html"))
    html = (tmp_path / "r.html").read_text()
    assert "need at least 2" in html
    assert html.count("data:image/png;base64,") == 2


@pytest.mark.slow
def test_bad_trials_are_pruned(splits, tmp_path):
    """Two good trials set the median; a learning rate too small to learn falls below it."""
    import optuna

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    good = {"hidden_units": "64,32", "dropout": 0.0, "l2": 1e-6, "activation": "relu"}
    study = optuna.create_study(storage=storage, study_name="prune", direction="maximize")
    study.enqueue_trial({**good, "learning_rate": 1e-2, "batch_size": 32})
    study.enqueue_trial({**good, "learning_rate": 5e-3, "batch_size": 32})
    study.enqueue_trial({**good, "learning_rate": 1e-6, "batch_size": 128, "dropout": 0.4})

    result = tune(
        *splits,
        n_trials=3,
        epochs_per_trial=3,
        storage=storage,
        study_name="prune",
        search_space={"learning_rate": {"low": 1e-6, "high": 1e-2, "log": True}},
    )
    states = {h["number"]: h["state"] for h in result.history}
    assert states == {0: "COMPLETE", 1: "COMPLETE", 2: "PRUNED"}
    assert result.n_pruned == 1 == sum(h["state"] == "PRUNED" for h in result.history)
    assert result.n_complete == 2 and result.n_trials_total == 3
    pruned = result.history[2]
    assert pruned["epochs"] < 3  # the fit stopped early
    assert result.best_params["learning_rate"] in (1e-2, 5e-3)


@pytest.mark.slow
def test_interrupted_study_resumes(splits, tmp_path):
    storage = f"sqlite:///{tmp_path / 'resume.db'}"
    kwargs = {"storage": storage, "study_name": "resume", "epochs_per_trial": 2}
    first = tune(*splits, n_trials=2, **kwargs)
    assert first.n_trials_total == 2 and first.n_new_trials == 2

    second = tune(*splits, n_trials=3, **kwargs)
    assert second.n_new_trials == 1
    assert second.n_trials_total == 3
    assert [h["number"] for h in second.history] == [0, 1, 2]
    assert second.history[:2] == first.history  # earlier trials kept as they were
    # the re-seeded sampler does not redraw trial 0's parameters for trial 2
    assert second.history[2]["params"] != second.history[0]["params"]

    third = tune(*splits, n_trials=3, **kwargs)  # already complete: nothing runs
    assert third.n_new_trials == 0 and third.best_value == second.best_value


@pytest.mark.slow
def test_multiclass(digits):
    train, validation = _splits(digits.sample(400, random_state=0))
    result = tune(
        train,
        validation,
        n_trials=1,
        epochs_per_trial=2,
        search_space={"hidden_units": ["64,32"], "learning_rate": [1e-2], "batch_size": [32]},
    )
    assert result.n_complete == 1
    assert result.best_params["hidden_units"] == "64,32"
    assert result.best_value > 0.3  # well above the 10 % of a ten-class guess
    assert "at least 2 complete trials" in result.importance_note


# ---------------------------------------------------------------- model_fn and regression


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Diabetes regression splits (standardised target) and the preprocessor JSON path."""
    from sklearn.datasets import load_diabetes

    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess

    result = split_and_preprocess(load_diabetes(as_frame=True).frame, standardize_target=True)
    path = tmp_path_factory.mktemp("diabetes") / "preprocessor.json"
    result.preprocessor.save(str(path))
    return result.train, result.validation, str(path)


def _module(tmp_path: Path, body: str) -> str:
    path = tmp_path / "user_model.py"
    path.write_text("import tensorflow as tf\n\n" + body, encoding="utf-8")
    return str(path)


_GOOD_BUILD = """
def build_model(task, params):
    inputs = tf.keras.Input(shape=(len(task.feature_names),))
    return tf.keras.Model(inputs, tf.keras.layers.Dense(task.output_width)(inputs))
"""


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("def make_model(task, params):\n    return None\n", r"has no function 'build_model'"),
        (
            "def build_model(task, params):\n"
            "    inputs = tf.keras.Input(shape=(len(task.feature_names),))\n"
            "    return tf.keras.Model(inputs, tf.keras.layers.Dense(3)(inputs))\n",
            r"output shape \[None, 3\].*needs \(batch, 1\)",
        ),
        (
            _GOOD_BUILD + "\ndef search_space(trial):\n    return [1, 2]\n",
            r"search_space .*not a dict",
        ),
        (
            _GOOD_BUILD + "\ndef search_space(trial):\n    return {'batch_size': 'big'}\n",
            r"search_space .*unusable values.*batch_size",
        ),
    ],
)
def test_bad_model_code_fails_before_any_trial(diabetes, tmp_path, body, match):
    train, validation, task_path = diabetes
    storage = tmp_path / "study.db"
    with pytest.raises(ModelCodeError, match=match) as info:
        tune(
            train,
            validation,
            model_fn=_module(tmp_path, body),
            task_path=task_path,
            storage=f"sqlite:///{storage}",
        )
    assert "user_model" in str(info.value)  # names the module
    assert info.value.fix
    assert not storage.exists()  # no study was created, so no trial ran


def test_search_space_json_with_a_hook_is_refused(diabetes):
    train, validation, task_path = diabetes
    with pytest.raises(ParameterError, match="has a search_space hook"):
        tune(
            train,
            validation,
            model_fn=str(EXAMPLE_MODULE),
            task_path=task_path,
            search_space={"dropout": [0.1]},
        )


def test_study_of_another_direction_is_refused(diabetes, tmp_path):
    import optuna

    train, validation, task_path = diabetes
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(storage=storage, study_name="shared", direction="maximize")
    with pytest.raises(ParameterError, match=r"optimises a metric \(maximize\).*rmse \(minimize\)"):
        tune(train, validation, task_path=task_path, storage=storage, study_name="shared")


@pytest.mark.slow
def test_regression_tune_with_the_example_module_minimises_rmse(diabetes, tmp_path):
    import optuna

    train, validation, task_path = diabetes
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    result = tune(
        train,
        validation,
        n_trials=3,
        epochs_per_trial=10,
        storage=storage,
        study_name="diabetes",
        model_fn=str(EXAMPLE_MODULE),
        task_path=task_path,
    )
    assert (result.metric, result.direction) == ("rmse", "minimize")
    study = optuna.load_study(study_name="diabetes", storage=storage)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    complete = [h["value"] for h in result.history if h["state"] == "COMPLETE"]
    assert result.best_value == min(complete) == pytest.approx(study.best_value)
    # the target is standardised: an RMSE of 1.0 is what predicting the mean scores
    assert 0.0 < result.best_value < 1.0
    # best_params hold the hook's keys (its "width" choice comes back as hidden_units)
    assert set(result.best_params) == {"learning_rate", "hidden_units", "dropout"}
    width = study.best_trial.params["width"]
    assert result.best_params["hidden_units"] == f"{width},{width}"
    assert 1e-4 <= result.best_params["learning_rate"] <= 3e-2
    # each epoch reported the validation RMSE, which is what the trial scores
    for h in result.history:
        assert h["epochs"] >= 1 and h["intermediate"][-1] == pytest.approx(h["value"])

    out = tmp_path / "best_params.json"
    result.write_best_params(str(out))
    written = json.loads(out.read_text())
    assert written["objective"] == {
        "metric": "rmse",
        "split": "validation",
        "direction": "minimize",
    }
    assert written["best_params"] == result.best_params
    assert written["model_fn"] == str(EXAMPLE_MODULE)
    result.write_html(str(tmp_path / "report.html"))
    html = (tmp_path / "report.html").read_text()
    assert "minimize validation rmse (lower is better)" in html
    assert "<th>width</th>" not in html and "<th>hidden_units</th>" in html


@pytest.mark.slow
def test_classification_with_the_task_spec_maximises_accuracy(breast_cancer, tmp_path):
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess

    split = split_and_preprocess(breast_cancer)
    task_path = tmp_path / "preprocessor.json"
    split.preprocessor.save(str(task_path))
    result = tune(
        split.train,
        split.validation,
        n_trials=2,
        epochs_per_trial=3,
        model_fn=str(EXAMPLE_MODULE),
        task_path=str(task_path),
    )
    assert (result.metric, result.direction) == ("accuracy", "maximize")
    complete = [h["value"] for h in result.history if h["state"] == "COMPLETE"]
    assert result.best_value == max(complete)
    assert 0.8 < result.best_value <= 1.0  # well above the 63 % majority class


# ---------------------------------------------------------------- kfp.local


def _local_tune(
    tmp_path: Path,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    preprocessor: str = "",
    **params,
):
    """Run the component under kfp.local on Parquet copies of the splits; return the run."""
    from typing import NamedTuple

    from kfp import dsl

    from kfp_mlops.components.training.tune_hyperparameters.component import tune_hyperparameters

    paths = {}
    for name, frame in (("train", train), ("validation", validation)):
        paths[name] = str(tmp_path / f"{name}.parquet")
        frame.to_parquet(paths[name], index=False)

    class Outputs(NamedTuple):
        best_params: dsl.Artifact
        report: dsl.HTML
        metrics: dsl.Metrics
        best_value: float

    @dsl.pipeline(name="tune-local")
    def pipeline() -> Outputs:
        tr = dsl.importer(artifact_uri=paths["train"], artifact_class=dsl.Dataset)
        va = dsl.importer(artifact_uri=paths["validation"], artifact_class=dsl.Dataset)
        if preprocessor:  # decided when the pipeline is built, not at run time
            pp = dsl.importer(artifact_uri=preprocessor, artifact_class=dsl.Model)
            params["preprocessor"] = pp.output
        task = tune_hyperparameters(train=tr.output, validation=va.output, **params)
        return Outputs(
            best_params=task.outputs["best_params"],
            report=task.outputs["report"],
            metrics=task.outputs["metrics"],
            best_value=task.outputs["Output"],
        )

    return pipeline()


@pytest.mark.slow
def test_component_kfp_local(kfp_local, splits, tmp_path):
    run = _local_tune(
        tmp_path,
        *splits,
        n_trials=2,
        epochs_per_trial=2,
        search_space_json='{"hidden_units": {"choices": ["32"]}}',
    )
    written = json.loads(Path(run.outputs["best_params"].path).read_text())
    params = written["best_params"]
    assert set(params) == set(PARAM_NAMES) and params["hidden_units"] == "32"
    assert written["objective"]["direction"] == "maximize"
    assert 0.5 < run.outputs["best_value"] <= 1.0
    html = Path(run.outputs["report"].path).read_text()
    assert "Optimization history" in html
    assert run.outputs["metrics"].metadata["n_trials"] == 2
    assert run.outputs["metrics"].metadata["best_value"] == pytest.approx(run.outputs["best_value"])
    # storage_url "" keeps the study next to best_params
    assert (Path(run.outputs["best_params"].path).parent / DEFAULT_DB_NAME).exists()


@pytest.mark.slow
def test_component_kfp_local_regression_with_user_module(kfp_local, diabetes, tmp_path):
    """The preprocessor artifact carries the regression task; the example module is tuned."""
    train, validation, task_path = diabetes
    run = _local_tune(
        tmp_path,
        train,
        validation,
        preprocessor=task_path,
        model_fn=str(EXAMPLE_MODULE),
        n_trials=2,
        epochs_per_trial=3,
    )
    written = json.loads(Path(run.outputs["best_params"].path).read_text())
    objective = {"metric": "rmse", "split": "validation", "direction": "minimize"}
    assert written["objective"] == objective
    assert set(written["best_params"]) == {"learning_rate", "hidden_units", "dropout"}
    assert run.outputs["best_value"] == pytest.approx(written["best_value"])
    assert run.outputs["best_value"] > 0  # an RMSE, in standard deviations of the target
    assert run.outputs["metrics"].metadata["best_val_rmse"] == pytest.approx(written["best_value"])
    assert run.outputs["best_params"].metadata["direction"] == "minimize"
    assert "minimize validation rmse" in Path(run.outputs["report"].path).read_text()


def test_a_bad_class_weight_is_refused_before_any_trial(splits):
    train, validation = splits
    with pytest.raises(ParameterError, match="names class 'nope', which is not one of"):
        tune(train, validation, class_weight='{"nope": 2}')


@pytest.mark.slow
def test_trials_optimise_the_class_weighted_loss(splits):
    """Class 0 weighted almost to nothing: the trial's model ignores it, so its validation
    accuracy drops to about the other class's share (the weights reach model.fit)."""
    fixed = {
        "learning_rate": {"choices": [1e-2]},
        "hidden_units": {"choices": ["32"]},
        "batch_size": {"choices": [32]},
        "dropout": {"choices": [0.0]},
    }
    kwargs = {"n_trials": 1, "epochs_per_trial": 4, "search_space": fixed}
    plain = tune(*splits, **kwargs)
    skewed = tune(*splits, class_weight='{"0": 0.0001}', **kwargs)
    # "balanced" counts the classes of the training labels (a binary task's are (n, 1)).
    assert tune(*splits, class_weight="balanced", **kwargs).best_value > 0.9
    share_of_1 = float((splits[1]["label"] == 1).mean())
    assert plain.best_value > 0.9
    assert skewed.best_value < plain.best_value - 0.1
    assert skewed.best_value == pytest.approx(share_of_1, abs=0.1)
