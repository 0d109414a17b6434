"""The KFP API stand-in catches what a real backend would choke on.

Uploaded packages are parsed with the kfp-pipeline-spec protobuf (unknown fields rejected),
and run parameters are checked against the pipeline's ``root.inputDefinitions``. Each test
sends one bug through the SDK's own ``kfp.Client`` (its request building, not a hand-made
body) and sees it refused with 400 and recorded.
"""

import copy

import kfp_server_api
import pytest
import yaml
from kfp import compiler, dsl

from kfp_mlops.pipelines.tooling import catalog
from kfp_mlops.pipelines.tooling.kfp_client import compile_pipeline
from kfp_mlops.pipelines.tooling.kfp_connection import connect
from tests.kfp_api_server import KfpApiServer, check_run_parameters, parse_pipeline_package

PIPELINE = "data_validation_pipeline"


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def count(rows: int, label: str) -> int:
    """A step of the pipeline with a required input."""
    return rows


@dsl.pipeline(name="needs-rows")
def needs_rows(rows: int, label: str = "x") -> None:
    """``rows`` has no default: a run must give it."""
    count(rows=rows, label=label)


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """Every catalog pipeline compiled once: name -> (path, YAML documents)."""
    out = tmp_path_factory.mktemp("packages")
    found = {}
    for name in catalog.PIPELINES:
        path, _ = compile_pipeline(name, out)
        found[name] = (path, [d for d in yaml.safe_load_all(path.read_text()) if d])
    return found


def _write(tmp_path, docs, name="pipeline.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def _upload(client, path, name=PIPELINE):
    pipeline = client.upload_pipeline(str(path), pipeline_name=name)
    versions = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions
    return pipeline.pipeline_id, versions[0].pipeline_version_id


def _refused(server, call, match):
    """``call()`` is answered 400 and the server recorded a violation containing ``match``."""
    with pytest.raises(kfp_server_api.ApiException) as exc:
        call()
    assert exc.value.status == 400
    assert any(match in v for v in server.violations), server.violations
    server.violations.clear()


def test_every_pipeline_parses_strictly_with_its_inputs(packages):
    for name, (_, docs) in packages.items():
        package = parse_pipeline_package(docs)
        inputs = set(package.spec.root.input_definitions.parameters)
        assert inputs == set(catalog.pipeline(name).component_spec.inputs), name
        # Credentials and resources live in the platform spec, parsed as kfp-kubernetes' proto.
        assert package.platform is not None and "kubernetes" in package.platform.platforms
        assert check_run_parameters(package.spec, {}) == []  # every input has a default


def test_corrupted_pipeline_specs_are_refused(packages, tmp_path):
    _, docs = packages[PIPELINE]
    unknown = copy.deepcopy(docs)
    unknown[0]["root"]["dagg"] = unknown[0]["root"].pop("dag")
    wrong_type = copy.deepcopy(docs)
    wrong_type[0]["root"]["inputDefinitions"]["parameters"]["seed"]["parameterType"] = "INT"
    dangling = copy.deepcopy(docs)
    task = next(iter(dangling[0]["root"]["dag"]["tasks"].values()))
    task["componentRef"]["name"] = "comp-no-such"
    k8s = copy.deepcopy(docs)
    executors = k8s[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    label, executor = next((k, e) for k, e in executors.items() if "secretAsEnv" in e)
    executor["secretAsEnvv"] = executor.pop("secretAsEnv")
    cases = [
        (unknown, 'has no field named "dagg"'),
        (wrong_type, "Invalid enum value INT"),
        (dangling, "refers to component 'comp-no-such', which is not defined"),
        (k8s, f'kubernetes executor {label}: Message type "kfp_kubernetes'),
        ([docs[0], docs[1], docs[1]], "expected 1 or 2 YAML documents"),
    ]
    with KfpApiServer() as server:
        client, _ = connect(server.url)
        for i, (bad, message) in enumerate(cases):
            path = str(_write(tmp_path, bad, f"bad-{i}.yaml"))
            _refused(server, lambda p=path, n=f"bad-{i}": client.upload_pipeline(p, n), message)
        assert server.pipelines == {} and server.versions == {}
        _upload(client, _write(tmp_path, docs))  # the untouched package is accepted
        assert server.violations == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"seed": 1, "sead": 2}, "run parameter 'sead' is not an input of pipeline"),
        ({"seed": "seven"}, "run parameter 'seed' is str 'seven', but pipeline"),
        ({"seed": 1.5}, "declares it NUMBER_INTEGER"),
        ({"drift_threshold": True}, "'drift_threshold' is bool True, but"),
        ({"source": 3}, "'source' is int 3, but pipeline 'data-validation-pipeline' declares"),
    ],
)
def test_run_parameters_are_checked_against_the_inputs(packages, params, message):
    path, _ = packages[PIPELINE]
    with KfpApiServer() as server:
        client, _ = connect(server.url)
        pipeline_id, version_id = _upload(client, path)
        experiment = client.create_experiment("e").experiment_id

        def run(parameters):
            return client.run_pipeline(
                experiment, "r", params=parameters, pipeline_id=pipeline_id, version_id=version_id
            )

        _refused(server, lambda: run(params), message)

        def schedule():
            return client.create_recurring_run(
                experiment, "rr", cron_expression="0 0 3 * * *", params=params,
                pipeline_id=pipeline_id, version_id=version_id,
            )  # fmt: skip

        _refused(server, schedule, message)
        assert server.runs == {} and server.recurring_runs == {}
        # Integers are fine for a double, and every input may be left to its default.
        run({"drift_threshold": 1, "seed": 7.0})
        run({})
        assert len(server.runs) == 2 and server.violations == []


def test_a_missing_required_parameter_is_refused_inline_and_by_version(tmp_path):
    path = tmp_path / "needs_rows.yaml"
    compiler.Compiler().compile(needs_rows, str(path))
    with KfpApiServer() as server:
        client, _ = connect(server.url)
        pipeline_id, version_id = _upload(client, path, "needs-rows")
        experiment = client.create_experiment("e").experiment_id
        message = "required run parameter 'rows' of pipeline 'needs-rows' is missing"
        by_version = {"pipeline_id": pipeline_id, "version_id": version_id}
        _refused(server, lambda: client.run_pipeline(experiment, "r", **by_version), message)
        # A package given as a file travels inline in the run body; it is checked the same.
        inline = {"pipeline_package_path": str(path), "params": {"label": "y"}}
        _refused(server, lambda: client.run_pipeline(experiment, "r", **inline), message)
        client.run_pipeline(experiment, "r", params={"rows": 3}, **by_version)
        client.run_pipeline(experiment, "r", params={"rows": 3}, pipeline_package_path=str(path))
        assert len(server.runs) == 2 and server.violations == []
