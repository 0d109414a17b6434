"""The server's process imports only the KServe modules it uses (no Kubernetes client).

Every test that starts ``python -m kfp_mlops.components.serving`` runs the server this way;
the in-process tests import KServe whole, so the server code runs both ways.
"""

from __future__ import annotations

from tests.subprocess_json import run_json

SERVER_IMPORTS = """
import json, os, sys
from kfp_mlops.components.serving import lean_kserve
installed = lean_kserve.install()
from kserve import model_server
from kserve.model import Model
from kfp_mlops.components.serving.model import ClassifierModel
from kfp_mlops.components.serving.server import ClassifierServer
print(json.dumps({
    "installed": installed,
    "kubernetes": "kubernetes" in sys.modules,
    "client": "kserve.api.kserve_client" in sys.modules,
    "model_is_kserve_model": issubclass(ClassifierModel, Model),
    "app": type(model_server.app).__name__,
}))
"""

AFTER_A_FULL_IMPORT = """
import json
import kserve
from kfp_mlops.components.serving import lean_kserve
print(json.dumps(lean_kserve.install()))
"""


def test_the_server_process_skips_the_kubernetes_client():
    seen = run_json(SERVER_IMPORTS)
    assert seen == {
        "installed": True,
        "kubernetes": False,
        "client": False,
        "model_is_kserve_model": True,
        "app": "FastAPI",
    }


def test_it_stands_aside_when_kserve_is_imported_or_turned_off(monkeypatch):
    assert run_json(AFTER_A_FULL_IMPORT) is False
    monkeypatch.setenv("KFP_MLOPS_FULL_KSERVE", "1")
    full = run_json(SERVER_IMPORTS)
    assert full["installed"] is False and full["kubernetes"] is True
