"""The MLflow calls of :func:`..core.register`: its run, the logged files and the new version."""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.model_dir import BACKGROUND_FILE, PREPROCESSOR_FILE
from kfp_mlops.components.registry import common


@contextlib.contextmanager
def registration_run(
    client: Any, experiment_name: str, tags: dict[str, str], name: str
) -> Iterator[str]:
    """Yield the id of a new registration run; FINISHED when the block succeeds, else FAILED."""
    experiment_id = common.experiment_id(client, experiment_name)
    run = client.create_run(experiment_id, tags={**tags, "mlflow.runName": f"register-{name}"})
    run_id = run.info.run_id
    try:
        yield run_id
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise


def log_model_dir(
    client: Any,
    run_id: str,
    model_dir: str,
    preprocessor_path: str | None,
    background_path: str | None,
) -> None:
    """Stage the Model directory (with the preprocessor and background) and log it as ``model/``."""
    with tempfile.TemporaryDirectory() as staging:
        staged = Path(staging) / common.MODEL_ARTIFACT_PATH
        shutil.copytree(model_dir, staged)
        if preprocessor_path:
            shutil.copyfile(preprocessor_path, staged / PREPROCESSOR_FILE)
        if background_path:
            shutil.copyfile(background_path, staged / BACKGROUND_FILE)
        client.log_artifacts(run_id, str(staged), common.MODEL_ARTIFACT_PATH)


def log_evaluation(client: Any, run_id: str, evaluation: dict[str, Any]) -> None:
    """Log the evaluation's finite numeric metrics and the whole JSON to the run."""
    for key, value in (evaluation.get("metrics") or {}).items():
        if isinstance(value, (int, float)) and math.isfinite(value):
            client.log_metric(run_id, key, float(value))
    client.log_dict(run_id, evaluation, "evaluation.json")


def create_version(
    client: Any, name: str, run_id: str, tags: dict[str, str], pipeline_run_id: str
) -> Any:
    """Create registered model ``name`` unless it exists; add the run's model as a version."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    return client.create_model_version(
        name,
        source=f"runs:/{run_id}/{common.MODEL_ARTIFACT_PATH}",
        run_id=run_id,
        tags=tags,
        description=f"Registered by pipeline run {pipeline_run_id}",
    )
