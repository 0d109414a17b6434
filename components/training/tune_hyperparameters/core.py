"""Hyperparameter search with Optuna: short single-process Keras fits, pruned early.

Each trial builds the shared model (:func:`build_model`) in this process and fits it for a few
epochs; a Keras callback reports validation accuracy per epoch so Optuna's ``MedianPruner`` can
stop trials that fall behind. The study lives in an RDB (a sqlite file or any SQLAlchemy URL),
so a retried task resumes it. The best parameters then drive the full distributed training
(``train_model``, Horovod).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import socket
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common import report
from kfp_mlops.components.common.errors import ComponentError, DataValidationError, ParameterError
from kfp_mlops.components.common.http import probe
from kfp_mlops.components.common.tf import import_tf
from kfp_mlops.components.training.model import (
    ACTIVATIONS,
    ModelConfig,
    build_model,
    hidden_units_from,
    loss_name,
)

log = logging.getLogger(__name__)

LABEL = "label"
#: Parameters a trial samples, in the order it samples them (the order keeps seeds reproducible).
PARAM_NAMES = ("learning_rate", "hidden_units", "dropout", "l2", "activation", "batch_size")
#: Parameters that may be ranges; the others only take ``choices``.
RANGE_PARAMS = ("learning_rate", "dropout", "l2", "batch_size")

DEFAULT_SEARCH_SPACE: dict[str, dict[str, Any]] = {
    "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
    "hidden_units": {"choices": ["32", "64,32", "128,64"]},
    "dropout": {"low": 0.0, "high": 0.4},
    "l2": {"low": 1e-6, "high": 1e-2, "log": True},
    "activation": {"choices": ["relu", "gelu"]},
    "batch_size": {"choices": [32, 64, 128]},
}

#: MedianPruner: never prune before this many trials have completed.
PRUNER_STARTUP_TRIALS = 2
#: File name of the study when ``storage`` is empty and a work dir is given.
DEFAULT_DB_NAME = "optuna-study.db"
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433, "oracle": 1521}
_CONNECT_TIMEOUT_S = 3.0
#: Seconds a database login may take (TCP, TLS, auth) before the storage is reported unreachable.
DB_CONNECT_TIMEOUT_S = 5
# SQLAlchemy driver name -> its connect() timeout keyword; drivers not named get no timeout.
_TIMEOUT_ARGS = {
    "psycopg": "connect_timeout",
    "psycopg2": "connect_timeout",
    "pg8000": "timeout",
    "mysqldb": "connect_timeout",
    "pymysql": "connect_timeout",
}
# Driver module -> the PyPI package that provides it (for the fix of a missing-driver error).
_DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pg8000": "pg8000",
    "MySQLdb": "mysqlclient",
    "pymysql": "PyMySQL",
    "pyodbc": "pyodbc",
    "oracledb": "oracledb",
}


# --------------------------------------------------------------------------------------------
# Search space
# --------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_value(name: str, value: Any) -> Any:
    """Validate one concrete value of parameter ``name``; return its canonical form."""
    if name == "hidden_units":
        if not isinstance(value, str | list | tuple):
            raise ParameterError(
                f"search_space.hidden_units choice {value!r} is not a layer list",
                'write each choice as a string like "64,32"',
            )
        units = hidden_units_from(value)
        if not units or any(u < 1 for u in units):
            raise ParameterError(
                f"search_space.hidden_units choice {value!r} has no positive layer sizes",
                'write each choice as a string like "64,32"',
            )
        return ",".join(str(u) for u in units)
    if name == "activation":
        if value not in ACTIVATIONS:
            raise ParameterError(
                f"search_space.activation choice {value!r} is not supported",
                f"use some of {list(ACTIVATIONS)}",
            )
        return value
    if name == "batch_size":
        if not _is_number(value) or int(value) != value or value < 1:
            raise ParameterError(
                f"search_space.batch_size value {value!r} is not a positive integer",
                "use e.g. 32, 64 or 128",
            )
        return int(value)
    if not _is_number(value):
        raise ParameterError(f"search_space.{name} value {value!r} is not a number", "use a float")
    value = float(value)
    if name == "learning_rate" and value <= 0:
        raise ParameterError(
            f"search_space.learning_rate value {value} is not positive", "use e.g. 1e-4..1e-2"
        )
    if name == "dropout" and not 0.0 <= value < 1.0:
        raise ParameterError(f"search_space.dropout value {value} is outside [0, 1)", "use 0..0.5")
    if name == "l2" and value < 0:
        raise ParameterError(
            f"search_space.l2 value {value} is negative", "use 0 or e.g. 1e-6..1e-2"
        )
    return value


def _normalise_spec(name: str, spec: Any) -> dict[str, Any]:
    """Validate one parameter's spec; return ``{"choices": [...]}`` or a low/high/log range."""
    if isinstance(spec, list | tuple):  # shorthand: a bare list means choices
        spec = {"choices": list(spec)}
    if not isinstance(spec, dict):
        raise ParameterError(
            f"search_space.{name} is {spec!r}",
            'give a dict: {"choices": [...]} or {"low": ..., "high": ..., "log": false}',
        )
    unknown = sorted(set(spec) - {"choices", "low", "high", "log"})
    if unknown:
        raise ParameterError(
            f"search_space.{name} has unknown keys {unknown}",
            "use either 'choices', or 'low', 'high' and optionally 'log'",
        )
    if "choices" in spec:
        if {"low", "high", "log"} & set(spec):
            raise ParameterError(
                f"search_space.{name} mixes 'choices' with 'low'/'high'/'log'",
                "give either a list of choices or a range, not both",
            )
        choices = spec["choices"]
        if not isinstance(choices, list | tuple) or not choices:
            example = DEFAULT_SEARCH_SPACE[name].get("choices", [1e-3])
            raise ParameterError(
                f"search_space.{name}.choices is empty or not a list",
                f"list at least one value, e.g. {example}",
            )
        canonical = [_check_value(name, c) for c in choices]
        return {"choices": list(dict.fromkeys(canonical))}  # drop duplicates, keep order
    if name not in RANGE_PARAMS:
        raise ParameterError(
            f"search_space.{name} must be given as choices",
            f'write e.g. {{"{name}": {{"choices": {DEFAULT_SEARCH_SPACE[name]["choices"]}}}}}',
        )
    if "low" not in spec or "high" not in spec:
        raise ParameterError(
            f"search_space.{name} needs both 'low' and 'high'",
            f'write e.g. {{"{name}": {json.dumps(DEFAULT_SEARCH_SPACE.get(name, {}))}}}',
        )
    low, high = _check_value(name, spec["low"]), _check_value(name, spec["high"])
    if low >= high:
        raise ParameterError(
            f"search_space.{name} has low={low} >= high={high}",
            "make low smaller than high, or give a single value as choices: [value]",
        )
    use_log = spec.get("log", False)
    if not isinstance(use_log, bool):
        raise ParameterError(f"search_space.{name}.log is {use_log!r}", "use true or false")
    if use_log and low <= 0:
        raise ParameterError(
            f"search_space.{name} is log-scaled but low={low} is not positive",
            "use a positive low, or set log to false",
        )
    return {"low": low, "high": high, "log": use_log}


def resolve_search_space(search_space: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Merge a user search space over :data:`DEFAULT_SEARCH_SPACE` and validate it.

    Parameters the user does not name keep their default range.

    Raises:
        ParameterError: On an unknown parameter name, ``low >= high``, empty choices, or a
            value the model cannot use.
    """
    search_space = search_space or {}
    if not isinstance(search_space, dict):
        raise ParameterError(
            f"search_space is a {type(search_space).__name__}",
            'give a JSON object, e.g. {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": true}}',
        )
    unknown = sorted(set(search_space) - set(PARAM_NAMES))
    if unknown:
        raise ParameterError(
            f"search_space names unknown parameters {unknown}", f"use only {list(PARAM_NAMES)}"
        )
    merged = {name: dict(DEFAULT_SEARCH_SPACE[name]) for name in PARAM_NAMES}
    for name, spec in search_space.items():
        merged[name] = spec
    return {name: _normalise_spec(name, merged[name]) for name in PARAM_NAMES}


def search_space_from_json(text: str) -> dict[str, Any] | None:
    """Parse the component's ``search_space_json`` parameter ("" means the default space)."""
    if not text or not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParameterError(
            f"search_space_json is not valid JSON: {exc}",
            'write e.g. {"hidden_units": {"choices": ["32", "64,32"]}}',
        ) from exc
    resolve_search_space(value)  # fail before any data is read
    return value


def _suggest(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name in PARAM_NAMES:
        spec = space[name]
        if "choices" in spec:
            params[name] = trial.suggest_categorical(name, spec["choices"])
        elif name == "batch_size":
            params[name] = trial.suggest_int(name, spec["low"], spec["high"], log=spec["log"])
        else:
            params[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec["log"])
    return params


def _canonical_params(params: dict[str, Any]) -> dict[str, Any]:
    """Best params in the shape ``train_model`` reads (hidden_units as ``"64,32"``)."""
    return {
        "learning_rate": float(params["learning_rate"]),
        "hidden_units": ",".join(str(u) for u in hidden_units_from(params["hidden_units"])),
        "dropout": float(params["dropout"]),
        "l2": float(params["l2"]),
        "activation": str(params["activation"]),
        "batch_size": int(params["batch_size"]),
    }


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass
class _Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int
    feature_names: list[str]


def prepare_data(train: pd.DataFrame, validation: pd.DataFrame) -> _Data:
    """Check the split datasets and turn them into float32 features and int labels.

    Raises:
        DataValidationError: On empty frames, a missing or non-integer ``label`` column, fewer
            than two classes, mismatched or non-numeric feature columns, or missing values.
    """
    for name, frame in (("train", train), ("validation", validation)):
        if frame is None or len(frame) == 0:
            raise DataValidationError(
                f"the {name} dataset has no rows", "check the upstream split_and_preprocess task"
            )
        if LABEL not in frame.columns:
            raise DataValidationError(
                f"the {name} dataset has no '{LABEL}' column (columns: {list(frame.columns)[:8]})",
                "feed the output of split_and_preprocess, which adds an int 'label' 0..n-1",
            )
        if frame[LABEL].isna().any() or not pd.api.types.is_integer_dtype(frame[LABEL]):
            raise DataValidationError(
                f"the {name} '{LABEL}' column ({frame[LABEL].dtype}) has missing or non-int values",
                "encode the classes as integers 0..n-1 (split_and_preprocess does)",
            )
    features = [c for c in train.columns if c != LABEL]
    if not features:
        raise DataValidationError("the train dataset has no feature columns", "keep the features")
    missing = [c for c in features if c not in validation.columns]
    if missing:
        raise DataValidationError(
            f"the validation dataset lacks feature columns {missing[:8]}",
            "split train and validation with the same preprocessor",
        )
    non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(train[c])]
    if non_numeric:
        raise DataValidationError(
            f"feature columns {non_numeric[:8]} are not numeric",
            "one-hot encode and scale them first (split_and_preprocess)",
        )
    x_train = train[features].to_numpy(dtype="float32")
    x_val = validation[features].to_numpy(dtype="float32")
    for name, x in (("train", x_train), ("validation", x_val)):
        if not np.isfinite(x).all():
            raise DataValidationError(
                f"the {name} features have {int((~np.isfinite(x)).sum())} missing/infinite values",
                "impute them before tuning (split_and_preprocess)",
            )
    y_train = train[LABEL].to_numpy(dtype="int64")
    y_val = validation[LABEL].to_numpy(dtype="int64")
    classes = np.unique(y_train)
    if len(classes) < 2:
        raise DataValidationError(
            f"the train labels have {len(classes)} class ({classes.tolist()})",
            "a classifier needs at least two classes; check the split and the source data",
        )
    if min(y_train.min(), y_val.min()) < 0:
        raise DataValidationError("labels are negative", "encode the classes as integers 0..n-1")
    num_classes = int(max(y_train.max(), y_val.max())) + 1
    return _Data(x_train, y_train, x_val, y_val, num_classes, features)


def _check_driver(url: Any, shown: str) -> None:
    """Fail when the URL's backend is unknown or its driver module is not installed."""
    import sqlalchemy

    try:
        dialect = url.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError as exc:
        raise ParameterError(
            f"the Optuna storage '{shown}' names an unknown database backend '{url.drivername}'",
            "use sqlite:///path/study.db or postgresql://user:pass@host:5432/db",
        ) from exc
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        module = exc.name or url.get_driver_name()
        package = _DRIVER_PACKAGES.get(module.split(".")[0], module)
        raise ParameterError(
            f"the Optuna storage '{shown}' needs the Python module '{module}' (the "
            f"'{url.get_driver_name()}' driver of {url.get_backend_name()}), which is not "
            "installed",
            f"use postgresql://... (the pipeline image has its driver, psycopg), add {package} to "
            "an image built from the pipeline image, or leave storage_url empty for a local "
            "sqlite file",
        ) from exc


def _tcp_check(host: str, port: int, what: str, fix: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S):
            return
    except OSError as exc:
        raise ParameterError(f"{what} at {host}:{port} is unreachable ({exc})", fix) from exc


def open_storage(storage: str, work_dir: str | None = None) -> tuple[Any, str]:
    """Open the Optuna storage; return it and a printable URL (password hidden).

    ``""`` uses ``<work_dir>/optuna-study.db`` (or memory when there is no work dir);
    anything else is an SQLAlchemy URL (``sqlite:///...``, ``postgresql://...``).

    Raises:
        ParameterError: On a malformed URL, an unreachable database or a missing driver.
    """
    import optuna
    import sqlalchemy
    from sqlalchemy.engine import make_url

    if not storage:
        if not work_dir:
            log.info("no storage and no work dir: the study is kept in memory (not resumable)")
            return optuna.storages.InMemoryStorage(), "memory"
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{Path(work_dir).resolve() / DEFAULT_DB_NAME}"
    try:
        url = make_url(storage)
    except sqlalchemy.exc.ArgumentError as exc:
        hidden = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", storage)  # a password, unparsed
        raise ParameterError(
            f"storage '{hidden}' is not a database URL",
            "use sqlite:///path/study.db or postgresql://user:pass@host:5432/db",
        ) from exc
    shown = url.render_as_string(hide_password=True)
    backend = url.get_backend_name()
    fix = (
        "check the host and port, that the database is running and that the pod may reach it "
        "(NetworkPolicy), or leave storage_url empty for a local sqlite file"
    )
    # A missing driver is a fault of the image that no retry fixes: report it before the network.
    _check_driver(url, shown)
    if backend == "sqlite":
        if url.database and url.database != ":memory:":
            try:
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ParameterError(
                    f"cannot create the directory of sqlite storage '{shown}': {exc}",
                    "point the URL at a writable path",
                ) from exc
    elif url.host:
        port = url.port or _DEFAULT_PORTS.get(backend)
        if port:
            _tcp_check(url.host, port, f"the Optuna storage '{shown}'", fix)
    engine_kwargs: dict[str, Any] | None = None
    if backend != "sqlite":
        engine_kwargs = {"pool_pre_ping": True}
        timeout_arg = _TIMEOUT_ARGS.get(url.get_driver_name())
        # A server that accepts TCP but never answers (a stuck proxy) would hang the task.
        if timeout_arg:
            engine_kwargs["connect_args"] = {timeout_arg: DB_CONNECT_TIMEOUT_S}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            # The heartbeat marks trials of a killed pod as failed and re-queues their params.
            rdb = optuna.storages.RDBStorage(
                storage,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=30,
                grace_period=120,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=1
                ),
            )
        except sqlalchemy.exc.SQLAlchemyError as exc:
            # The driver's own message (e.g. "timeout expired", "password authentication
            # failed") on one line, without SQLAlchemy's link; drivers never print the password.
            detail = " ".join(str(getattr(exc, "orig", None) or exc).split())
            raise ParameterError(
                f"cannot open the Optuna storage '{shown}': {detail}",
                "check the user, password and database name in the URL; " + fix,
            ) from exc
    return rdb, shown


def check_tracking_uri(tracking_uri: str) -> None:
    """Fail fast when an HTTP MLflow tracking server cannot be reached.

    Raises:
        ParameterError: If the server does not answer within a few seconds.
    """
    if tracking_uri.startswith(("http://", "https://")):
        # Any answer, even an error status, means it is up; MLflow reports API errors itself.
        found = probe(tracking_uri, ("/health",), _CONNECT_TIMEOUT_S)
        if not found.answered:
            raise ParameterError(
                f"the MLflow tracking server {tracking_uri} is unreachable ({found.detail})",
                "start it or fix tracking_uri (check the Service name and port), "
                "or leave tracking_uri empty to skip MLflow logging",
            )
    elif tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)


# --------------------------------------------------------------------------------------------
# MLflow
# --------------------------------------------------------------------------------------------


class _Tracker:
    """One parent MLflow run per :func:`tune` call and one nested run per trial."""

    def __init__(self, tracking_uri: str, experiment_name: str, run_name: str) -> None:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri)
        experiment = self.client.get_experiment_by_name(experiment_name)
        self.experiment_id = (
            experiment.experiment_id
            if experiment
            else self.client.create_experiment(experiment_name)
        )
        self.parent_id = self.client.create_run(self.experiment_id, run_name=run_name).info.run_id

    def log(
        self, run_id: str, params: dict | None = None, metrics: dict | None = None, step: int = 0
    ):
        from mlflow.entities import Metric, Param

        now = int(pd.Timestamp.now().timestamp() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, step) for k, v in (metrics or {}).items()],
            params=[Param(k, str(v)) for k, v in (params or {}).items()],
        )

    def start_trial(self, number: int) -> str:
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"trial-{number}",
            tags={"mlflow.parentRunId": self.parent_id, "optuna.trial_number": str(number)},
        )
        return run.info.run_id

    def end_run(self, run_id: str, state: str) -> None:
        self.client.set_tag(run_id, "optuna.state", state)
        self.client.set_terminated(run_id, "FAILED" if state == "FAIL" else "FINISHED")


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass
class TuneResult:
    """Outcome of a study.

    Attributes:
        best_params: learning_rate, hidden_units (``"64,32"``), dropout, l2, activation,
            batch_size of the best complete trial.
        best_value: Its validation accuracy.
        n_trials_total: Finished trials (complete + pruned) in the study, earlier runs included.
        n_complete: Complete trials.
        n_pruned: Pruned trials.
        history: One dict per finished trial: number, value, state, params, epochs,
            intermediate (validation accuracy per epoch).
        n_new_trials: Trials this call ran (fewer than asked when the study already had some).
        n_failed: Failed trials in the study.
        study_name: The Optuna study name.
        storage: The storage URL, password hidden.
        importances: Parameter importances (fANOVA), empty when they cannot be computed.
        importance_note: Why they are empty, if they are.
        mlflow_run_id: The parent MLflow run, when tracking was on.
    """

    best_params: dict[str, Any]
    best_value: float
    n_trials_total: int
    n_complete: int
    n_pruned: int
    history: list[dict[str, Any]]
    n_new_trials: int = 0
    n_failed: int = 0
    study_name: str = ""
    storage: str = ""
    importances: dict[str, float] = field(default_factory=dict)
    importance_note: str = ""
    mlflow_run_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)

    def write_best_params(self, path: str) -> None:
        """Write :attr:`best_params` as a flat JSON object (what ``train_model`` reads)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.best_params, indent=2, sort_keys=True), "utf-8")

    def write_html(self, path: str) -> None:
        """Write a self-contained report: history and importance plots, trials table."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        summary = report.table(
            [
                "study",
                "storage",
                "best validation accuracy",
                "trials",
                "complete",
                "pruned",
                "failed",
            ],
            [
                [
                    self.study_name,
                    self.storage,
                    f"{self.best_value:.4f}",
                    self.n_trials_total,
                    self.n_complete,
                    self.n_pruned,
                    self.n_failed,
                ]
            ],
        )
        best = report.table(["parameter", "value"], sorted(self.best_params.items()))

        fig, ax = plt.subplots(figsize=(6, 3.5))
        done = [h for h in self.history if h["state"] == "COMPLETE"]
        pruned = [h for h in self.history if h["state"] == "PRUNED" and h["value"] is not None]
        ax.scatter([h["number"] for h in done], [h["value"] for h in done], label="complete")
        ax.scatter(
            [h["number"] for h in pruned],
            [h["value"] for h in pruned],
            marker="x",
            color="grey",
            label="pruned (last epoch reported)",
        )
        best_so_far, running = [], -math.inf
        for h in done:
            running = max(running, h["value"])
            best_so_far.append(running)
        ax.step(
            [h["number"] for h in done], best_so_far, where="post", color="C3", label="best so far"
        )
        ax.set_xlabel("trial")
        ax.set_ylabel("validation accuracy")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="best", fontsize=8)
        history_png = report.figure_png(fig)

        fig, ax = plt.subplots(figsize=(6, 3.5))
        for h in self.history:
            if h["intermediate"]:
                style = "-" if h["state"] == "COMPLETE" else ":"
                ax.plot(range(1, len(h["intermediate"]) + 1), h["intermediate"], style, alpha=0.7)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy")
        ax.set_title("per-epoch validation accuracy (dotted: pruned)", fontsize=9)
        curves_png = report.figure_png(fig)

        if self.importances:
            fig, ax = plt.subplots(figsize=(6, 3))
            names = list(self.importances)[::-1]
            ax.barh(names, [self.importances[n] for n in names])
            ax.set_xlabel("importance (fANOVA, normalised)")
            importance_html = report.figure_png(fig)
        else:
            importance_html = f"<p>{report.escape(self.importance_note)}</p>"

        rows = [
            [
                h["number"],
                h["state"],
                "" if h["value"] is None else f"{h['value']:.4f}",
                h["epochs"],
                *(h["params"].get(name, "") for name in PARAM_NAMES),
            ]
            for h in self.history
        ]
        trials = report.table(["trial", "state", "value", "epochs", *PARAM_NAMES], rows)
        body = (
            f"{summary}<h2>Best parameters</h2>{best}"
            f"<h2>Optimization history</h2><div class='grid'>{history_png}{curves_png}</div>"
            f"<h2>Parameter importances</h2>{importance_html}"
            f"<h2>Trials</h2>{trials}"
        )
        report.write(path, f"Hyperparameter tuning: {self.study_name}", body)


def _history(study: Any) -> list[dict[str, Any]]:
    from optuna.trial import TrialState

    finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return [
        {
            "number": t.number,
            "value": None if t.value is None else float(t.value),
            "state": t.state.name,
            "params": dict(t.params),
            "epochs": len(t.intermediate_values),
            "intermediate": [
                float(t.intermediate_values[k]) for k in sorted(t.intermediate_values)
            ],
        }
        for t in study.trials
        if t.state in finished
    ]


def _importances(study: Any, n_complete: int) -> tuple[dict[str, float], str]:
    import optuna

    if n_complete < 2:
        return (
            {},
            f"Parameter importances need at least 2 complete trials; this study has {n_complete}.",
        )
    try:
        values = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError) as exc:
        return {}, f"Parameter importances could not be computed: {exc}"
    values = {k: float(v) for k, v in values.items() if math.isfinite(v)}
    if not values:
        return {}, "Parameter importances are undefined (all complete trials scored the same)."
    return values, ""


# --------------------------------------------------------------------------------------------
# Tuning
# --------------------------------------------------------------------------------------------


def _configure_threads(tf: Any) -> None:
    """Small MLPs gain little from many threads; cap them so parallel pods share nodes well."""
    cores = os.cpu_count() or 1
    try:
        tf.config.threading.set_intra_op_parallelism_threads(min(cores, 4))
        tf.config.threading.set_inter_op_parallelism_threads(min(cores, 2))
    except RuntimeError:
        pass  # TensorFlow was already initialised in this process; keep its settings


def _make_callback(tf: Any, trial: Any, on_epoch: Any) -> Any:
    class OptunaPruning(tf.keras.callbacks.Callback):
        """Reports val_accuracy each epoch; stops the fit when Optuna says to prune."""

        def __init__(self) -> None:
            super().__init__()
            self.pruned = False
            self.last_value = math.nan

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            self.last_value = float(logs.get("val_accuracy", math.nan))
            on_epoch(epoch, logs)
            trial.report(self.last_value, epoch)
            if trial.should_prune():
                self.pruned = True
                self.model.stop_training = True

    return OptunaPruning()


def tune(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    n_trials: int = 10,
    timeout_s: float = 0,
    storage: str = "",
    study_name: str = "kfp-mlops-tune",
    epochs_per_trial: int = 10,
    seed: int = 42,
    search_space: dict[str, Any] | None = None,
    tracking_uri: str = "",
    experiment_name: str = "kfp-mlops",
    parent_run_name: str = "tune",
    work_dir: str | None = None,
) -> TuneResult:
    """Run (or resume) an Optuna study maximising validation accuracy.

    Args:
        train: Training rows: float feature columns and an int ``label`` 0..n-1.
        validation: Validation rows with the same columns.
        n_trials: Finished (complete or pruned) trials the study should hold; trials already in
            a resumed study count, so only the rest run.
        timeout_s: Stop starting new trials after this many seconds (0: no limit).
        storage: Optuna RDB URL (``sqlite:///...``, ``postgresql://...``); ``""`` uses a sqlite
            file in ``work_dir`` (or memory when ``work_dir`` is None).
        study_name: Study name; the same name and storage resume a study.
        epochs_per_trial: Epochs of each trial's fit.
        seed: Seeds the TPE sampler and each trial's weights (``seed + trial number``).
        search_space: Overrides of :data:`DEFAULT_SEARCH_SPACE`, per parameter.
        tracking_uri: MLflow tracking URI; ``""`` disables MLflow logging.
        experiment_name: MLflow experiment.
        parent_run_name: Name of the parent MLflow run.
        work_dir: Directory for the default sqlite study file.

    Returns:
        The :class:`TuneResult`.

    Raises:
        ParameterError: On bad parameters, search space, storage or tracking server.
        DataValidationError: On unusable datasets.
    """
    if not isinstance(n_trials, int) or n_trials < 1:
        raise ParameterError(f"n_trials is {n_trials}", "use at least 1 (e.g. 20)")
    if timeout_s is None or timeout_s < 0:
        raise ParameterError(f"timeout_s is {timeout_s}", "use 0 for no limit or a positive number")
    if epochs_per_trial < 1:
        raise ParameterError(f"epochs_per_trial is {epochs_per_trial}", "use at least 1 (e.g. 10)")
    if not study_name:
        raise ParameterError("study_name is empty", "name the study, e.g. kfp-mlops-tune")
    space = resolve_search_space(search_space)
    data = prepare_data(train, validation)
    if tracking_uri:
        check_tracking_uri(tracking_uri)
    rdb, shown_storage = open_storage(storage, work_dir)

    import optuna
    from optuna.trial import TrialState

    study = optuna.create_study(
        storage=rdb,
        study_name=study_name,
        direction="maximize",
        load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=PRUNER_STARTUP_TRIALS,
            # about the first third of the epochs is too noisy to judge a trial by, at most 2
            n_warmup_steps=min(2, epochs_per_trial // 3),
        ),
    )
    existing = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    remaining = n_trials - len(existing)
    # Re-seed past the trials already drawn so a resumed study does not repeat their params.
    study.sampler = optuna.samplers.TPESampler(
        seed=seed + len(study.trials), n_startup_trials=max(2, min(10, n_trials // 2))
    )
    log.info(
        "study '%s' in %s: %d finished trials, running %d more",
        study_name,
        shown_storage,
        len(existing),
        max(remaining, 0),
    )

    tracker = _Tracker(tracking_uri, experiment_name, parent_run_name) if tracking_uri else None
    if tracker:
        tracker.log(
            tracker.parent_id,
            params={
                "study_name": study_name,
                "storage": shown_storage,
                "n_trials": n_trials,
                "epochs_per_trial": epochs_per_trial,
                "seed": seed,
                "search_space": json.dumps(space)[:6000],
            },
        )

    def objective(trial: Any) -> float:
        params = _suggest(trial, space)
        run_id = tracker.start_trial(trial.number) if tracker else ""
        if tracker:
            tracker.log(run_id, params=params)
        state = "FAIL"
        try:
            config = ModelConfig(
                hidden_units=hidden_units_from(params["hidden_units"]),
                activation=params["activation"],
                dropout=params["dropout"],
                l2=params["l2"],
            )
            tf.keras.backend.clear_session()
            tf.keras.utils.set_random_seed(seed + trial.number)
            model = build_model(len(data.feature_names), data.num_classes, config)
            model.compile(
                optimizer=tf.keras.optimizers.Adam(learning_rate=params["learning_rate"]),
                loss=loss_name(data.num_classes),
                metrics=["accuracy"],
            )

            def on_epoch(epoch: int, logs: dict) -> None:
                if tracker:
                    metrics = {k: v for k, v in logs.items() if math.isfinite(float(v))}
                    tracker.log(run_id, metrics=metrics, step=epoch)

            callback = _make_callback(tf, trial, on_epoch)
            model.fit(
                data.x_train,
                data.y_train,
                validation_data=(data.x_val, data.y_val),
                epochs=epochs_per_trial,
                batch_size=params["batch_size"],
                verbose=0,
                callbacks=[callback],
            )
            value = callback.last_value
            if tracker and math.isfinite(value):
                tracker.log(run_id, metrics={"value": value}, step=epochs_per_trial)
            if callback.pruned:
                state = "PRUNED"
                raise optuna.TrialPruned(f"val_accuracy {value:.4f} below the median")
            if not math.isfinite(value):
                raise ComponentError(
                    f"trial {trial.number} produced no validation accuracy",
                    "check that the validation set has rows and finite features",
                )
            state = "COMPLETE"
            return value
        finally:
            if tracker:
                tracker.end_run(run_id, state)

    tf: Any = None
    try:
        if remaining > 0:
            tf = import_tf()
            _configure_threads(tf)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                # MaxTrialsCallback also stops this worker when parallel workers sharing the
                # storage have together reached n_trials.
                done = optuna.study.MaxTrialsCallback(
                    n_trials, states=(TrialState.COMPLETE, TrialState.PRUNED)
                )
                study.optimize(
                    objective, n_trials=remaining, timeout=timeout_s or None, callbacks=[done]
                )
        history = _history(study)
        n_complete = sum(h["state"] == "COMPLETE" for h in history)
        n_pruned = sum(h["state"] == "PRUNED" for h in history)
        n_failed = sum(h["state"] == "FAIL" for h in history)
        if n_complete == 0:
            raise ParameterError(
                f"no trial of study '{study_name}' completed "
                f"({n_pruned} pruned, {n_failed} failed)",
                "raise timeout_s or n_trials, or widen the search space",
            )
        importances, note = _importances(study, n_complete)
        result = TuneResult(
            best_params=_canonical_params(study.best_trial.params),
            best_value=float(study.best_value),
            n_trials_total=n_complete + n_pruned,
            n_complete=n_complete,
            n_pruned=n_pruned,
            history=history,
            n_new_trials=(n_complete + n_pruned) - len(existing),
            n_failed=n_failed,
            study_name=study_name,
            storage=shown_storage,
            importances=importances,
            importance_note=note,
            mlflow_run_id=tracker.parent_id if tracker else "",
        )
    except BaseException:
        if tracker:
            tracker.client.set_terminated(tracker.parent_id, "FAILED")
        raise
    if tracker:
        tracker.log(
            tracker.parent_id,
            params={f"best_{k}": v for k, v in result.best_params.items()},
            metrics={
                "best_value": result.best_value,
                "n_trials": result.n_trials_total,
                "n_complete": result.n_complete,
                "n_pruned": result.n_pruned,
            },
        )
        tracker.client.set_terminated(tracker.parent_id, "FINISHED")
    log.info(
        "best val_accuracy %.4f after %d trials (%d pruned): %s",
        result.best_value,
        result.n_trials_total,
        result.n_pruned,
        result.best_params,
    )
    return result
