"""MLflow tracking of a study: one parent run per tuning call, one nested run per trial."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from kfp_mlops.components.common.errors import ServiceUnavailableError
from kfp_mlops.components.common.http import probe

if TYPE_CHECKING:
    from kfp_mlops.components.training.tune_hyperparameters.result import TuneResult

_PROBE_TIMEOUT_S = 3.0


def check_tracking_uri(tracking_uri: str) -> None:
    """Fail fast when an HTTP MLflow tracking server cannot be reached.

    Raises:
        ServiceUnavailableError: If the server does not answer within a few seconds.
    """
    if tracking_uri.startswith(("http://", "https://")):
        # Any answer, even an error status, means it is up; MLflow reports API errors itself.
        found = probe(tracking_uri, ("/health",), _PROBE_TIMEOUT_S)
        if not found.answered:
            raise ServiceUnavailableError(
                f"the MLflow tracking server {tracking_uri} is unreachable ({found.detail})",
                "start it or fix tracking_uri (check the Service name and port), "
                "or leave tracking_uri empty to skip MLflow logging",
            )
    elif tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)


class Tracker:
    """One parent MLflow run per tuning call and one nested run per trial.

    Args:
        tracking_uri: MLflow tracking URI.
        experiment_name: Experiment of the runs (created when missing).
        run_name: Name of the parent run.
    """

    def __init__(self, tracking_uri: str, experiment_name: str, run_name: str) -> None:
        from mlflow.tracking import MlflowClient

        from kfp_mlops.components.registry.common import experiment_id

        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.experiment_id = experiment_id(self.client, experiment_name)
        self.parent_id = self.client.create_run(self.experiment_id, run_name=run_name).info.run_id

    def log(
        self, run_id: str, params: dict | None = None, metrics: dict | None = None, step: int = 0
    ) -> None:
        """Log params and metrics (at ``step``) to a run in one batch."""
        from mlflow.entities import Metric, Param

        now = time.time_ns() // 1_000_000
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, step) for k, v in (metrics or {}).items()],
            params=[Param(k, str(v)) for k, v in (params or {}).items()],
        )

    def start_trial(self, number: int) -> str:
        """Start the nested run of trial ``number``; return its run id."""
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"trial-{number}",
            tags={"mlflow.parentRunId": self.parent_id, "optuna.trial_number": str(number)},
        )
        return run.info.run_id

    def end_run(self, run_id: str, state: str) -> None:
        """End a trial's run, tagged with its Optuna state (COMPLETE, PRUNED or FAIL)."""
        self.client.set_tag(run_id, "optuna.state", state)
        self.client.set_terminated(run_id, "FAILED" if state == "FAIL" else "FINISHED")

    def finish(self, result: TuneResult) -> None:
        """Log the best parameters (``best_<name>``) and summary metrics; end the parent run."""
        metrics = {
            "best_value": result.best_value,
            "n_trials": result.n_trials_total,
            "n_complete": result.n_complete,
            "n_pruned": result.n_pruned,
        }
        params = {f"best_{k}": v for k, v in result.best_params.items()}
        self.log(self.parent_id, params=params, metrics=metrics)
        self.client.set_terminated(self.parent_id, "FINISHED")

    def fail(self) -> None:
        """Mark the parent run failed (the study raised)."""
        self.client.set_terminated(self.parent_id, "FAILED")
