"""JSON Schemas written for this library (package data)."""
