"""Tooling around the pipelines: catalog, compiler, GitOps manifests, local runner, KFP client, CLI.

Nothing here is part of a compiled pipeline; the pipeline definitions live one level up.
"""
