"""Moved: the model-directory contract lives in :mod:`kfp_mlops.components.common.model_dir`.

Kept only while code that imports this path is moved over.
"""

from kfp_mlops.components.common.model_dir import *  # noqa: F403
from kfp_mlops.components.common.model_dir import (  # noqa: F401
    _FILES,
    ModelBundleError,
    check_model_file,
    check_preprocessor,
    check_saved_model_signature,
    preflight,
    resolve_backend,
    version_of,
)
