"""Governance components: the compliance audit of a model and the evidence behind it."""
