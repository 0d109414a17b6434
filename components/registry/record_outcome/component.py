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
    registered_model_name: str = "",
    trigger: str = "manual",
    start_time: str = "",
    pipeline_run_id: str = "",
    pipeline_job_name: str = "",
    model_version: str = "",
    rolled_back: bool = False,
    data_snapshot_time: str = "",
    code_commit_time: str = "",
) -> str:
    """Record how the pipeline ended (the exit task of a dsl.ExitHandler) and notify.

    A failed, rolled-back or champion-promoting run posts a Slack-compatible message to the
    webhook in $KFP_MLOPS_WEBHOOK_URL (from a Secret: pipelines.k8s.with_notification_secret);
    an unreachable webhook is logged, never raised.

    Args:
        status: The final status of the guarded tasks, filled in by KFP.
        outcome: JSON with the state, times, trigger, what was shipped, the MLflow run id and
            the notification's result.
        tracking_uri: MLflow tracking URI; empty records the JSON only. MLflow errors are
            logged, not raised, so they never hide the pipeline's own failure.
        experiment_name: MLflow experiment of the outcome run.
        registered_model_name: Model the run ships; the registry then tells which version
            the run registered, whether it became champion or was rolled back.
        trigger: What started the run: manual | schedule | drift | rollback.
        start_time: When the run started, ISO 8601 (pass
            dsl.PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER); empty = unknown.
        pipeline_run_id: The run id register_model tagged its version with (pass
            dsl.PIPELINE_JOB_ID_PLACEHOLDER to both); empty = $KFP_RUN_ID.
        pipeline_job_name: The run's name (pass dsl.PIPELINE_JOB_NAME_PLACEHOLDER), shown in
            the record and the message; under kfp.local it also gives the start time.
        model_version: The version shipped, when known (wins over the registry search).
        rolled_back: The run rolled the champion back (implied by trigger=rollback).
        data_snapshot_time: When the training data was snapshotted (ISO 8601), for lead time.
        code_commit_time: When the shipped code was committed (ISO 8601), for lead time.

    Returns:
        One line: the job and its final state (and error message, if any).
    """
    import os

    from kfp_mlops.components.registry.record_outcome.core import from_status, record

    result = from_status(
        status,
        pipeline_job_name=pipeline_job_name,
        trigger=trigger,
        start_time=start_time,
        pipeline_run_id=pipeline_run_id or os.environ.get("KFP_RUN_ID", ""),
        model_name=registered_model_name,
        model_version=model_version,
        data_snapshot_time=data_snapshot_time,
        code_commit_time=code_commit_time,
    )
    done = record(result, outcome.path, tracking_uri, experiment_name, rolled_back=rolled_back)
    return done.summary()
