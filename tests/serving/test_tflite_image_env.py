"""The TFLite-only serving image's requirements, installed for real: no TensorFlow, still serves.

``containers/serving/requirements-tflite.in`` (``--build-arg REQUIREMENTS=...``) is installed
into a fresh venv with the pipeline constraints, as the Dockerfile does; the server then
answers from model.tflite, and a Keras model says what is missing and what to do.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kfp_mlops.components.deployment.deploy_model.smoke import request

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "containers" / "serving" / "requirements-tflite.in"
CONSTRAINTS = ROOT / "containers" / "pipeline" / "constraints.txt"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tflite_python(tmp_path_factory) -> str:
    uv = Path(sys.executable).with_name("uv")
    if not uv.exists():
        pytest.skip("uv is installed into the pipeline env by make install")
    env = tmp_path_factory.mktemp("tflite-image") / "venv"

    def run(*args: object) -> None:
        subprocess.run([str(a) for a in args], check=True, timeout=600, capture_output=True)

    run(uv, "venv", "-q", "-p", sys.executable, env)
    python = env / "bin" / "python"
    # --compile-bytecode: the image's pip writes .pyc files too.
    run(uv, "pip", "install", "-q", "--compile-bytecode", "--python", python,
        "-r", REQUIREMENTS, "-c", CONSTRAINTS)  # fmt: skip
    run(uv, "pip", "install", "-q", "--python", python, "--no-deps", "-e", ROOT)
    return str(python)


def test_the_env_has_no_tensorflow(tflite_python):
    cmd = [tflite_python, "-c", "import tensorflow"]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "No module named 'tensorflow'" in out.stderr


def test_it_serves_a_tflite_model(models, serve, tflite_python):
    url = serve(models.tflite, models.preprocessor, "--backend", "tflite", python=tflite_python)
    answer = request(url, "POST", "/v1/models/clf:predict", {"instances": models.rows(3)})
    assert answer.status == 200, answer.body
    assert len(answer.body["predictions"]) == 3
    assert set(answer.body["predictions"]) <= set(models.classes)


def test_a_keras_model_names_the_missing_tensorflow_and_the_fix(models, tflite_python, tmp_path):
    code = (
        "import sys; from kfp_mlops.components.common import inference\n"
        "try:\n    inference.load_model('keras', sys.argv[1])\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)"
    )
    cmd = [tflite_python, "-c", code, str(models.good)]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("InfrastructureError TensorFlow is not installed"), out.stderr
    assert "model.tflite" in out.stdout  # the fix
