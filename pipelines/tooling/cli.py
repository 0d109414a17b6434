"""``kfp-mlops``: compile, list, run, submit and schedule pipelines.

Every command is also a plain function importable from a notebook (in
``kfp_mlops.pipelines.tooling``: ``compiler.compile_all``, ``local_runner.run_local``,
``kfp_client.submit``, ``kfp_client.schedule``).
Errors print one line and exit non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _cmd_compile(args: argparse.Namespace) -> int:
    from kfp_mlops.pipelines.tooling.compiler import compile_all, stale_files

    if args.config:
        from kfp_mlops.pipelines.tooling.fleet import load_config
        from kfp_mlops.pipelines.tooling.fleet_ops import compile_fleet

        config = load_config(args.config)
        out = args.output if args.output != "compiled" else "compiled/fleet"
        written = compile_fleet(config, out)
        print(f"wrote {len(written)} files for {len(config.models)} models under {out}/")
        return 0
    if args.check:
        problems = stale_files(args.output)
        if problems:
            print(
                f"{args.output}/ is stale ({len(problems)} files); run `make compile` and commit:"
            )
            print("\n".join(f"  {p}" for p in problems))
            return 1
        print(f"{args.output}/ is up to date")
        return 0
    written = compile_all(args.output, args.names or None)
    print(f"wrote {len(written)} files under {args.output}/")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from kfp_mlops.pipelines.tooling import catalog

    print("pipelines:")
    for name, func in catalog.pipelines().items():
        print(f"  {name:<28} {catalog.describe(func)}")
    print("components:")
    for name, comp in catalog.components().items():
        print(f"  {name:<28} {catalog.describe(comp)}")
    return 0


def _cmd_readmes(args: argparse.Namespace) -> int:
    from kfp_mlops.pipelines.tooling import readmes

    if args.check:
        stale = readmes.stale_readmes()
        if stale:
            print(
                f"{len(stale)} component READMEs have a stale inputs/outputs table; "
                f"run `{readmes.FIX_COMMAND}` and commit:"
            )
            print("\n".join(f"  {readmes.display(p)}" for p in stale))
            return 1
        print("component READMEs are up to date")
        return 0
    written = readmes.write_readmes()
    print(f"rewrote the inputs/outputs table of {len(written)} component READMEs")
    for path in written:
        print(f"  {readmes.display(path)}")
    return 0


def _cmd_run_local(args: argparse.Namespace) -> int:
    from kfp_mlops.pipelines.tooling.local_runner import parse_params, run_local

    run = run_local(
        args.pipeline,
        parse_params(args.param or []),
        pipeline_root=args.pipeline_root,
        verbose=args.verbose,
    )
    run.write_summary()
    print(run.render(full=args.verbose))
    for line in serving_endpoints(args.pipeline_root):
        print(line)
    return 0


def serving_endpoints(pipeline_root: str) -> list[str]:
    """Lines naming each local deployment still serving under ``pipeline_root``."""
    import json
    from pathlib import Path

    lines = []
    serving = Path(pipeline_root, "serving")
    # Production's deployments, then staging's (deploy_model keeps those under _staging/).
    state_files = sorted(serving.glob("*/state.json")) + sorted(
        serving.glob("_staging/*/state.json")
    )
    for state_file in state_files:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        router, live = state.get("router"), state.get("live")
        if router and live:
            name = state_file.parent.name
            lines.append(
                f"serving {name} version {live['version']} at "
                f"http://127.0.0.1:{router['port']}/v1/models/{name}:predict "
                f"(stop: kfp-mlops stop-local --pipeline-root {pipeline_root})"
            )
    return lines


def _cmd_stop_local(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kfp_mlops.components.deployment.deploy_model.targets import stop_local

    serving = Path(args.pipeline_root) / "serving"
    found = [
        (folder, p.name)
        for folder in (serving, serving / "_staging")
        for p in folder.glob("*")
        if (p / "state.json").exists()
    ]
    for folder, name in found:
        stopped = stop_local(str(folder), name)
        where = " (staging)" if folder.name == "_staging" else ""
        print(f"stopped {name}{where}: {len(stopped)} processes")
    if not found:
        print(f"no local deployment under {serving}")
    return 0


def _cluster_options(args: argparse.Namespace) -> dict:
    """The arguments submit and schedule share (see :func:`_add_cluster_arguments`)."""
    from kfp_mlops.pipelines.tooling.local_runner import parse_params

    return {
        "experiment": args.experiment,
        "namespace": args.namespace,
        "params": parse_params(args.param or []),
        "existing_token": args.token,
    }


def _cmd_submit(args: argparse.Namespace) -> int:
    from kfp_mlops.pipelines.tooling.kfp_client import OK_STATES, submit

    result = submit(
        args.pipeline,
        args.host,
        **_cluster_options(args),
        wait=args.wait,
        timeout_s=args.timeout,
        poll_interval_s=args.poll_interval,
    )
    print(result.render())
    return 0 if result.state is None or result.state in OK_STATES else 1


def _cmd_schedule(args: argparse.Namespace) -> int:
    from kfp_mlops.pipelines.tooling.kfp_schedule import schedule

    if args.config:
        return _schedule_fleet(args)
    if not args.pipeline or not args.cron:
        raise ValueError("schedule needs a pipeline and --cron (or --config models.yaml)")
    result = schedule(
        args.pipeline,
        args.host,
        cron=args.cron,
        **_cluster_options(args),
        job_name=args.name,
        max_concurrency=args.max_concurrency,
    )
    print(result.render())
    return 0


def _schedule_fleet(args: argparse.Namespace) -> int:
    from kfp_mlops.pipelines.tooling.fleet import load_config
    from kfp_mlops.pipelines.tooling.fleet_ops import schedule_fleet

    if args.pipeline or args.cron or args.param:
        raise ValueError("with --config, the pipeline, --cron and -p come from the config")
    results = schedule_fleet(
        load_config(args.config),
        args.host,
        namespace=args.namespace,
        monitoring_cron=args.monitoring_cron or "",
        existing_token=args.token,
    )
    for result in results:
        print(result.render())
    print(f"{len(results)} recurring runs up to date")
    return 0


def _add_cluster_arguments(p: argparse.ArgumentParser, optional: bool = False) -> None:
    if optional:
        p.add_argument("pipeline", nargs="?", help="pipeline name (see `kfp-mlops list`)")
    else:
        p.add_argument("pipeline", help="pipeline name (see `kfp-mlops list`)")
    p.add_argument(
        "--host",
        required=True,
        help="KFP UI / API address, e.g. http://localhost:8080 after "
        "`kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80`",
    )
    p.add_argument("--experiment", default="Default", help="experiment name (created if missing)")
    p.add_argument("--namespace", help="profile namespace (multi-user deployments)")
    p.add_argument(
        "--param", "-p", action="append", metavar="NAME=VALUE", help="pipeline parameter"
    )
    p.add_argument(
        "--token",
        help="bearer token for the API (default: $KF_PIPELINES_TOKEN; prefer the variable, "
        "command-line arguments are visible to other users of the machine)",
    )


def _add_build_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``compile``, ``list`` and ``readmes`` (what works on this checkout alone)."""
    p = sub.add_parser("compile", help="compile pipelines and components into compiled/")
    p.add_argument("names", nargs="*", help="pipelines or components to compile (default: all)")
    p.add_argument("--output", default="compiled", help="output folder (default: compiled)")
    p.add_argument("--check", action="store_true", help="fail if the output folder is stale")
    p.add_argument(
        "--config",
        help="models.yaml: compile every model's pipelines and the fleet monitoring pipeline "
        "(default output: compiled/fleet)",
    )
    p.set_defaults(func=_cmd_compile)

    p = sub.add_parser("list", help="list pipelines and components with a one-line description")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser(
        "readmes", help="write each component README's inputs/outputs table from its code"
    )
    p.add_argument("--check", action="store_true", help="fail if a README's table is stale")
    p.set_defaults(func=_cmd_readmes)


def _add_local_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``run-local`` and ``stop-local`` (kfp.local on this machine)."""
    p = sub.add_parser("run-local", help="run a pipeline locally through kfp.local")
    p.add_argument("pipeline", help="pipeline name (see `kfp-mlops list`)")
    p.add_argument(
        "--param", "-p", action="append", metavar="NAME=VALUE", help="pipeline parameter"
    )
    p.add_argument("--pipeline-root", default="local_outputs", help="where outputs land")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="print every task's full output as kfp.local streams it (default: one line per "
        "task start and end, each task's output in <run>/logs/<task>.log) and the full listing "
        "of every output at the end (always written to <run>/summary.txt)",
    )
    p.set_defaults(func=_cmd_run_local)

    p = sub.add_parser("stop-local", help="stop the model servers a local run left serving")
    p.add_argument("--pipeline-root", default="local_outputs", help="the run-local pipeline root")
    p.set_defaults(func=_cmd_stop_local)


def _add_submit_command(sub: argparse._SubParsersAction) -> None:
    """Add ``submit`` (one run on a Kubeflow Pipelines cluster)."""
    p = sub.add_parser(
        "submit",
        help="compile, upload and run a pipeline on a Kubeflow Pipelines cluster",
        description="Compile the pipeline, upload it (or a new version of it, reusing an "
        "identical one), get or create the experiment and start a run. Exit 1 when --wait "
        "sees the run end in a state other than SUCCEEDED or SKIPPED.",
    )
    _add_cluster_arguments(p)
    p.add_argument("--wait", action="store_true", help="wait for the run and print its state")
    p.add_argument(
        "--timeout", type=float, default=3600, help="seconds to wait with --wait (default: 3600)"
    )
    p.add_argument(
        "--poll-interval", type=float, default=5, help="seconds between state checks (default: 5)"
    )
    p.set_defaults(func=_cmd_submit)


def _add_schedule_command(sub: argparse._SubParsersAction) -> None:
    """Add ``schedule`` (recurring runs on a Kubeflow Pipelines cluster)."""
    p = sub.add_parser(
        "schedule",
        help="upload a pipeline and create a recurring run on a cron schedule",
        description="Like submit, but creates a recurring run. --cron takes 5 fields "
        "(minute hour day-of-month month day-of-week; KFP's seconds field is set to 0), "
        "6 fields with seconds first, or a descriptor such as @daily or '@every 6h'. "
        "--config models.yaml instead creates or updates one recurring run per model "
        "(idempotent).",
    )
    _add_cluster_arguments(p, optional=True)
    p.add_argument("--cron", help="e.g. '0 3 * * *' for 03:00 every day")
    p.add_argument("--config", help="models.yaml: one recurring run per model with a schedule")
    p.add_argument(
        "--monitoring-cron",
        help="with --config: also a recurring fleet monitoring run on this cron",
    )
    p.add_argument("--name", help="recurring run name (default: '<pipeline> [<cron>]')")
    p.add_argument(
        "--max-concurrency", type=int, default=1, help="runs allowed at once (default: 1)"
    )
    p.set_defaults(func=_cmd_schedule)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``--help`` on every command)."""
    parser = argparse.ArgumentParser(prog="kfp-mlops", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    # These first, in this order (the order of `kfp-mlops --help`); then the command modules.
    _add_build_commands(sub)
    _add_local_commands(sub)
    _add_submit_command(sub)
    _add_schedule_command(sub)

    from kfp_mlops.pipelines.tooling.commands import register_all

    register_all(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kfp-mlops`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.debug else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        return args.func(args)
    except (KeyError, TypeError, ValueError, RuntimeError, OSError) as exc:
        if args.debug:
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"kfp-mlops: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
