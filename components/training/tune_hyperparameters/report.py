"""The HTML report of a study: summary, best parameters, history and importance plots, trials.

Self-contained (inline PNGs) because the KFP UI shows it in an iframe without network.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from kfp_mlops.components.common import report as html

if TYPE_CHECKING:
    from kfp_mlops.components.training.tune_hyperparameters.result import TuneResult


def _label(result: TuneResult) -> str:
    """How the axes and tables name the score, e.g. ``validation rmse (lower is better)``."""
    better = "higher" if result.direction == "maximize" else "lower"
    return f"validation {result.metric} ({better} is better)"


def _summary_table(result: TuneResult) -> str:
    return html.table(
        [
            *("study", "storage", "model_fn", "objective", "best value"),
            *("trials", "complete", "pruned", "failed"),
        ],
        [
            [
                result.study_name,
                result.storage,
                result.model_fn,
                f"{result.direction} {_label(result)}",
                html.fmt(result.best_value, 4, fixed=True),
                result.n_trials_total,
                result.n_complete,
                result.n_pruned,
                result.n_failed,
            ]
        ],
    )


def _history_plot(plt: Any, result: TuneResult) -> str:
    """Each trial's value (pruned ones at their last reported epoch) and the best so far."""
    history = result.history
    fig, ax = plt.subplots(figsize=(6, 3.5))
    done = [h for h in history if h["state"] == "COMPLETE"]
    pruned = [h for h in history if h["state"] == "PRUNED" and h["value"] is not None]
    ax.scatter([h["number"] for h in done], [h["value"] for h in done], label="complete")
    ax.scatter(
        [h["number"] for h in pruned],
        [h["value"] for h in pruned],
        marker="x",
        color="grey",
        label="pruned (last epoch reported)",
    )
    maximize = result.direction == "maximize"
    best_so_far, running = [], -math.inf if maximize else math.inf
    for h in done:
        running = max(running, h["value"]) if maximize else min(running, h["value"])
        best_so_far.append(running)
    ax.step([h["number"] for h in done], best_so_far, where="post", color="C3", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(_label(result))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="best", fontsize=8)
    return html.figure_png(fig)


def _curves_plot(plt: Any, result: TuneResult) -> str:
    """Per-epoch validation metric of every trial (dotted when it was not complete)."""
    history = result.history
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for h in history:
        if h["intermediate"]:
            style = "-" if h["state"] == "COMPLETE" else ":"
            ax.plot(range(1, len(h["intermediate"]) + 1), h["intermediate"], style, alpha=0.7)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation {result.metric}")
    ax.set_title(f"per-epoch validation {result.metric} (dotted: pruned)", fontsize=9)
    return html.figure_png(fig)


def _importance_section(plt: Any, result: TuneResult) -> str:
    """Importance bars, or the note saying why there are none."""
    if not result.importances:
        return f"<p>{html.escape(result.importance_note)}</p>"
    fig, ax = plt.subplots(figsize=(6, 3))
    names = list(result.importances)[::-1]
    ax.barh(names, [result.importances[n] for n in names])
    ax.set_xlabel("importance (fANOVA, normalised)")
    return html.figure_png(fig)


def _trials_table(history: list[dict[str, Any]]) -> str:
    # The built-in space's names, or a hook's: every key any trial had, in first-seen order.
    names = list(dict.fromkeys(k for h in history for k in h["params"]))
    rows = [
        [
            h["number"],
            h["state"],
            html.fmt(h["value"], 4, fixed=True, missing=""),
            h["epochs"],
            *(h["params"].get(name, "") for name in names),
        ]
        for h in history
    ]
    return html.table(["trial", "state", "value", "epochs", *names], rows)


def write_html(result: TuneResult, path: str) -> None:
    """Write the report of ``result`` to ``path``.

    Args:
        result: The study's outcome.
        path: The HTML file to write (its directory is created).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = html.table(["parameter", "value"], sorted(result.best_params.items()))
    body = (
        f"{_summary_table(result)}<h2>Best parameters</h2>{best}"
        f"<h2>Optimization history</h2><div class='grid'>{_history_plot(plt, result)}"
        f"{_curves_plot(plt, result)}</div>"
        f"<h2>Parameter importances</h2>{_importance_section(plt, result)}"
        f"<h2>Trials</h2>{_trials_table(result.history)}"
    )
    html.write(path, f"Hyperparameter tuning: {result.study_name}", body)
