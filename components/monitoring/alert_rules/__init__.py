"""Prometheus alerting rules (a rules file and a PrometheusRule) from the runbook's thresholds."""
