"""``kfp-mlops alert-rules``: Prometheus alerting rules for a served model, from the runbook.

The same rules the ``alert_rules`` component writes, for a GitOps repo or ``kubectl apply``:
a ``PrometheusRule`` for the Prometheus Operator and the plain rules file, with the
runbook's thresholds unless ``--threshold name=value`` overrides them.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from kfp_mlops.components.monitoring.alert_rules.core import build
    from kfp_mlops.components.monitoring.alert_rules.thresholds import (
        AlertRuleError,
        RuleOptions,
        Thresholds,
    )

    given: dict[str, float] = {}
    for pair in args.threshold or []:
        name, sep, value = pair.partition("=")
        if not sep or name not in Thresholds.names():
            raise AlertRuleError(
                f"--threshold {pair!r} is not name=value with a known name",
                f"known: {', '.join(Thresholds.names())}",
            )
        try:
            given[name] = float(value)
        except ValueError as exc:
            raise AlertRuleError(f"--threshold {name}={value!r} is not a number") from exc
    rules = build(
        args.model,
        Thresholds(**given),
        RuleOptions(model=args.model, version=args.version, for_duration=args.for_duration),
        namespace=args.namespace,
    )
    out = Path(args.output)
    rules.write(out / f"{rules.object_name}.rules.yaml", out / f"{rules.object_name}.yaml")
    print(f"wrote {len(rules.alert_names)} alerts for {args.model} under {out}/:")
    print(f"  {rules.object_name}.yaml        PrometheusRule (kubectl apply -f)")
    print(f"  {rules.object_name}.rules.yaml  plain rules file (promtool check rules)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``alert-rules``."""
    p = sub.add_parser(
        "alert-rules",
        help="write Prometheus alerting rules (PrometheusRule + rules file) for a model",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--model", required=True, help="the served model's name (its model label)")
    p.add_argument("--version", default="", help="only this version (default: every version)")
    p.add_argument("--namespace", default="monitoring", help="the PrometheusRule's namespace")
    p.add_argument("--for-duration", default="5m", help="how long before firing (default 5m)")
    p.add_argument(
        "--threshold",
        "-t",
        action="append",
        metavar="NAME=VALUE",
        help="override a runbook threshold, e.g. -t latency_p99_ms=200",
    )
    p.add_argument("--output", default="alerts", help="output folder (default: alerts)")
    p.set_defaults(func=_run)
