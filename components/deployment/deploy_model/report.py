"""What a deployment step writes for the KFP UI: the manifests YAML and the Markdown report."""

from __future__ import annotations

from pathlib import Path

from kfp_mlops.components.deployment.deploy_model import manifests as m
from kfp_mlops.components.deployment.deploy_model.core import DeployResult


def report_markdown(result: DeployResult) -> str:
    """The deployment report shown in the KFP UI."""
    o = result.outcome
    icon = {"promoted": "✅", "written": "📝", "rolled_back": "❌"}.get(o.decision, "")
    lines = [
        f"# Deployment of `{o.name}`: {icon} {o.decision}",
        "",
        "| | |",
        "|---|---|",
        f"| target | {o.target} |",
        f"| environment | {result.environment} |",
        f"| strategy | {o.strategy} |",
        f"| new version | `{o.version}` |",
        f"| previous version | `{o.previous or '-'}` |",
        f"| live now | `{o.live or '-'}` |",
        f"| reason | {o.reason} |",
    ]
    if result.storage_uri:
        lines.append(f"| model URI | `{result.storage_uri}` |")
    if result.url:
        lines.append(f"| service URL | {result.url} |")
    if result.alias:
        lines.append(f"| MLflow alias | `{result.alias}` |")
    if o.smoke is not None:
        lines += ["", f"## Smoke test ({o.smoke.url})", "", "| check | result | detail |"]
        lines.append("|---|---|---|")
        for c in o.smoke.checks:
            lines.append(f"| {c.name} | {'pass' if c.ok else '**FAIL**'} | {c.detail} |")
    if o.steps:
        lines += ["", "## Traffic steps", "", "| traffic | requests | errors | p95 ms | decision |"]
        lines.append("|---|---|---|---|---|")
        for s in o.steps:
            verdict = "continue" if s.proceed else "**roll back**"
            lines.append(
                f"| {s.percent}% | {s.requests} | {s.errors} | {s.p95_ms:.1f} | "
                f"{verdict}: {s.reason} |"
            )
    return "\n".join(lines) + "\n"


def write_outputs(result: DeployResult, manifests_path: str, report_path: str) -> None:
    """Write the manifests YAML and the Markdown report."""
    Path(manifests_path).parent.mkdir(parents=True, exist_ok=True)
    text = (
        m.to_yaml(*result.manifests)
        if result.manifests
        else "# no Kubernetes manifests: set storage_uri to render them\n"
    )
    Path(manifests_path).write_text(text, encoding="utf-8")
    Path(report_path).parent.mkdir(parents=True, exist_ok=True)
    Path(report_path).write_text(report_markdown(result), encoding="utf-8")
