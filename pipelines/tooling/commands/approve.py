"""``kfp-mlops approve``: approve or reject a registered version for production.

The pipeline's ``wait_for_approval`` task polls the tags this sets; see
:mod:`kfp_mlops.components.registry.wait_for_approval.core`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def tracking_uri_of(args: argparse.Namespace) -> str:
    """``--tracking-uri``, else a local run's registry (``--pipeline-root``), else the env.

    Raises:
        ValueError: When none is given (the message says how to pass one).
    """
    if args.tracking_uri:
        return args.tracking_uri
    if args.pipeline_root:
        return f"sqlite:///{Path(args.pipeline_root).resolve() / 'mlflow.db'}"
    env = os.environ.get("MLFLOW_TRACKING_URI", "")
    if env:
        return env
    raise ValueError(
        "no MLflow registry given: pass --tracking-uri http://<mlflow>:5000, "
        "--pipeline-root <dir> of a local run, or set MLFLOW_TRACKING_URI"
    )


def _cmd_approve(args: argparse.Namespace) -> int:
    from kfp_mlops.components.registry.wait_for_approval.core import record_approval

    result = record_approval(
        tracking_uri_of(args),
        args.model,
        args.version,
        approve=not args.reject,
        by=args.by or "",
        reason=args.reason or "",
    )
    print(result.reason)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``approve`` to the CLI."""
    p = sub.add_parser(
        "approve",
        help="approve (or --reject) a registered model version for production",
        description="Record a decision on a registered version as MLflow tags (approval, "
        "approved_by, approval_reason, approval_time); a waiting pipeline's "
        "wait_for_approval task then deploys it to production or stops.",
    )
    p.add_argument("model", help="registered model name, e.g. kfp-mlops-classifier")
    p.add_argument("version", help="registered version (register_model's output)")
    p.add_argument("--reject", action="store_true", help="reject instead of approve")
    p.add_argument("--by", default="", help="who decides (default: your login name)")
    p.add_argument("--reason", default="", help="why (recorded on the version)")
    p.add_argument("--tracking-uri", default="", help="MLflow URL (default: $MLFLOW_TRACKING_URI)")
    p.add_argument(
        "--pipeline-root", default="", help="a local run's pipeline root (its mlflow.db)"
    )
    p.set_defaults(func=_cmd_approve)
