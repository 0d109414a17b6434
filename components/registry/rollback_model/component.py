"""KFP wrapper of :mod:`kfp_mlops.components.registry.rollback_model.core`."""

from kfp import dsl

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def rollback_model(
    tracking_uri: str,
    registered_model_name: str = "kfp-mlops-classifier",
) -> str:
    """Move the champion alias back to the version it replaced.

    Args:
        tracking_uri: MLflow server URL.
        registered_model_name: Registered model name.

    Returns:
        The champion version after the rollback.
    """
    from kfp_mlops.components.registry.rollback_model.core import rollback

    return rollback(tracking_uri, registered_model_name).version
