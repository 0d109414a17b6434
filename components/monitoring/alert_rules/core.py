"""Prometheus alerting rules from the runbook's thresholds: a rules file and a PrometheusRule.

:func:`build` checks every threshold and option first (an impossible value fails before
anything is written), then renders two groups: ``serving`` (latency percentiles, error
rate, readiness, from the model server's ``/metrics``) and ``monitoring`` (accuracy against
the baseline, precision, recall, drift tiers, the model's age, from the monitoring job's
Pushgateway series). :func:`prometheus_rule` wraps them in a ``monitoring.coreos.com/v1``
``PrometheusRule`` for the Prometheus Operator; :func:`rules_file` is the plain file a
Prometheus ``rule_files:`` entry (or ``promtool check rules``) reads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from kfp_mlops.components.monitoring.alert_rules.rules import monitoring_alerts, serving_alerts
from kfp_mlops.components.monitoring.alert_rules.thresholds import (
    AlertRuleError,
    RuleOptions,
    Thresholds,
    check_duration,
    check_namespace,
)

API_VERSION = "monitoring.coreos.com/v1"
KIND = "PrometheusRule"
#: Labels of every PrometheusRule written here (add the one your Operator's ruleSelector uses).
BASE_LABELS = {"app.kubernetes.io/part-of": "kfp-mlops", "app.kubernetes.io/component": "alerts"}


@dataclass(frozen=True)
class AlertRules:
    """The rendered rule groups and where they belong."""

    groups: list[dict[str, Any]]
    options: RuleOptions
    namespace: str
    labels: dict[str, str]

    @property
    def alert_names(self) -> list[str]:
        """Every alert's name, in file order."""
        return [rule["alert"] for group in self.groups for rule in group["rules"]]

    @property
    def object_name(self) -> str:
        """The PrometheusRule's name: ``kfp-mlops-<model>-alerts`` (DNS-1123)."""
        model = re.sub(r"[^a-z0-9-]+", "-", self.options.model.lower()).strip("-")
        return f"kfp-mlops-{model}-alerts"[:253]

    def rules_file(self) -> dict[str, Any]:
        """The plain rules file: ``{"groups": [...]}``."""
        return {"groups": self.groups}

    def prometheus_rule(self) -> dict[str, Any]:
        """The ``PrometheusRule`` object holding the same groups."""
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": self.object_name,
                "namespace": self.namespace,
                "labels": {**BASE_LABELS, "kfp-mlops.io/model": self.options.model, **self.labels},
            },
            "spec": {"groups": self.groups},
        }

    def write(self, rules_path: str | Path, prometheus_rule_path: str | Path) -> None:
        """Write both documents as YAML."""
        _write_yaml(rules_path, self.rules_file())
        _write_yaml(prometheus_rule_path, self.prometheus_rule())


def build(
    model: str,
    thresholds: Thresholds | None = None,
    options: RuleOptions | None = None,
    namespace: str = "monitoring",
    labels: dict[str, str] | None = None,
    evaluation_interval: str = "",
) -> AlertRules:
    """Check the inputs, then render the serving and monitoring rule groups of ``model``.

    Args:
        model: The ``model`` label of the series (the serving and pushed name).
        thresholds: The runbook's thresholds (defaults when ``None``).
        options: Version, ``for`` duration, rate window, drift metric, baseline accuracy,
            runbook link; ``options.model`` is replaced by ``model``.
        namespace: Namespace of the PrometheusRule.
        labels: Extra labels of the PrometheusRule (the Operator's ``ruleSelector``).
        evaluation_interval: The groups' ``interval``; empty: Prometheus's global one.

    Raises:
        AlertRuleError: On an impossible threshold, an unknown drift metric, a bad model
            name, duration or namespace; nothing is rendered.
    """
    thresholds = thresholds or Thresholds()
    thresholds.validate()
    options = replace(options, model=model) if options else RuleOptions(model=model)
    options.validate()
    check_namespace(namespace)
    labels = _check_labels(labels or {})
    if evaluation_interval:
        check_duration("evaluation_interval", evaluation_interval)
    groups = []
    for part, alerts in (
        ("serving", serving_alerts(thresholds, options)),
        ("monitoring", monitoring_alerts(thresholds, options)),
    ):
        group: dict[str, Any] = {"name": f"kfp-mlops-{model}-{part}"}
        if evaluation_interval:
            group["interval"] = evaluation_interval
        group["rules"] = [alert.rule(options) for alert in alerts]
        groups.append(group)
    return AlertRules(groups, options, namespace, labels)


_LABEL_KEY = re.compile(r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")


def labels_from_json(text: str) -> dict[str, str]:
    """The PrometheusRule's extra labels from a JSON object (empty text: none).

    Raises:
        AlertRuleError: On malformed JSON or something other than an object of strings.
    """
    if not text.strip():
        return {}
    example = 'e.g. {"release": "kube-prometheus-stack"}'
    try:
        labels = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AlertRuleError(f"rule_labels_json is not valid JSON ({exc.msg})", example) from exc
    if not isinstance(labels, dict):
        raise AlertRuleError(
            f"rule_labels_json must be a JSON object, got {type(labels).__name__}", example
        )
    return _check_labels(labels)


def _check_labels(labels: dict[str, Any]) -> dict[str, str]:
    for key, value in labels.items():
        if not isinstance(key, str) or not _LABEL_KEY.match(key):
            raise AlertRuleError(
                f"PrometheusRule label key {key!r} is not a Kubernetes label key",
                "use e.g. release or app.kubernetes.io/part-of",
            )
        if not isinstance(value, str) or not _LABEL_VALUE.match(value):
            raise AlertRuleError(
                f"PrometheusRule label {key}={value!r} is not a Kubernetes label value",
                "use a string of up to 63 letters, digits, '.', '_' or '-'",
            )
    return dict(labels)


def _write_yaml(path: str | Path, document: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(document, sort_keys=False, width=100, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
