"""Rendering of an explanation: the HTML report (inline PNG) and the model card section."""

from __future__ import annotations

from typing import Any

from kfp_mlops.components.common import report

#: Columns shown in the plot and in the model card.
TOP = 15

_METHODS = {
    "shap": "SHAP values (shap PermutationExplainer, background from the training split)",
    "permutation_importance": "permutation importance (model-agnostic fallback)",
    "integrated_gradients": "integrated gradients (tf.GradientTape, mean training image "
    "as baseline)",
}


def _bar_chart(columns: list[str], values: list[float], xlabel: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = list(zip(columns, values, strict=True))[:TOP][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(shown) + 1))
    ax.barh([c for c, _ in shown], [v for _, v in shown], color="#1a73e8")
    ax.set_xlabel(xlabel)
    return report.figure_png(fig)


def _heatmap(pixel_map: Any) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    image = ax.imshow(pixel_map, cmap="inferno")
    fig.colorbar(image, ax=ax, label="mean |attribution|")
    ax.set_axis_off()
    return report.figure_png(fig)


def _facts(result: Any) -> list[tuple[str, str]]:
    facts = [
        ("method", _METHODS.get(result.method, result.method)),
        ("explained", result.explained),
        ("rows explained", str(result.rows)),
    ]
    if result.base_value is not None:
        facts.append(("base value", report.fmt(result.base_value)))
    if result.additivity_error is not None:
        name = "completeness error" if result.kind == "image" else "additivity error (max)"
        facts.append((name, report.fmt(result.additivity_error, 6)))
    if result.fallback_reason:
        facts.append(("fallback", result.fallback_reason))
    return facts


def write_html(result: Any, path: str) -> None:
    """The HTML report: what was explained, the plot, the ranking table."""
    body = report.table(["", ""], _facts(result))
    if result.kind == "image":
        body += "<h2>Where the model looks</h2>" + _heatmap(result.pixel_map)
    else:
        unit = "mean |SHAP value|" if result.method == "shap" else "metric worsening"
        body += "<h2>Feature importance</h2>" + _bar_chart(result.columns, result.importance, unit)
        rows = [
            (i + 1, c, report.fmt(v))
            for i, (c, v) in enumerate(zip(result.columns, result.importance, strict=True))
        ]
        body += report.table(["rank", "feature", "importance"], rows)
    report.write(path, "Model explanation", body)


def markdown_section(result: Any) -> str:
    """The model card's "Explanations" section (register_model embeds it)."""
    lines = ["## Explanations", ""]
    lines += [f"- {name.capitalize()}: {value}" for name, value in _facts(result)]
    if result.kind == "image":
        lines += [
            "",
            "Per-pixel attributions: see the explain_model HTML report for the heatmap.",
        ]
    else:
        lines += ["", "| rank | feature | importance |", "|---|---|---|"]
        for i, (column, value) in enumerate(zip(result.columns, result.importance, strict=True)):
            if i == TOP:
                lines.append(f"| ... | {len(result.columns) - TOP} more | |")
                break
            lines.append(f"| {i + 1} | {column} | {report.fmt(value)} |")
    return "\n".join(lines) + "\n"
