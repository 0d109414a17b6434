"""``kfp-mlops delivery-metrics``: the DORA metrics of a model from MLflow, as the component."""

from __future__ import annotations

import argparse
import json


def _run(args: argparse.Namespace) -> int:
    from kfp_mlops.components.registry.delivery_metrics.report import markdown
    from kfp_mlops.components.registry.delivery_metrics.runner import measure

    metrics = measure(
        args.tracking_uri,
        args.model,
        experiment_name=args.experiment,
        window_days=args.days,
        until=args.until or None,
        report_path=args.output or "",
        pushgateway_url=args.pushgateway or "",
    )
    if args.json:
        print(json.dumps(metrics.figures(), indent=1, sort_keys=True))
    elif not args.output:
        print(markdown(metrics), end="")
    else:
        print(f"wrote {args.output}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``delivery-metrics`` to the ``kfp-mlops`` subcommands."""
    p = sub.add_parser(
        "delivery-metrics",
        help="DORA metrics (deployment frequency, lead time, change failure rate, MTTR) "
        "of a model from its recorded outcomes and registry history",
    )
    p.add_argument("--tracking-uri", required=True, help="MLflow server URL")
    p.add_argument(
        "--model", default="kfp-mlops-classifier", help="registered model ('' = all models)"
    )
    p.add_argument(
        "--experiment",
        default="kfp-mlops",
        help="experiment of the outcome runs (default: kfp-mlops; '' = all)",
    )
    p.add_argument("--days", type=float, default=30.0, help="window length (default: 30)")
    p.add_argument("--until", default="", help="window end, ISO 8601 (default: now)")
    p.add_argument("--output", help="write the Markdown report here instead of printing it")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--pushgateway", help="also push dora_* gauges to this Pushgateway URL")
    p.set_defaults(func=_run)
