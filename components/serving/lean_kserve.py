"""Import only the KServe modules the model server uses: a faster start, 46 MB less memory.

``import kserve`` runs the package's ``__init__``, which imports ``KServeClient`` (the whole
Kubernetes client), the generated InferenceService models and the inference clients: code
the model server never calls (LiteRT itself loads in milliseconds). :func:`install`
registers the ``kserve`` package without running that ``__init__``, so ``kserve.model``,
``kserve.model_server`` and ``kserve.protocol...`` import on their own. Measured on a TFLite
server in the serving image's env: 129 MB resident instead of 175 MB; start to first answer
0.7-1.1 s instead of 1.0-1.1 s with byte-compiled packages, 2.4-3.2 s instead of 4.0-6.2 s
compiling them from source.

The server imports kserve's submodules by their full names, so it runs the same with or
without this: its own process (``python -m kfp_mlops.components.serving``) installs it first
thing; everything else (tests, deploy_model, notebooks) imports KServe normally.
``KFP_MLOPS_FULL_KSERVE=1`` turns it off.
"""

from __future__ import annotations

import importlib.util
import os
import sys


def install() -> bool:
    """Register ``kserve`` as a bare package; False when it is imported already (or off)."""
    if "kserve" in sys.modules or os.environ.get("KFP_MLOPS_FULL_KSERVE") == "1":
        return False
    spec = importlib.util.find_spec("kserve")
    if spec is None or spec.submodule_search_locations is None:
        return False  # not installed: the server's own import names the problem
    # module_from_spec sets __path__, __spec__ and __file__ without running __init__.py.
    sys.modules["kserve"] = importlib.util.module_from_spec(spec)
    return True
