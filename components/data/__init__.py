"""Data components: load, validate, detect drift, split and preprocess."""
