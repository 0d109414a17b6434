"""Monitoring components: model quality, latency and drift checks that can trigger retraining."""
