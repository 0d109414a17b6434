"""Checks of the container images that need no Docker engine.

The Dockerfiles are parsed and linted (hadolint), and their requirement sets are checked
against the constraints files, against each other and against ``versions.py``. The slow tests
install the serving and pipeline sets into fresh venvs (no Docker engine here) and re-resolve
the pipeline and trainer sets.
"""

from __future__ import annotations

import ast
import configparser
import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from kfp_mlops.components.common import versions

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS = ROOT / "containers"
NAMES = ("pipeline", "serving", "trainer")
# requirements file -> the constraints file that pins it (serving reuses the pipeline's set).
REQUIREMENT_SETS = {
    "pipeline": ("pipeline/requirements.in", "pipeline/constraints.txt"),
    "trainer": ("trainer/requirements.in", "trainer/constraints.txt"),
    "serving": ("serving/requirements.in", "pipeline/constraints.txt"),
    "serving-tflite": ("serving/requirements-tflite.in", "pipeline/constraints.txt"),
}
# The trainer Dockerfile swaps the local CPU build for the GPU build of the same version.
GPU_SED = "s/^tensorflow-cpu==/tensorflow==/"
BIN = Path(sys.executable).parent


# --- helpers ----------------------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, args = current.partition(" ")
        result.append((keyword.upper(), args.strip()))
        current = ""
    return result


def stages(path: Path) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, in order."""
    found: list[list[tuple[str, str]]] = []
    for keyword, args in instructions(path):
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, args))
    return found


def from_image(args: str) -> tuple[str, str | None]:
    """(image reference, stage alias) of a FROM instruction's arguments."""
    words = [w for w in args.split() if not w.startswith("--")]
    alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
    return words[0], alias


def dockerfile(name: str) -> Path:
    return CONTAINERS / name / "Dockerfile"


def env_values(path: Path) -> dict[str, str]:
    """Every ENV key=value of the final stage."""
    values: dict[str, str] = {}
    for keyword, args in stages(path)[-1]:
        if keyword == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", args):
                values[key] = value
    return values


def arg_default(path: Path, name: str) -> str:
    """The default of ``ARG name=...`` in a Dockerfile."""
    for keyword, args in instructions(path):
        if keyword == "ARG" and args.startswith(f"{name}="):
            return args.split("=", 1)[1].strip().strip('"')
    raise AssertionError(f"{path}: no ARG {name}=... default")


def requirements(path: Path) -> list[Requirement]:
    """The requirements of a requirements file (options and comments skipped)."""
    found = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            found.append(Requirement(line))
    return found


def pins(text: str) -> dict[str, str]:
    """name -> version of every ``name==version`` line."""
    found = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, sep, version = line.partition("==")
            assert sep, f"not an exact pin: {raw!r}"
            found[canonicalize_name(name.split("[")[0])] = version.split(";")[0].strip()
    return found


def constraint_pins(relative: str) -> dict[str, str]:
    return pins((CONTAINERS / relative).read_text())


def gpu_variant(text: str) -> str:
    """What the trainer Dockerfile's sed makes of a trainer requirements/constraints file."""
    return re.sub(r"(?m)^tensorflow-cpu==", "tensorflow==", text)


def tool(name: str) -> str:
    """A tool installed in the pipeline env (next to this interpreter) or on PATH."""
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not path:
        pytest.fail(f"{name} not found: run `make install-pipeline` (requirements-dev.in has it)")
    return str(path)


# --- (a) pinned bases, non-root user ----------------------------------------------------------


def test_every_image_has_a_dockerfile():
    found = {p.parent.name for p in CONTAINERS.glob("*/Dockerfile")}
    assert found == set(versions.IMAGES) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_base_images_are_pinned_by_exact_version(name):
    aliases: set[str] = set()
    for keyword, args in instructions(dockerfile(name)):
        if keyword != "FROM":
            continue
        image, alias = from_image(args)
        if image not in aliases:
            last = image.rsplit("/", 1)[-1]
            assert ":" in last or "@sha256:" in image, f"{name}: untagged base {image}"
            tag = last.split("@")[0].partition(":")[2]
            assert tag != "latest", f"{name}: {image} uses latest"
            assert "$" not in image, f"{name}: {image} is not a literal tag"
            # An exact release (x.y.z), not a moving line such as 3.11-slim.
            assert re.match(r"^\d+\.\d+\.\d+", tag), f"{name}: {image} is not an exact version"
        if alias:
            aliases.add(alias)


@pytest.mark.parametrize("name", NAMES)
def test_runtime_stage_runs_as_uid_1000(name):
    final = stages(dockerfile(name))[-1]
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, f"{name}: the final stage never sets USER, so it runs as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user == "1000"
    assert any(keyword == "RUN" and "--uid 1000" in args for keyword, args in final)


@pytest.mark.parametrize("name", NAMES)
def test_builder_stage_is_left_behind(name):
    path_stages = stages(dockerfile(name))
    assert len(path_stages) >= 2, f"{name}: single stage"
    final = path_stages[-1]
    copies = [args for keyword, args in final if keyword == "COPY"]
    assert copies and all(args.startswith("--from=builder ") for args in copies)


# --- (b) hadolint -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_hadolint_passes(name):
    result = subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "style", str(dockerfile(name))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_really_lints(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install requests\n")
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest
    assert "DL3013" in result.stdout  # unpinned pip install


@pytest.mark.parametrize("name", NAMES)
def test_every_hadolint_ignore_is_justified(name):
    lines = dockerfile(name).read_text().splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"#\s*hadolint ignore=(\S+)", line.strip())
        if not match:
            continue
        comment = []
        for previous in reversed(lines[:number]):
            if not previous.strip().startswith("#"):
                break
            comment.append(previous)
        for rule in match.group(1).split(","):
            assert any(rule in c for c in comment), f"{name}:{number + 1}: {rule} not explained"


# --- (c) consistency --------------------------------------------------------------------------


@pytest.mark.parametrize("name", REQUIREMENT_SETS)
def test_every_requirement_is_pinned_by_its_constraints(name):
    req_file, constraints_file = REQUIREMENT_SETS[name]
    pinned = constraint_pins(constraints_file)
    reqs = requirements(CONTAINERS / req_file)
    assert reqs
    for req in reqs:
        key = canonicalize_name(req.name)
        assert key in pinned, f"{req_file}: {req.name} missing from {constraints_file}"
        assert req.specifier.contains(pinned[key], prereleases=True), (
            f"{req_file}: {req} excludes the pinned {req.name}=={pinned[key]}"
        )


def test_trainer_pins():
    pinned = constraint_pins("trainer/constraints.txt")
    assert Version(pinned["protobuf"]) < Version("5")
    assert Version(pinned["numpy"]) < Version("2")
    assert pinned["horovod"] == "0.28.1"
    assert pinned["tensorflow-cpu"] == "2.15.1"
    assert "kfp" not in pinned and "scikit-learn" not in pinned  # never in the trainer env


def test_pipeline_pins():
    pinned = constraint_pins("pipeline/constraints.txt")
    assert pinned["kfp"].startswith("2.17.")
    assert pinned["tensorflow"].startswith("2.21.")
    assert pinned["tf-keras"].startswith("2.21.")
    assert pinned["ai-edge-litert"] == "2.3.0"
    # The Optuna storage's PostgreSQL driver (SQLAlchemy 2.1's default for postgresql://);
    # psycopg requires the binary build of its own version.
    assert pinned["psycopg"] == pinned["psycopg-binary"]


def test_gpu_swap_keeps_the_trainer_pins():
    text = dockerfile("trainer").read_text()
    assert text.count(GPU_SED) == 2  # requirements and constraints alike
    for relative in ("trainer/requirements.in", "trainer/constraints.txt"):
        swapped = gpu_variant((CONTAINERS / relative).read_text())
        assert "tensorflow-cpu" not in swapped
        assert re.findall(r"(?m)^tensorflow==(\S+)$", swapped) == ["2.15.1"]


def python_version_of_tag(image: str) -> str:
    return re.match(r"python:(\d+\.\d+\.\d+)-", image).group(1)


def test_dockerfile_versions_agree_with_the_pins():
    trainer = dockerfile("trainer")
    assert (
        arg_default(trainer, "HOROVOD_VERSION")
        == constraint_pins("trainer/constraints.txt")["horovod"]
    )
    python = arg_default(trainer, "PYTHON_VERSION")
    for name in ("pipeline", "serving"):
        for keyword, args in instructions(dockerfile(name)):
            if keyword == "FROM":
                assert python_version_of_tag(from_image(args)[0]) == python
    # The constraints were frozen with this Python line (their headers say so).
    minor = ".".join(python.split(".")[:2])
    for relative in ("pipeline/constraints.txt", "trainer/constraints.txt"):
        assert f"Python {minor}" in (CONTAINERS / relative).read_text().splitlines()[0]
    assert sys.version_info[:2] == tuple(int(p) for p in minor.split("."))


def test_trainer_cuda_stages_match():
    bases = [from_image(args)[0] for keyword, args in instructions(dockerfile("trainer"))]
    bases = [b for b in bases if b.startswith("nvidia/cuda:")]
    assert len(bases) == 2
    builder, runtime = (b.split(":")[1] for b in bases)
    assert builder.replace("-devel-", "-runtime-") == runtime
    assert builder.startswith("12.2.") and "cudnn8" in builder  # what TF 2.15 is built against


def test_environment_of_the_images():
    pipeline = env_values(dockerfile("pipeline"))
    trainer = env_values(dockerfile("trainer"))
    for env in (pipeline, trainer):
        assert env["PATH"].startswith("/opt/pipeline-env/bin:")
        assert env["TF_USE_LEGACY_KERAS"] == "1"
        assert env["PYTHONUNBUFFERED"] == "1"
    assert trainer["KFP_MLOPS_TRAINER_PYTHON"] == "/opt/trainer-env/bin/python"
    assert "/opt/trainer-env" not in trainer["PATH"]
    text = dockerfile("trainer").read_text()
    assert "-m venv /opt/trainer-env" in text and "-m venv /opt/pipeline-env" in text
    serving = dockerfile("serving")
    assert ("EXPOSE", "8080") in stages(serving)[-1]
    cmd = dict(stages(serving)[-1])["CMD"]
    assert "kfp_mlops.components.serving" in cmd
    assert '"--host", "0.0.0.0"' in cmd  # the server's default is loopback; a pod needs more


@pytest.mark.parametrize("name", NAMES)
def test_pip_installs_use_the_constraints(name):
    runs = [args for keyword, args in instructions(dockerfile(name)) if keyword == "RUN"]
    installs = [r for r in runs if "pip install" in r]
    assert installs
    for run in installs:
        for command in run.split("&&"):
            if "pip install" not in command:
                continue
            assert "--no-cache-dir" in command
            assert "--no-deps /src" in command or " -c " in command, command


@pytest.mark.parametrize("name", NAMES)
def test_copied_files_are_in_the_build_context(name):
    allowed = [
        line[1:]
        for line in (CONTAINERS / name / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for keyword, args in instructions(dockerfile(name)):
        if keyword != "COPY" or args.startswith("--from="):
            continue
        *sources, _ = args.split()
        for source in sources:
            if source == ".":
                continue
            assert source in allowed, f"{name}: COPY {source} but its .dockerignore drops it"
            assert (ROOT / source).exists()


def component_functions() -> list[tuple[str, str]]:
    """(module, function) of every ``@dsl.component`` under components/**/component.py."""
    found = []
    for path in sorted((ROOT / "components").rglob("component.py")):
        tree = ast.parse(path.read_text())
        module = "kfp_mlops." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                for deco in node.decorator_list:
                    target = deco.func if isinstance(deco, ast.Call) else deco
                    if ast.unparse(target) in {"dsl.component", "component"}:
                        found.append((module, node.name))
    return found


def test_components_use_a_project_image():
    functions = component_functions()
    assert functions, "no @dsl.component found under components/"
    images = set(versions.IMAGES.values())
    for module, name in functions:
        component = getattr(importlib.import_module(module), name)
        container = component.component_spec.implementation.container
        assert container.image in images, f"{module}.{name}: base_image {container.image}"
        script = " ".join(container.command)
        # install_kfp_package=False: the image's own kfp runs it, nothing is pip-installed.
        assert "pip install" not in script, f"{module}.{name}: installs packages at run time"
        assert "python3 -m kfp.dsl.executor_main" in script


def test_versions_is_the_one_source():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["metadata"]["version"] == "attr: kfp_mlops.components.common.versions.__version__"
    for name, image in versions.IMAGES.items():
        assert image == f"{versions.REGISTRY}/{name}:{versions.__version__}"
    assert "versions import IMAGES" in (ROOT / "Makefile").read_text()


# --- (d) installing and resolving the sets (slow) ---------------------------------------------


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_serving_set_installs_into_a_fresh_venv(tmp_path):
    env = tmp_path / "serving-env"
    run([sys.executable, "-m", "venv", "--without-pip", str(env)])
    python = str(env / "bin" / "python")
    run(
        [
            tool("uv"),
            "pip",
            "install",
            "--quiet",
            "--python",
            python,
            "-r",
            str(CONTAINERS / "serving/requirements.in"),
            "-c",
            str(CONTAINERS / "pipeline/constraints.txt"),
        ]
    )
    probe = (
        "import importlib.metadata as m, numpy, pandas, prometheus_client, sys;"
        "print(sys.prefix);"
        "[print(n, m.version(n)) for n in "
        "('numpy', 'pandas', 'prometheus-client', 'tensorflow', 'tf-keras', 'ai-edge-litert')]"
    )
    lines = run([python, "-c", probe]).stdout.splitlines()
    assert Path(lines[0]).resolve() == env.resolve()  # the fresh env, not the pipeline env
    pinned = constraint_pins("pipeline/constraints.txt")
    for line in lines[1:]:
        name, version = line.split()
        assert pinned[canonicalize_name(name)] == version


# Each pipeline requirement -> the module the components import from it (most import lazily,
# inside functions, so importing the components alone would not load these).
PIPELINE_IMPORTS = {
    "kfp": "kfp.dsl.executor_main",  # the entry point KFP runs in the container
    "kfp-kubernetes": "kfp.kubernetes",
    "tensorflow": "tensorflow",
    "tf-keras": "tf_keras",
    "tensorflow-model-optimization": "tensorflow_model_optimization",  # needs tf-keras
    "ai-edge-litert": "ai_edge_litert.interpreter",
    "tf2onnx": "tf2onnx",
    "onnxruntime": "onnxruntime",
    "mlflow": "mlflow",
    "great-expectations": "great_expectations",
    "optuna": "optuna",
    "psycopg": "psycopg",
    "shap": "shap",  # explain_model
    "scikit-learn": "sklearn",
    "pandas": "pandas",
    "pyarrow": "pyarrow.parquet",
    "scipy": "scipy.stats",
    "matplotlib": "matplotlib.pyplot",
    "google-cloud-storage": "google.cloud.storage",
    "kubernetes": "kubernetes.client",
    "kubernetes-validate": "kubernetes_validate",
    "kubeflow-trainer-api": "kubeflow_trainer_api.models",
    "prometheus-client": "prometheus_client",
    "jsonschema": "jsonschema",
    "cel-python": "celpy",  # CEL rules of the published CRDs
    "kserve": "kserve",
}
# Imports everything named on its command line; prints where the project is installed and
# which Keras tf.keras is.
IMPORT_PROBE = """
import importlib, sys
import kfp_mlops.components
for name in sys.argv[1:]:
    importlib.import_module(name)
import tensorflow as tf
print(kfp_mlops.components.__path__[0], tf.keras.__name__)
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_pipeline_set_installs_into_a_fresh_venv(tmp_path):
    """The pipeline Dockerfile's two installs, with uv (hard links from its cache) for pip."""
    env = tmp_path / "pipeline-env"
    run([sys.executable, "-m", "venv", "--without-pip", str(env)])
    python = str(env / "bin" / "python")
    uv = tool("uv")
    install = [uv, "pip", "install", "--quiet", "--python", python]
    requirements_in = CONTAINERS / "pipeline/requirements.in"
    constraints = CONTAINERS / "pipeline/constraints.txt"
    run([*install, "-r", str(requirements_in), "-c", str(constraints)])
    # The project, non-editable and without dependencies, built from a copy of the image's
    # build context (the build writes build/ and *.egg-info next to setup.py).
    src = tmp_path / "src"
    src.mkdir()
    dockerignore = (CONTAINERS / "pipeline/Dockerfile.dockerignore").read_text().splitlines()
    context = [line[1:] for line in dockerignore if line.startswith("!")]
    for name in context:
        if name.startswith("containers/"):  # the requirement files, installed above
            continue
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(ROOT / name, src / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, src / name)
    run([*install, "--no-deps", str(src)])
    run([uv, "pip", "check", "--python", python])

    # Every installed distribution is one the constraints pin, at its pinned version.
    pinned = pins(constraints.read_text())
    frozen = run([uv, "pip", "freeze", "--python", python]).stdout
    project = [line for line in frozen.splitlines() if line.startswith("kfp-mlops")]
    assert len(project) == 1  # installed, not editable (uv freezes that as "-e file://...")
    installed = pins("\n".join(line for line in frozen.splitlines() if line not in project))
    assert {k: v for k, v in installed.items() if pinned.get(k) != v} == {}

    assert {canonicalize_name(r.name) for r in requirements(requirements_in)} == set(
        PIPELINE_IMPORTS
    ), "a requirement was added or removed: keep PIPELINE_IMPORTS in step"
    modules = sorted(
        f"kfp_mlops.components.{path.parent.parent.name}.{path.parent.name}.{path.stem}"
        for pattern in ("*/*/core.py", "*/*/component.py")
        for path in (ROOT / "components").glob(pattern)
    )
    assert len(modules) > 20
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environ["TF_USE_LEGACY_KERAS"] = "1"  # as the image's ENV sets it
    command = [python, "-c", IMPORT_PROBE, *PIPELINE_IMPORTS.values(), *modules]
    package_dir, keras = run(command, cwd=tmp_path, env=environ).stdout.split()[-2:]
    assert Path(package_dir).resolve().is_relative_to(env.resolve())  # not the checkout
    assert keras.startswith("tf_keras")  # Keras 2, which tfmot needs


def compile_pins(req: Path, constraints: Path) -> dict[str, str]:
    result = run(
        [
            tool("uv"),
            "pip",
            "compile",
            "--quiet",
            "--no-header",
            "--no-annotate",
            "--python-version",
            "3.11",
            str(req),
            "-c",
            str(constraints),
        ]
    )
    return pins(result.stdout)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", ["pipeline", "trainer", "trainer-gpu"])
def test_requirement_set_resolves_to_the_constraints(name, tmp_path):
    base = name.removesuffix("-gpu")
    req = CONTAINERS / REQUIREMENT_SETS[base][0]
    constraints = CONTAINERS / REQUIREMENT_SETS[base][1]
    if name.endswith("-gpu"):  # the set the trainer image installs
        (tmp_path / "req.in").write_text(gpu_variant(req.read_text()))
        (tmp_path / "constraints.txt").write_text(gpu_variant(constraints.read_text()))
        req, constraints = tmp_path / "req.in", tmp_path / "constraints.txt"
    compiled = compile_pins(req, constraints)
    pinned = pins(constraints.read_text())
    for requirement in requirements(req):
        key = canonicalize_name(requirement.name)
        assert compiled[key] == pinned[key], f"{name}: {key}"
    # The frozen set is complete: nothing resolves to a package or version it lacks.
    assert {k: v for k, v in compiled.items() if pinned.get(k) != v} == {}


def test_trainer_image_provides_what_the_trainjob_expects():
    """The TrainJob's sshd command, port, key directory and paths exist in the trainer image."""
    from kfp_mlops.components.training.train_multinode import manifests as tj

    text = (ROOT / "containers" / "trainer" / "Dockerfile").read_text()
    assert "openssh-server" in text and "openssh-client" in text
    assert f"> {tj.SSHD_CONFIG}" in text
    assert f'"Port {tj.SSH_PORT}"' in text
    assert f'"AuthorizedKeysFile {tj.SSH_AUTH_DIR}/authorized_keys"' in text
    user = tj.USER_HOME.split("/")[-1]
    assert f"useradd --uid 1000 --user-group --create-home --shell /bin/bash {user}" in text
    assert (
        f"COPY --from=builder {tj.TRAINER_BIN.rsplit('/', 1)[0]} {tj.TRAINER_BIN.rsplit('/', 1)[0]}"
        in text
    )
