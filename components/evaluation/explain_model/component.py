"""KFP wrapper of :mod:`kfp_mlops.components.evaluation.explain_model.core`."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Model, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def explain_model(
    model: Input[Model],
    train: Input[Dataset],
    test: Input[Dataset],
    preprocessor: Input[Model],
    metrics: Output[Metrics],
    report: Output[HTML],
    model_card_section: Output[Markdown],
    explanation: Output[Artifact],
    background: Output[Dataset],
    method: str = "auto",
    background_rows: int = 50,
    explain_rows: int = 100,
    serving_format: str = "auto",
    seed: int = 0,
) -> str:
    """Explain which features drive the model: global importance, a plot, a model card section.

    Tabular: SHAP values of each raw column (shap's PermutationExplainer, a background
    sample of the training split; additive: a row's values sum to its output minus the base
    value), ranked by mean |SHAP|; method='auto' falls back to permutation importance when
    shap fails. Images: integrated gradients per pixel (needs model.h5). Explained: binary,
    the positive class's probability; multiclass, the predicted class's; regression, the
    prediction in the target's units.

    Args:
        model: Model directory (model.h5 and/or model.tflite), run as served.
        train: Processed training split (the background sample comes from it).
        test: Processed test split (the rows explained).
        preprocessor: Preprocessor JSON of the same run (task spec, raw columns).
        metrics: importance.<column> per column, explained_rows, additivity_error.
        report: HTML: method, base value, importance bar chart (or pixel heatmap), ranking.
        model_card_section: Markdown "Explanations" section of the model card.
        explanation: JSON (method, ranking, markdown); pass it to register_model.
        background: Encoded background rows; pass it to register_model so the model
            server's :explain verb can build its explainer (tabular only; empty for images).
        method: auto, shap or permutation (tabular).
        background_rows: Training rows in the background sample.
        explain_rows: Test rows explained.
        serving_format: auto (model.tflite when present), keras or tflite.
        seed: Seed of the samples.

    Returns:
        The most important feature (tabular) or the method (images).
    """
    from kfp_mlops.components.common.kfp_outputs import log_finite
    from kfp_mlops.components.evaluation.explain_model import core
    from kfp_mlops.components.evaluation.explain_model import report as render

    result = core.explain_model(
        model.path,
        train.path,
        test.path,
        preprocessor.path,
        method=method,
        background_rows=background_rows,
        explain_rows=explain_rows,
        serving_format=serving_format,
        seed=seed,
    )
    core.write_outputs(result, explanation.path, background.path)
    render.write_html(result, report.path)
    with open(model_card_section.path, "w", encoding="utf-8") as f:
        f.write(render.markdown_section(result))
    log_finite(metrics, result.metrics())
    return result.columns[0] if result.columns else result.method
