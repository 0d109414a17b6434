"""Shared helpers for component cores: versions, I/O, errors and HTML reports."""
