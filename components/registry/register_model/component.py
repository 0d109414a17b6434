"""KFP wrapper of :mod:`kfp_mlops.components.registry.register_model.core`."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Model, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def register_model(
    model: Input[Model],
    evaluation: Input[Artifact],
    model_card: Output[Markdown],
    tracking_uri: str,
    registered_model_name: str = "kfp-mlops-classifier",
    blessed: bool = False,
    preprocessor: Input[Model] = None,
    data: Input[Dataset] = None,
    validation_result: Input[Artifact] = None,
    pipeline_run_id: str = "",
    data_hash: str = "",
    intended_use: str = "",
    optimization: str = "",
    limitations: str = "",
    experiment_name: str = "kfp-mlops",
    explanation: Input[Artifact] = None,
    background: Input[Dataset] = None,
) -> str:
    """Register a blessed model in the MLflow registry with the alias challenger.

    Args:
        model: Model directory (model.h5 and the files beside it), logged as-is.
        evaluation: evaluate_model's evaluation_json (metrics become version tags).
        model_card: Markdown model card: intended use, data and its validation, metrics,
            explanations (when given), optimization, limitations, provenance.
        tracking_uri: MLflow server URL; probed first, nothing is written if unreachable.
        registered_model_name: Registered model name.
        blessed: evaluate_model's output; False (or an evaluation that did not bless the
            model) fails the task and registers nothing.
        preprocessor: Preprocessor JSON, registered beside the model as preprocessor.json.
        data: The split the model was evaluated on; its SHA-256 is tagged (unless data_hash).
        validation_result: validate_data's JSON result, summarised in the model card.
        pipeline_run_id: Provenance tag; defaults to $KFP_RUN_ID, else "local".
        data_hash: SHA-256 of the data; computed from data when empty.
        intended_use: Model card text (a generic default when empty).
        optimization: Optimization applied (else the model directory's optimization.json).
        limitations: Model card text (a generic default when empty).
        experiment_name: MLflow experiment of the registration run.
        explanation: explain_model's explanation JSON: adds the Explanations section
            (feature importance) to the model card.
        background: explain_model's background sample, registered beside the model as
            explain_background.json so the model server answers :explain.

    Returns:
        The new model version.
    """
    from kfp_mlops.components.registry.register_model import core

    evaluation_data = core.read_json(evaluation.path) or {}
    result = core.register(
        model.path,
        evaluation_data,
        tracking_uri=tracking_uri,
        name=registered_model_name,
        blessed=blessed,
        pipeline_run_id=pipeline_run_id,
        data_hash=data_hash or (core.sha256_of(data.path) if data is not None else ""),
        intended_use=intended_use,
        optimization=optimization,
        limitations=limitations,
        validation=core.read_json(validation_result.path)
        if validation_result is not None
        else None,
        preprocessor_path=preprocessor.path if preprocessor is not None else None,
        experiment_name=experiment_name,
        explanation=core.read_json(explanation.path) if explanation is not None else None,
        background_path=background.path if background is not None else None,
    )
    with open(model_card.path, "w", encoding="utf-8") as f:
        f.write(result.model_card)
    model_card.metadata.update(
        {"registered_model_name": result.name, "version": result.version, "run_id": result.run_id}
    )
    return result.version
