"""Where the deployment tests find KServe's published CRD (reference data outside the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kfp_mlops.components.common import crd

#: ``$KFP_MLOPS_CRD_DIR``, else ``../shared/schemas/crds`` beside the repository, else None.
CRD_DIR = crd.locate_crd_dir(Path(__file__).resolve().parents[2].parent / "shared/schemas/crds")
needs_crds = pytest.mark.skipif(
    CRD_DIR is None,
    reason=f"KServe's published CRD is absent (../shared/schemas/crds; or set {crd.CRD_DIR_ENV})",
)
