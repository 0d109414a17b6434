"""``kfp-mlops rollback <model>``: the previous champion serves again, then the alias moves.

The same work as ``rollback_pipeline``, run from this machine: the previous version is put
back on the serving target and smoke-tested, and only then does ``champion`` move back. A
rollback with nothing to go back to changes nothing and exits 2 with the reason.
"""

from __future__ import annotations

import argparse


def _cmd_rollback(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kfp_mlops.components.registry.rollback_model.redeploy import (
        Settings,
        rollback_and_redeploy,
    )

    state_dir = args.state_dir or str(Path(args.pipeline_root) / "serving")
    tracking_uri = args.tracking_uri or f"sqlite:///{Path(args.pipeline_root).resolve()}/mlflow.db"
    settings = Settings(
        target=args.target,
        namespace=args.namespace,
        storage_uri=args.storage_uri,
        state_dir=state_dir,
        gitops_dir=args.gitops_dir,
        git_repo=args.git_repo,
        git_remote=args.git_remote,
        environment=args.environment,
        ready_timeout_s=args.ready_timeout,
        max_p95_ms=args.max_p95_ms,
        kubeconfig=args.kubeconfig,
    )
    # A ComponentError is a ValueError: the CLI prints its one line and exits 2.
    result = rollback_and_redeploy(
        tracking_uri, args.model, settings, experiment_name=args.experiment
    )
    reg = result.registry
    print(f"rolled back {args.model}: champion v{reg.demoted} -> v{reg.version}")
    if args.target != "none":
        print(
            f"{args.target}: {result.serving_before} -> {result.serving_now} "
            f"({result.decision}: {result.reason})"
        )
    if result.commit:
        print(f"revert commit {result.commit}")
    print(f"recovery time {result.recovery_time_s:.1f} s")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``rollback``."""
    p = sub.add_parser(
        "rollback",
        help="serve the previous champion again (redeploy + smoke test), then move the alias",
        description="Put the version the champion replaced back on the serving target, "
        "smoke-test it, and only then point the champion alias at it. A failed smoke test "
        "leaves the current version serving and the alias where it was.",
    )
    p.add_argument("model", help="registered model name")
    p.add_argument(
        "--tracking-uri",
        default="",
        help="MLflow URI (default: the run-local store <pipeline-root>/mlflow.db)",
    )
    p.add_argument(
        "--target",
        default="local",
        choices=("local", "cluster", "gitops", "none"),
        help="where the model serves (none: only move the alias; default: local)",
    )
    p.add_argument("--pipeline-root", default="local_outputs", help="the run-local pipeline root")
    p.add_argument(
        "--state-dir", default="", help="local target state (default: <pipeline-root>/serving)"
    )
    p.add_argument("--namespace", default="kubeflow-user", help="InferenceService namespace")
    p.add_argument("--kubeconfig", default="", help="kubeconfig (cluster; default: ~/.kube/config)")
    p.add_argument("--storage-uri", default="", help="model root, if no spec is recorded")
    p.add_argument("--gitops-dir", default="", help="GitOps folder (default: --git-repo)")
    p.add_argument("--git-repo", default="", help="local clone of the GitOps repo (git revert)")
    p.add_argument("--git-remote", default="origin", help="remote to push to, if configured")
    p.add_argument("--environment", default="production", help="environment in status files")
    p.add_argument("--experiment", default="kfp-mlops", help="MLflow experiment of the record")
    p.add_argument(
        "--ready-timeout", type=float, default=240.0, help="seconds to become ready (default 240)"
    )
    p.add_argument(
        "--max-p95-ms", type=float, default=1000.0, help="p95 limit with all traffic (ms)"
    )
    p.set_defaults(func=_cmd_rollback)
