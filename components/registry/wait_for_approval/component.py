"""KFP wrapper of :mod:`kfp_mlops.components.registry.wait_for_approval.core`."""

from kfp import dsl
from kfp.dsl import Markdown, Output, OutputPath

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def wait_for_approval(
    tracking_uri: str,
    version: str,
    decision: Output[Markdown],
    reason: OutputPath(str),
    registered_model_name: str = "kfp-mlops-classifier",
    timeout_s: float = 3600.0,
    poll_interval_s: float = 30.0,
) -> bool:
    """Wait (bounded) for a person to approve or reject the version for production.

    Polls the registered version's MLflow tag approval (approved or rejected, set with
    `kfp-mlops approve <model> <version> [--reject] --by NAME`). A rejection or a timeout is
    not an error: the task returns False and reason says why, so the pipeline skips
    production.

    Args:
        tracking_uri: MLflow server URL.
        version: The registered version awaiting approval (register_model's output).
        decision: The verdict, who decided and how long it took.
        reason: Who approved or rejected the version and why, or that nobody did in time.
        registered_model_name: Registered model name.
        timeout_s: Longest wait in seconds.
        poll_interval_s: Seconds between polls of the registry.

    Returns:
        True when the version was approved in time.
    """
    import logging

    from kfp_mlops.components.registry.wait_for_approval.core import wait_for_approval as wait

    logging.basicConfig(level=logging.INFO)
    result = wait(tracking_uri, registered_model_name, version, timeout_s, poll_interval_s)
    icon = {"approved": "✅", "rejected": "❌"}.get(result.state, "⏱")
    with open(decision.path, "w", encoding="utf-8") as f:
        f.write(
            f"# Approval of `{registered_model_name}` v{version}: {icon} {result.state}\n\n"
            f"{result.reason}\n\nWaited {result.waited_s:.0f} s (limit {timeout_s:g} s).\n"
        )
    decision.metadata.update({"state": result.state, "by": result.by})
    with open(reason, "w", encoding="utf-8") as f:
        f.write(result.reason)
    return result.approved
