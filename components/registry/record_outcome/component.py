"""KFP wrapper of :mod:`kfp_mlops.components.registry.record_outcome.core`."""

from kfp import dsl
from kfp.dsl import Artifact, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def record_outcome(
    status: dsl.PipelineTaskFinalStatus,
    outcome: Output[Artifact],
    tracking_uri: str = "",
    experiment_name: str = "kfp-mlops",
) -> str:
    """Record how the pipeline ended (the exit task of a dsl.ExitHandler).

    Args:
        status: The final status of the guarded tasks, filled in by KFP.
        outcome: JSON with the state, job name, error message and MLflow run id.
        tracking_uri: MLflow tracking URI; empty records the JSON only. MLflow errors are
            logged, not raised, so they never hide the pipeline's own failure.
        experiment_name: MLflow experiment of the outcome run.

    Returns:
        One line: the job and its final state (and error message, if any).
    """
    from kfp_mlops.components.registry.record_outcome.core import from_status, record

    return record(from_status(status), outcome.path, tracking_uri, experiment_name).summary()
