"""The training curves report (HTML): loss, the task's metric and learning rate per epoch."""

from __future__ import annotations

from typing import Any

from kfp_mlops.components.common import report

__all__ = ["write_curves"]


def write_curves(
    path: str, history: list[dict[str, Any]], metrics: dict[str, Any], params: dict[str, Any]
) -> None:
    """Write loss, the task's metric and learning rate per epoch as a self-contained HTML page."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    # The task's metric: accuracy for classification, RMSE for regression.
    metric = "rmse" if "val_rmse" in metrics else "accuracy"
    figures = []
    for title, keys in (
        ("Loss", ("loss", "val_loss")),
        (metric.upper() if metric == "rmse" else "Accuracy", (metric, f"val_{metric}")),
        ("Learning rate", ("lr",)),
    ):
        fig, ax = plt.subplots(figsize=(4.5, 3))
        for key in keys:
            values = [h.get(key) for h in history]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", markersize=3, label=key)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
        figures.append(report.figure_png(fig))
    shown = (
        f"val_{metric}",
        "val_loss",
        metric,
        "loss",
        "epochs_run",
        "resumed_from_epoch",
        "workers",
        "samples_per_second",
        "precision_policy",
    )
    body = (
        f"<div class='grid'>{''.join(figures)}</div>"
        "<h2>Final metrics</h2>"
        + report.table(
            ["metric", "value"],
            [(k, report.fmt(metrics.get(k), missing="")) for k in shown if k in metrics],
        )
        + "<h2>Parameters</h2>"
        + report.table(
            ["parameter", "value"],
            sorted((k, report.fmt(v, missing="")) for k, v in params.items()),
        )
        + "<h2>Per epoch</h2>"
        + report.table(
            ["epoch", "loss", metric, "val_loss", f"val_{metric}", "lr"],
            [
                [h.get("epoch")]
                + [
                    report.fmt(h.get(k), missing="")
                    for k in ("loss", metric, "val_loss", f"val_{metric}", "lr")
                ]
                for h in history
            ],
        )
    )
    report.write(path, "Training curves", body)
