"""The HTML report of a monitoring run: findings, quality vs baseline, drift, latency, trend.

The core returns a :class:`MonitorResult`; this module only renders it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kfp_mlops.components.common import report
from kfp_mlops.components.data.detect_drift.core import DriftResult, FeatureDrift
from kfp_mlops.components.monitoring.monitor_model.checks import MetricCheck
from kfp_mlops.components.monitoring.monitor_model.quality import DataQuality
from kfp_mlops.components.monitoring.monitor_model.result import MonitorResult

log = logging.getLogger(__name__)


def write_report(
    result: MonitorResult,
    path: str,
    history: Sequence[Mapping[str, Any]] = (),
    warning_ratio: float = 0.95,
    critical_ratio: float = 0.90,
) -> None:
    """Write the self-contained HTML report of ``result``.

    Args:
        result: What the run found.
        path: Where to write it.
        history: Earlier runs' :meth:`MonitorResult.summary` records; with this run appended
            they make the trend plot (drawn from two runs on).
        warning_ratio: Warning level as a fraction of the baseline (for the plot).
        critical_ratio: Critical level as a fraction of the baseline.
    """
    body = [
        _verdict(result),
        _quality(result, warning_ratio, critical_ratio),
        _data_quality(result.data_quality),
        _drift(result),
        _latency(result.latency),
    ]
    runs = [*history, result.summary()]
    if len(runs) >= 2:
        body.append(f"<h2>Trend ({len(runs)} runs)</h2>")
        body.append(report.figure_png(_plot_trend(runs)))
    report.write(path, "Model monitoring report", "".join(body))
    log.info("monitoring report written to %s", path)


def _verdict(r: MonitorResult) -> str:
    verdict = report.status(not r.retrain, "no retraining needed", "retrain")
    level = report.status(r.level == 0, r.level_name, r.level_name)
    body = [
        f"<p>{verdict} &middot; quality level {level} &middot; {r.rows:,} rows "
        f"({r.labelled_rows:,} labelled) &middot; run at {report.escape(r.timestamp)} "
        f"&middot; retrain on: {report.escape(', '.join(r.retrain_on) or 'nothing')}</p>"
    ]
    if r.model:
        body.append(
            f"<p>Model monitored as served: {report.escape(r.model.get('kind', ''))} "
            f"({report.escape(r.model.get('file', ''))})</p>"
        )
    for title, items in (("Reasons to retrain", r.reasons), ("Other findings", r.alerts)):
        if items:
            body.append(f"<h2>{title}</h2><ul>")
            body += [f"<li>{report.escape(i)}</li>" for i in items]
            body.append("</ul>")
    return "".join(body)


def _quality(r: MonitorResult, warning_ratio: float, critical_ratio: float) -> str:
    body = ["<h2>Quality vs baseline</h2>"]
    if not r.metrics:
        body.append("<p>No labelled rows in the recent window: quality not checked.</p>")
        return "".join(body)
    rows = []
    for name in r.metric_names:
        check = next((c for c in r.checks if c.name == name), None)
        rows.append(
            [
                name,
                report.fmt(r.metrics.get(name)),
                report.fmt(check.baseline if check else None),
                f"{check.ratio:.1%}" if check else "-",
                report.status(check.level == 0, check.level_name, check.level_name)
                if check
                else "no baseline",
            ]
        )
    body.append(
        report.table(
            ["metric", "recent", "baseline", "recent / baseline", "level"], rows, raw_columns=[4]
        )
    )
    if r.checks:
        body.append(report.figure_png(_plot_quality(r.checks, warning_ratio, critical_ratio)))
    return "".join(body)


def _data_quality(q: DataQuality | None) -> str:
    if q is None:
        return ""
    limits = q.thresholds

    def row(name: str, value: Any, shown: str, limit: str, ok: bool | None) -> list[str]:
        state = "-" if ok is None else report.status(ok, "ok", "alert")
        return [name, shown if value is not None else "not checked", limit, state]

    age, model_age = q.data_age_hours, q.model_age_days
    rows = [
        row(
            "missing values (all feature cells)",
            q.missing_ratio,
            f"{q.missing_ratio:.2%}",
            f"<= {limits.get('max_missing_ratio', 0):.0%}",
            q.missing_ratio <= limits.get("max_missing_ratio", 1),
        ),
        row(
            "missing values (worst column)",
            q.max_column_missing_ratio,
            f"{q.max_column_missing_ratio:.2%}",
            f"<= {limits.get('max_missing_ratio', 0):.0%}",
            q.max_column_missing_ratio <= limits.get("max_missing_ratio", 1),
        ),
        row("rows with a missing feature", 0, f"{q.rows_with_missing:,}", "", None),
        row("incomplete rows (left out of model checks)", 0, f"{q.incomplete_rows:,}", "", None),
        row(
            "duplicate rows",
            q.duplicate_ratio,
            f"{q.duplicate_rows:,} ({q.duplicate_ratio:.2%})",
            f"<= {limits.get('max_duplicate_ratio', 0):.0%}",
            q.duplicate_ratio <= limits.get("max_duplicate_ratio", 1),
        ),
        row(
            f"newest record ({q.timestamp_column or 'no timestamp column'})",
            age,
            f"{q.newest_record}, {report.fmt(age, 3)} h old",
            f"<= {report.fmt(limits.get('max_data_age_hours'))} h",
            None if age is None else age <= limits.get("max_data_age_hours", math.inf),
        ),
        row(
            "rows vs expected",
            q.expected_rows or None,
            f"{q.rows:,} of {q.expected_rows:,}",
            f"+/- {limits.get('volume_tolerance', 0):.0%}",
            None
            if not q.expected_rows
            else abs(q.rows / q.expected_rows - 1) <= limits.get("volume_tolerance", math.inf),
        ),
        row(
            "model age",
            model_age,
            f"{report.fmt(model_age, 3)} days (created {q.model_created_at})",
            f"<= {report.fmt(limits.get('max_model_age_days'))} days",
            None if model_age is None else model_age <= limits.get("max_model_age_days", math.inf),
        ),
    ]
    body = [
        "<h2>Data quality</h2>",
        report.table(["figure", "value", "threshold", "status"], rows, raw_columns=[3]),
    ]
    missing = sorted(((r, c) for c, r in q.missing_by_column.items() if r > 0), reverse=True)
    if missing:
        body.append(report.table(["column", "missing"], ([c, f"{r:.2%}"] for r, c in missing[:30])))
    return "".join(body)


def _drift(r: MonitorResult) -> str:
    body = [
        "<h2>Drift</h2>",
        f"<p>{len(r.drift.drifted_features)} of {len(r.drift.features)} features "
        f"drifted (PSI &gt; {r.drift.threshold:g}); prediction PSI {r.prediction.psi:.4f} "
        f"({report.status(not r.prediction.drifted, 'stable', 'drifted')}).</p>",
        report.figure_png(_plot_psi(r.drift, r.prediction)),
        report.table(
            ["feature", "PSI", "KS p-value", "status"],
            (
                [
                    f.feature,
                    report.fmt(f.psi),
                    report.fmt(f.ks_pvalue if f.ks_pvalue is not None else f.chi2_pvalue),
                    report.status(not f.drifted, "stable", "drifted"),
                ]
                for f in r.drift.ranked()[:30]
            ),
            raw_columns=[3],
        ),
    ]
    if r.class_share:
        body.append("<h2>Predicted classes</h2>")
        shares = zip(r.classes, r.class_share["reference"], r.class_share["current"], strict=True)
        body.append(
            report.table(
                ["class", "reference share", "recent share"],
                ([c, f"{ref:.1%}", f"{cur:.1%}"] for c, ref, cur in shares),
            )
        )
    return "".join(body)


def _latency(lat: Mapping[str, Any] | None) -> str:
    if not lat:
        return "<h2>Latency</h2><p>Not measured (latency_samples = 0 and no latency column).</p>"
    row = [lat["source"], lat["samples"], *(report.fmt(lat[p]) for p in ("p50", "p95", "p99"))]
    return "<h2>Latency</h2>" + report.table(
        ["source", "samples", "p50 ms", "p95 ms", "p99 ms"], [row]
    )


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_psi(drift: DriftResult, prediction: FeatureDrift, max_bars: int = 30) -> Any:
    """Horizontal bars of PSI per feature (most drifted first) with the threshold line."""
    plt = _pyplot()
    ranked = drift.ranked()[:max_bars]
    names = [f.feature for f in ranked] + ["(prediction)"]
    values = [f.psi for f in ranked] + [prediction.psi]
    colors = ["#d93025" if f.drifted else "#1a73e8" for f in ranked]
    colors.append("#f9ab00" if prediction.drifted else "#5f6368")
    fig, ax = plt.subplots(figsize=(7, 0.22 * len(names) + 1.2))
    y = np.arange(len(names))[::-1]
    ax.barh(y, values, color=colors)
    ax.set_yticks(y, names, fontsize=7)
    ax.axvline(
        drift.threshold, color="#d93025", linestyle="--", label=f"threshold {drift.threshold:g}"
    )
    ax.set_xlabel("PSI", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Drift per feature (red: drifted)", fontsize=9)
    return fig


def _plot_quality(
    checks: Sequence[MetricCheck], warning_ratio: float, critical_ratio: float
) -> Any:
    """Recent vs baseline bars per metric, with the warning and critical marks."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    x = np.arange(len(checks))
    colors = {0: "#188038", 1: "#f9ab00", 2: "#d93025"}
    ax.bar(x - 0.2, [c.baseline for c in checks], width=0.4, color="#9aa0a6", label="baseline")
    ax.bar(
        x + 0.2,
        [c.value for c in checks],
        width=0.4,
        color=[colors[c.level] for c in checks],
        label="recent",
    )
    for i, c in enumerate(checks):
        ax.hlines(warning_ratio * c.baseline, i - 0.4, i + 0.4, colors="#f9ab00", linestyles="--")
        ax.hlines(critical_ratio * c.baseline, i - 0.4, i + 0.4, colors="#d93025", linestyles=":")
    ax.set_xticks(x, [c.name for c in checks], fontsize=8)
    low = min([c.value for c in checks] + [critical_ratio * c.baseline for c in checks])
    ax.set_ylim(max(0.0, low - 0.1), 1.02)
    ax.set_title(
        f"Recent vs baseline (dashed: warning {warning_ratio:.0%}, dotted: critical "
        f"{critical_ratio:.0%})",
        fontsize=9,
    )
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="lower left")
    return fig


def _plot_trend(runs: Sequence[Mapping[str, Any]]) -> Any:
    """Quality metrics and drift figures over the monitoring runs."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True)
    x = np.arange(len(runs))

    def series(key: str) -> np.ndarray:
        return np.array(
            [float(r[key]) if isinstance(r.get(key), int | float) else np.nan for r in runs]
        )

    errors = any(isinstance(r.get("rmse"), int | float) for r in runs)  # a regressor's runs
    for key in ("rmse", "mae") if errors else ("accuracy", "f1", "precision", "recall"):
        values = series(key)
        if np.isfinite(values).any():
            top.plot(x, values, marker="o", markersize=3, label=key)
    top.set_ylabel("error (target units)" if errors else "quality", fontsize=8)
    top.legend(fontsize=7)
    bottom.plot(x, series("prediction_psi"), marker="o", markersize=3, label="prediction PSI")
    bottom.plot(x, series("max_psi"), marker="o", markersize=3, label="max feature PSI")
    retrained = [i for i, r in enumerate(runs) if r.get("retrain")]
    if retrained:
        bottom.scatter(
            retrained, series("max_psi")[retrained], color="#d93025", zorder=3, label="retrain"
        )
    bottom.set_ylabel("PSI", fontsize=8)
    bottom.legend(fontsize=7)
    labels = [str(r.get("timestamp", i))[:16] for i, r in enumerate(runs)]
    step = max(len(runs) // 8, 1)
    bottom.set_xticks(x[::step], labels[::step], rotation=30, ha="right", fontsize=6)
    for ax in (top, bottom):
        ax.tick_params(labelsize=7)
    top.set_title("Monitoring trend", fontsize=9)
    return fig
