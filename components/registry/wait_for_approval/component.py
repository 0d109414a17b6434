"""KFP wrapper of :mod:`kfp_mlops.components.registry.wait_for_approval.core`."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Markdown, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def wait_for_approval(
    tracking_uri: str,
    version: str,
    decision: Output[Markdown],
    registered_model_name: str = "kfp-mlops-classifier",
    timeout_s: float = 3600.0,
    poll_interval_s: float = 30.0,
) -> NamedTuple("Outputs", approved=bool, reason=str):
    """Wait (bounded) for a person to approve or reject the version for production.

    Polls the registered version's MLflow tag approval (approved or rejected, set with
    `kfp-mlops approve <model> <version> [--reject] --by NAME`). A rejection or a timeout is
    not an error: approved is False and reason says why, so the pipeline skips production.

    Args:
        tracking_uri: MLflow server URL.
        version: The registered version awaiting approval (register_model's output).
        decision: The verdict, who decided and how long it took.
        registered_model_name: Registered model name.
        timeout_s: Longest wait in seconds.
        poll_interval_s: Seconds between polls of the registry.
        approved: True when the version was approved in time.
        reason: Who approved or rejected it and why, or that nobody did in time.

    Returns:
        The named outputs approved and reason.
    """
    import logging
    from collections import namedtuple

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
    outputs = namedtuple("Outputs", ["approved", "reason"])
    return outputs(result.approved, result.reason)
