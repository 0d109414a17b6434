"""KFP wrapper of :mod:`kfp_mlops.components.registry.promote_model.core`."""

from kfp import dsl

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def promote_model(
    tracking_uri: str,
    registered_model_name: str = "kfp-mlops-classifier",
    version: str = "",
) -> str:
    """Point the champion alias at a version; the replaced champion is kept for rollback.

    Args:
        tracking_uri: MLflow server URL.
        registered_model_name: Registered model name.
        version: Version to promote (register_model's output); empty means the version
            with the challenger alias.

    Returns:
        The new champion version.
    """
    from kfp_mlops.components.registry.promote_model.core import promote

    return promote(tracking_uri, registered_model_name, version).version
