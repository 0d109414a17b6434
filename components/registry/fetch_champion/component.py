"""KFP wrapper of :mod:`kfp_mlops.components.registry.fetch_champion.core`."""

from kfp import dsl
from kfp.dsl import Artifact, Model, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def fetch_champion(
    model: Output[Model],
    preprocessor: Output[Model],
    baseline: Output[Artifact],
    tracking_uri: str,
    registered_model_name: str = "kfp-mlops-classifier",
    alias: str = "champion",
) -> str:
    """Download the registry's champion (model, preprocessor, baseline metrics) as artifacts.

    Args:
        model: The champion's Model directory (model.h5, model.tflite when optimized); its
            metadata holds the version and its creation_timestamp (for the model-age check).
        preprocessor: The preprocessor JSON the champion was trained with.
        baseline: JSON of the metrics the champion was blessed with (accuracy, f1, ...).
        tracking_uri: MLflow tracking and registry URI.
        registered_model_name: Registered model name.
        alias: Alias to fetch; champion by default.

    Returns:
        The champion's version.
    """
    from kfp_mlops.components.registry.fetch_champion.core import fetch

    champion = fetch(
        tracking_uri, registered_model_name, model.path, preprocessor.path, baseline.path, alias
    )
    model.metadata.update(champion.metadata(registered_model_name))
    baseline.metadata.update(champion.baseline)
    return champion.version
