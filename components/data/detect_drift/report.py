"""HTML rendering of a drift result: the summary table and reference-vs-current plots."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common import report as html_report
from kfp_mlops.components.data.detect_drift.binning import NUMERIC, as_float, category_counts
from kfp_mlops.components.data.detect_drift.core import FeatureDrift

if TYPE_CHECKING:
    from kfp_mlops.components.data.detect_drift.core import DriftResult

log = logging.getLogger(__name__)


def write_html(
    result: DriftResult,
    path: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    max_plots: int = 20,
) -> None:
    """Write a self-contained HTML report: summary table and one plot per feature.

    Args:
        result: The drift result to render.
        path: Where to write the HTML file.
        reference: The reference table the result was computed from.
        current: The current table the result was computed from.
        max_plots: At most this many feature plots, drifted features first.
    """
    ranked = result.ranked()
    verdict = html_report.status(not result.drift_detected, "no drift", "drift detected")
    body = [
        f"<p>{verdict}: {len(result.drifted_features)} of {len(ranked)} features drifted "
        f"(share {result.share_drifted:.2%}; PSI threshold {result.threshold:g}); "
        f"reference {result.reference_rows:,} rows, current {result.current_rows:,} rows.</p>",
        "<h2>Features</h2>",
        html_report.table(
            ["feature", "kind", "PSI", "KS statistic", "KS p-value", "chi2 p-value", "status"],
            (
                [
                    f.feature,
                    f.kind,
                    html_report.fmt(f.psi, fixed=True),
                    html_report.fmt(f.ks_statistic, fixed=True),
                    html_report.fmt(f.ks_pvalue, fixed=True),
                    html_report.fmt(f.chi2_pvalue, fixed=True),
                    html_report.status(not f.drifted, "stable", "drifted"),
                ]
                for f in ranked
            ),
            raw_columns=[6],
        ),
    ]
    if result.skipped:
        skipped = html_report.escape(result.skipped)
        body.append(f"<p>Not compared (unsupported dtype): {skipped}</p>")
    plotted = ranked[: max(max_plots, 0)]
    if plotted:
        body.append("<h2>Reference vs current</h2><div class='grid'>")
        for f in plotted:
            fig = _plot_feature(f, reference[f.feature], current[f.feature])
            body.append(html_report.figure_png(fig))
        body.append("</div>")
    if len(ranked) > len(plotted):
        body.append(f"<p>{len(ranked) - len(plotted)} more features not plotted.</p>")
    html_report.write(path, "Data drift report", "".join(body))
    log.info("drift report written to %s (%d plots)", path, len(plotted))


def _plot_feature(record: FeatureDrift, ref: pd.Series, cur: pd.Series) -> Any:
    """A small reference-vs-current figure: density histograms or category bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 2.6))
    if record.kind == NUMERIC:
        r, c = as_float(ref), as_float(cur)
        r, c = r[np.isfinite(r)], c[np.isfinite(c)]
        both = np.concatenate([r[:: max(len(r) // 100_000, 1)], c[:: max(len(c) // 100_000, 1)]])
        if len(both):
            lo, hi = np.quantile(both, [0.005, 0.995])
            if not hi > lo:
                lo, hi = float(both.min()) - 0.5, float(both.max()) + 0.5
            edges = np.linspace(lo, hi, 31)
            for values, label, color in ((r, "reference", "#1a73e8"), (c, "current", "#d93025")):
                if len(values):
                    ax.hist(
                        np.clip(values, lo, hi),
                        bins=edges,
                        density=True,
                        alpha=0.5,
                        label=label,
                        color=color,
                    )
    else:
        ref_counts, cur_counts, labels = category_counts(ref, cur)
        p_ref = ref_counts / max(ref_counts.sum(), 1)
        p_cur = cur_counts / max(cur_counts.sum(), 1)
        top = np.argsort(-(p_ref + p_cur), kind="stable")[:15]
        x = np.arange(len(top))
        ax.bar(x - 0.2, p_ref[top], width=0.4, label="reference", color="#1a73e8")
        ax.bar(x + 0.2, p_cur[top], width=0.4, label="current", color="#d93025")
        ax.set_xticks(x, [labels[i][:12] for i in top], rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("share", fontsize=8)
    state = "DRIFTED" if record.drifted else "stable"
    ax.set_title(f"{record.feature} - PSI {record.psi:.3f} ({state})", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    return fig
