"""Pipelines of kfp-mlops: each composes components into a KFP v2 pipeline."""
