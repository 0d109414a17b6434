"""The rollback's Markdown report, shown in the KFP UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kfp_mlops.components.registry.rollback_model.redeploy import Result


def report_markdown(result: Result, name: str) -> str:
    """What was rolled back, where, how fast, and the restored version's checks."""
    reg = result.registry
    lines = [
        f"# Rollback of `{name}`: v{reg.demoted} -> v{reg.version}",
        "",
        "| | |",
        "|---|---|",
        f"| target | {result.target} |",
        f"| champion now | v{reg.version} (v{reg.demoted} is tagged `rolled_back_to`) |",
        f"| serving before | `{result.serving_before or '-'}` |",
        f"| serving now | `{result.serving_now or '-'}` |",
        f"| decision | {result.decision or 'alias only'}: {result.reason or '-'} |",
        f"| recovery time | {result.recovery_time_s:.1f} s (start to healthy) |",
    ]
    if result.commit:
        lines.append(f"| revert commit | `{result.commit}` |")
    if result.details.get("mlflow_run_id"):
        lines.append(f"| MLflow run | `{result.details['mlflow_run_id']}` |")
    smoke = result.outcome.smoke if result.outcome else None
    if smoke is not None:
        lines += ["", f"## Smoke test ({smoke.url})", "", "| check | result | detail |"]
        lines.append("|---|---|---|")
        lines += [
            f"| {c.name} | {'pass' if c.ok else '**FAIL**'} | {c.detail} |" for c in smoke.checks
        ]
    return "\n".join(lines) + "\n"
