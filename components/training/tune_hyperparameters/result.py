"""The outcome of a study: best parameters, trial history, importances; read from Optuna."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.training.tune_hyperparameters.search_space import canonical_params
from kfp_mlops.components.training.tune_hyperparameters.trial import PARAMS_ATTR


@dataclass
class TuneResult:
    """Outcome of a study.

    Attributes:
        best_params: The best complete trial's parameters: learning_rate, hidden_units
            (``"64,32"``), dropout, l2, activation, batch_size with the built-in space, or the
            keys a model's ``search_space`` hook returned.
        best_value: Its validation score (:attr:`metric`).
        n_trials_total: Finished trials (complete + pruned) in the study, earlier runs included.
        n_complete: Complete trials.
        n_pruned: Pruned trials.
        history: One dict per finished trial: number, value, state, params, epochs,
            intermediate (the validation metric per epoch).
        n_new_trials: Trials this call ran (fewer than asked when the study already had some).
        n_failed: Failed trials in the study.
        study_name: The Optuna study name.
        storage: The storage URL, password hidden.
        importances: Parameter importances (fANOVA), empty when they cannot be computed.
        importance_note: Why they are empty, if they are.
        mlflow_run_id: The parent MLflow run, when tracking was on.
        metric: The task's primary metric, scored on the validation split.
        direction: ``maximize`` or ``minimize`` (the study's direction).
        model_fn: The model code the trials built.
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
    metric: str = "accuracy"
    direction: str = "maximize"
    model_fn: str = "builtin:mlp"

    def objective(self) -> dict[str, Any]:
        """What was optimised: metric, split and direction."""
        return {"metric": self.metric, "split": "validation", "direction": self.direction}

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)

    def write_best_params(self, path: str) -> None:
        """Write the best parameters and what they optimise as JSON.

        ``{"best_params": {...}, "objective": {"metric", "split", "direction"},
        "best_value", "model_fn"}``; ``train_model`` reads the ``best_params`` object.
        """
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        data = {
            "best_params": self.best_params,
            "objective": self.objective(),
            "best_value": self.best_value,
            "model_fn": self.model_fn,
        }
        Path(path).write_text(json.dumps(data, indent=2, sort_keys=True), "utf-8")

    def write_html(self, path: str) -> None:
        """Write a self-contained report: history and importance plots, trials table."""
        from kfp_mlops.components.training.tune_hyperparameters.report import write_html

        write_html(self, path)


def trial_params(trial: Any) -> dict[str, Any]:
    """A trial's canonical parameters (as the objective stored them, else Optuna's own)."""
    stored = trial.user_attrs.get(PARAMS_ATTR)
    return dict(stored) if isinstance(stored, dict) else canonical_params(dict(trial.params))


def study_history(study: Any) -> list[dict[str, Any]]:
    """One dict per finished trial (complete, pruned or failed), in trial order."""
    from optuna.trial import TrialState

    finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return [
        {
            "number": t.number,
            "value": None if t.value is None else float(t.value),
            "state": t.state.name,
            "params": trial_params(t),
            "epochs": len(t.intermediate_values),
            "intermediate": [
                float(t.intermediate_values[k]) for k in sorted(t.intermediate_values)
            ],
        }
        for t in study.trials
        if t.state in finished
    ]


def param_importances(study: Any, n_complete: int) -> tuple[dict[str, float], str]:
    """Importances (fANOVA) of the study's parameters, or none and a note saying why."""
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


def result_from_study(
    study: Any, shown_storage: str, n_before: int, mlflow_run_id: str, model_fn: str
) -> TuneResult:
    """Summarise a study after its trials ran.

    Args:
        study: The Optuna study.
        shown_storage: Its storage URL, password hidden.
        n_before: Finished trials the study held before this call.
        mlflow_run_id: The parent MLflow run, or "".
        model_fn: The model code the trials built.

    Raises:
        ParameterError: If no trial of the study completed.
    """
    history = study_history(study)
    n_complete = sum(h["state"] == "COMPLETE" for h in history)
    n_pruned = sum(h["state"] == "PRUNED" for h in history)
    n_failed = sum(h["state"] == "FAIL" for h in history)
    if n_complete == 0:
        raise ParameterError(
            f"no trial of study '{study.study_name}' completed "
            f"({n_pruned} pruned, {n_failed} failed)",
            "raise timeout_s or n_trials, or widen the search space",
        )
    importances, note = param_importances(study, n_complete)
    return TuneResult(
        best_params=trial_params(study.best_trial),
        best_value=float(study.best_value),
        n_trials_total=n_complete + n_pruned,
        n_complete=n_complete,
        n_pruned=n_pruned,
        history=history,
        n_new_trials=(n_complete + n_pruned) - n_before,
        n_failed=n_failed,
        study_name=study.study_name,
        storage=shown_storage,
        importances=importances,
        importance_note=note,
        mlflow_run_id=mlflow_run_id,
        metric=study.user_attrs.get("metric", "accuracy"),
        direction=study.direction.name.lower(),
        model_fn=model_fn,
    )
